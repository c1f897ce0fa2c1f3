package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import org.junit.jupiter.api.Test;

/** The device decision of {@link Devices} for each kind of natives, without Spark or a GPU. */
class DevicesTest {

    static final Devices.Natives CPU_ONLY = new Devices.Natives("libtorch 2.7.1 at /opt/libtorch", false, 0);
    static final Devices.Natives TWO_GPUS = new Devices.Natives("libtorch 2.7.1 at /opt/libtorch-cu128", true, 2);

    @Test
    void outsideSparkTheTaskRunsOnTheCpu() {
        DeviceChoice choice = Devices.choiceForCurrentTask();
        assertEquals(Device.cpu(), choice.device());
        assertEquals(Device.cpu(), Devices.forCurrentTask());
        assertTrue(choice.describe().endsWith(": no gpu -> cpu"), choice.describe());
    }

    @Test
    void anAssignedGpuIsUsedWhenTheNativesHaveCuda() {
        DeviceChoice choice = Devices.choose("1", "node7", "1", TWO_GPUS, false);
        assertEquals(Device.gpu(1), choice.device());
        assertEquals("executor 1: gpu(1) -> gpu(1)", choice.describe());
    }

    @Test
    void cpuOnlyNativesAreAnErrorNamingExecutorAddressAndNatives() {
        var e = assertThrows(IllegalStateException.class, () -> Devices.choose("3", "node7", "0", CPU_ONLY, false));
        assertTrue(e.getMessage().startsWith("executor 3 on node7: Spark assigned gpu address 0 but libtorch 2.7.1 at "
                + "/opt/libtorch has no CUDA; "), e.getMessage());
        assertTrue(e.getMessage().contains("-Dspt.allowCpuFallback=true"), e.getMessage());
        assertTrue(e.getMessage().contains("spark.executorEnv.SPT_ALLOW_CPU_FALLBACK=true"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void anAddressBeyondTheVisibleGpusIsAnError() {
        var e = assertThrows(IllegalStateException.class, () -> Devices.choose("2", "node7", "2", TWO_GPUS, false));
        assertTrue(e.getMessage().contains("gpu 2 is out of range of the 2 GPUs visible to libtorch 2.7.1"),
                e.getMessage());
    }

    @Test
    void theOptInFallsBackToTheCpuAndSaysWhy() {
        DeviceChoice choice = Devices.choose("1", "node7", "1", CPU_ONLY, true);
        assertEquals(Device.cpu(), choice.device());
        assertEquals("executor 1: gpu(1) -> cpu (fallback: libtorch 2.7.1 at /opt/libtorch has no CUDA)",
                choice.describe());
    }

    @Test
    void aNonNumericAddressIsAnErrorEvenWithTheOptIn() {
        var e = assertThrows(IllegalStateException.class,
                () -> Devices.choose("1", "node7", "GPU-5f3a", TWO_GPUS, true));
        assertTrue(e.getMessage().startsWith("executor 1 on node7: Spark assigned gpu address 'GPU-5f3a', expected a "
                + "GPU index"), e.getMessage());
    }

    @Test
    void thePropertyDecidesBeforeTheEnvironment() {
        assertTrue(Devices.fallbackAllowed(null, "true"));
        assertTrue(Devices.fallbackAllowed("TRUE", null));
        assertFalse(Devices.fallbackAllowed("false", "true"));
        assertFalse(Devices.fallbackAllowed(null, null));
    }
}
