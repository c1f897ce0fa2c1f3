package org.sptspark.spark;

import ai.djl.Device;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;

/** Which device a Spark task computes on: the GPU Spark assigned to it, else the CPU. */
public final class Devices {

    private Devices() {}

    /**
     * The first address of the task's {@code gpu} resource ({@code spark.task.resource.gpu.amount=1}
     * with a discovery script), or the CPU when the task has none or runs outside Spark.
     */
    public static Device forCurrentTask() {
        TaskContext context = TaskContext.get();
        if (context == null) {
            return Device.cpu();
        }
        scala.Option<ResourceInformation> gpu = context.resources().get("gpu");
        if (gpu.isEmpty() || gpu.get().addresses().length == 0) {
            return Device.cpu();
        }
        return Device.gpu(Integer.parseInt(gpu.get().addresses()[0].trim()));
    }
}
