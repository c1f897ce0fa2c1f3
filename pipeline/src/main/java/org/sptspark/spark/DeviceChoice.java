package org.sptspark.spark;

import ai.djl.Device;

/**
 * The device a task computes on and why, so that logs and test assertions can show, per executor,
 * which GPU Spark assigned and what the natives made of it.
 *
 * @param executor Spark's executor id ({@code driver} in local mode)
 * @param gpuAddress the {@code gpu} address Spark assigned to the task, or null when it assigned none
 * @param device the device chosen
 * @param reason why the device differs from the assignment (the CPU fallback), or null when it does not
 */
public record DeviceChoice(String executor, String gpuAddress, Device device, String reason) {

    /** For example {@code executor 1: gpu(1) -> cpu (fallback: libtorch 2.7.1 at DIR has no CUDA)}. */
    public String describe() {
        String assigned = gpuAddress == null ? "no gpu" : "gpu(" + gpuAddress + ")";
        String chosen = device.isGpu() ? "gpu(" + device.getDeviceId() + ")" : "cpu";
        return "executor " + executor + ": " + assigned + " -> " + chosen + (reason == null ? "" : " (" + reason + ")");
    }
}
