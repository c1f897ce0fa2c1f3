package org.sptspark.spark;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.engine.StandardCapabilities;
import ai.djl.pytorch.jni.LibUtils;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which device a Spark task computes on: the GPU Spark assigned to it, else the CPU.
 *
 * <p>An assigned GPU that the loaded natives cannot use is an error, not a silent CPU run: a
 * cluster that schedules GPUs but ships CPU-only libtorch would otherwise spend its GPU hours on
 * the CPU without anyone noticing. The CPU is chosen instead only on an explicit opt-in
 * ({@value #FALLBACK_PROPERTY} or {@value #FALLBACK_ENV}), with one WARN per JVM.
 */
public final class Devices {

    /** JVM system property that lets a task with an unusable GPU run on the CPU. */
    public static final String FALLBACK_PROPERTY = "spt.allowCpuFallback";
    /** Environment variable with the same effect, for {@code spark.executorEnv.*}. */
    public static final String FALLBACK_ENV = "SPT_ALLOW_CPU_FALLBACK";

    private static final Logger LOG = LoggerFactory.getLogger(Devices.class);
    private static final AtomicBoolean WARNED = new AtomicBoolean();

    private Devices() {}

    /**
     * The device of {@link #choiceForCurrentTask()}: the task's GPU, or the CPU when the task has
     * none, runs outside Spark, or falls back on the opt-in.
     */
    public static Device forCurrentTask() {
        return choiceForCurrentTask().device();
    }

    /**
     * The device for the running task: the first address of its {@code gpu} resource
     * ({@code spark.task.resource.gpu.amount=1}) when the engine has CUDA and sees that GPU.
     *
     * @throws IllegalStateException when the address is not a GPU index, or the natives have no
     *     CUDA or fewer GPUs than the address and the CPU fallback is not opted in
     */
    public static DeviceChoice choiceForCurrentTask() {
        TaskContext context = TaskContext.get();
        SparkEnv env = SparkEnv.get();
        String executor = env == null ? "outside Spark" : env.executorId();
        String address = null;
        if (context != null) {
            scala.Option<ResourceInformation> gpu = context.resources().get("gpu");
            if (gpu.isDefined() && gpu.get().addresses().length > 0) {
                address = gpu.get().addresses()[0].trim();
            }
        }
        if (address == null) {
            return new DeviceChoice(executor, null, Device.cpu(), null);
        }
        return choose(executor, host(), address, Natives.loaded(),
                fallbackAllowed(System.getProperty(FALLBACK_PROPERTY), System.getenv(FALLBACK_ENV)));
    }

    /** What the loaded engine offers: a description for messages, CUDA or not, visible GPUs. */
    record Natives(String description, boolean cuda, int gpuCount) {

        static Natives loaded() {
            Engine engine = Engine.getInstance();
            String description = engine.getEngineName() + " " + engine.getVersion();
            if ("PyTorch".equals(engine.getEngineName())) {
                description = "libtorch " + engine.getVersion() + " at " + LibUtils.getLibtorchPath();
            }
            return new Natives(description, engine.hasCapability(StandardCapabilities.CUDA), engine.getGpuCount());
        }
    }

    /** The decision itself, apart from Spark and the engine so that every branch can be tested. */
    static DeviceChoice choose(String executor, String host, String address, Natives natives, boolean allowFallback) {
        String where = "executor " + executor + " on " + host;
        if (!address.matches("[0-9]{1,9}")) {
            throw new IllegalStateException(where + ": Spark assigned gpu address '" + address
                    + "', expected a GPU index such as 0; check the Worker's gpu discovery script output");
        }
        int index = Integer.parseInt(address);
        String problem;
        if (!natives.cuda()) {
            problem = natives.description() + " has no CUDA";
        } else if (index >= natives.gpuCount()) {
            problem = "gpu " + index + " is out of range of the " + natives.gpuCount() + " GPUs visible to "
                    + natives.description();
        } else {
            return new DeviceChoice(executor, address, Device.gpu(index), null);
        }
        if (!allowFallback) {
            throw new IllegalStateException(where + ": Spark assigned gpu address " + address + " but " + problem
                    + "; give the executors CUDA natives (README, \"GPUs\") or opt in to the CPU with -D"
                    + FALLBACK_PROPERTY + "=true in spark.executor.extraJavaOptions or spark.executorEnv."
                    + FALLBACK_ENV + "=true");
        }
        if (WARNED.compareAndSet(false, true)) {
            LOG.warn("{}: Spark assigned gpu address {} but {}; computing on the CPU because the CPU fallback is "
                    + "opted in (-D{} / {})", where, address, problem, FALLBACK_PROPERTY, FALLBACK_ENV);
        }
        return new DeviceChoice(executor, address, Device.cpu(), "fallback: " + problem);
    }

    /** The opt-in: the system property when set, else the environment variable; "true" in any case. */
    static boolean fallbackAllowed(String property, String env) {
        return Boolean.parseBoolean(property != null ? property : env);
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "an unresolvable host (" + e.getMessage() + ")";
        }
    }
}
