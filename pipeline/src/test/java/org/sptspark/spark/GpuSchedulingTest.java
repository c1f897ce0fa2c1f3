package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Spark's GPU scheduling on a standalone cluster: one Worker offers two fake GPUs found by the
 * project's {@code conf/cluster/gpu-discovery.sh} (run by Spark, with a fake {@code nvidia-smi}),
 * executors and tasks ask for one each. Every task must get its own address and our device choice
 * must name it; with the CPU-only natives of this build, the task fails with a message naming the
 * executor, the address and the natives, unless the CPU fallback is opted in.
 */
class GpuSchedulingTest {

    @TempDir
    static Path dir;

    static StandaloneCluster cluster;

    /** What one task saw: Spark's gpu addresses, our choice, and a small computation on the chosen device. */
    record Seen(int partition, List<String> addresses, String choice, float sum) implements Serializable {}

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = StandaloneCluster.startMaster(dir);
        Path bin = GpuDiscoveryScriptTest.fakeNvidiaSmi(dir, "0\n1\n");
        Path discovery = dir.resolve("discover-gpus.sh");
        Files.writeString(discovery, "#!/bin/sh\nPATH='" + bin + "':\"$PATH\" exec bash '"
                + GpuDiscoveryScriptTest.SCRIPT + "'\n");
        Files.setPosixFilePermissions(discovery, PosixFilePermissions.fromString("rwxr-xr-x"));
        cluster.startWorker("worker", 2, List.of("-Dspark.worker.resource.gpu.amount=2",
                "-Dspark.worker.resource.gpu.discoveryScript=" + discovery));
        cluster.awaitWorkers(1, 90);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** Two executors of one core and one GPU each, one GPU per task, both registered before the first job. */
    private static SparkSession.Builder gpuSession(String appName) {
        return cluster.session(appName)
                .config("spark.executor.cores", "1")
                .config("spark.cores.max", "2")
                .config("spark.executor.memory", "768m")
                .config("spark.executor.resource.gpu.amount", "1")
                .config("spark.task.resource.gpu.amount", "1")
                .config("spark.scheduler.minRegisteredResourcesRatio", "1.0")
                .config("spark.scheduler.maxRegisteredResourcesWaitingTime", "60s");
    }

    private static Iterator<Seen> probe(Iterator<Integer> ignored) {
        TaskContext context = TaskContext.get();
        ResourceInformation gpu = context.resources().get("gpu").getOrElse(() -> null);
        List<String> addresses = gpu == null ? List.of() : List.of(gpu.addresses());
        DeviceChoice choice = Devices.choiceForCurrentTask();
        try (NDManager manager = NDManager.newBaseManager(choice.device())) {
            float sum = manager.arange(4f).sum().getFloat();
            return List.of(new Seen(context.partitionId(), addresses, choice.describe(), sum)).iterator();
        }
    }

    private static List<Seen> probeTasks(SparkSession spark, int tasks) throws Exception {
        var data = IntStream.range(0, tasks).boxed().toList();
        return JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(data, tasks)
                .mapPartitions(GpuSchedulingTest::probe).collectAsync().get(120, TimeUnit.SECONDS);
    }

    @Test
    void everyTaskSeesItsGpuAndFallsBackToTheCpuWhenOptedIn() throws Exception {
        SparkSession spark = gpuSession("GpuSchedulingTest-fallback")
                .config("spark.executor.extraJavaOptions", "-Dai.djl.offline=true -Dspt.allowCpuFallback=true")
                .getOrCreate();
        List<Seen> seen;
        String appId = spark.sparkContext().applicationId();
        try {
            seen = probeTasks(spark, 6);
        } finally {
            spark.stop();
        }
        assertEquals(6, seen.size());
        Set<String> addresses = new TreeSet<>();
        for (Seen s : seen) {
            assertEquals(1, s.addresses().size(), "task " + s.partition() + " got gpu addresses " + s.addresses());
            String address = s.addresses().get(0);
            addresses.add(address);
            assertTrue(Pattern.matches("executor [0-9]+: gpu\\(" + address + "\\) -> cpu \\(fallback: libtorch \\S+ at "
                    + "\\S+ has no CUDA\\)", s.choice()), "task " + s.partition() + ": " + s.choice());
            assertEquals(6f, s.sum(), "task " + s.partition() + " computed arange(4).sum() on " + s.choice());
        }
        assertEquals(Set.of("0", "1"), addresses);
        // the fallback warns once per executor JVM, not once per task (whole log lines only: the
        // executor's stderr may end in a fragment of an earlier line rewritten when it is stopped)
        Pattern warning = Pattern.compile("^.*\\bWARN\\b.*Devices.*the CPU fallback is opted in.*$", Pattern.MULTILINE);
        try (var executors = Files.list(dir.resolve("work-worker").resolve(appId))) {
            for (Path executor : executors.toList()) {
                String stderr = Files.readString(executor.resolve("stderr"));
                assertEquals(1, warning.matcher(stderr).results().count(), executor + "/stderr:\n" + stderr);
            }
        }
    }

    @Test
    void withoutTheOptInCpuOnlyNativesFailTheJobNamingExecutorAddressAndNatives() throws Exception {
        SparkSession spark = gpuSession("GpuSchedulingTest-no-fallback")
                .config("spark.task.maxFailures", "1")
                .getOrCreate();
        Throwable failure = null;
        try {
            probeTasks(spark, 2);
        } catch (ExecutionException e) {
            failure = e.getCause();
        } finally {
            spark.stop();
        }
        assertNotNull(failure, "the job ran on CPU-only natives without the opt-in");
        String message = failure.getMessage();
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof IllegalStateException) {
                message = t.getMessage();
                assertFalse(message.contains("\n"), "not one line: " + message);
            }
        }
        assertTrue(Pattern.compile("executor [0-9]+ on \\S+: Spark assigned gpu address [01] but libtorch \\S+ at \\S+ "
                + "has no CUDA; ").matcher(message).find(), message);
        assertTrue(message.contains("-Dspt.allowCpuFallback=true"), message);
    }
}
