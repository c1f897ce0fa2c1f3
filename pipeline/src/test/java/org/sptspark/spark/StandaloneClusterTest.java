package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.artifact.Artifacts;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.TaskSpec;
import org.sptspark.data.VtabWriter;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.tuning.Method;

/**
 * Jobs on a real Spark standalone cluster ({@link StandaloneCluster}: a Master and two Workers as
 * separate JVMs on 127.0.0.1): a sweep with one executor killed in stage 3 must commit the same
 * artifacts as a sweep left alone; the sensitivity job with one Worker killed with its executor
 * must give the single-process scores. The sweep runs first, while both Workers live.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class StandaloneClusterTest {

    @TempDir
    static Path dir;

    static StandaloneCluster cluster;
    static Process killable;

    static final TaskSpec TASK = new TaskSpec("gen_dsprites_loc", 16, "structured", TaskSpec.Layout.VTAB, null, null);
    static final VitConfig TINY = new VitConfig("cluster_tiny", 32, 8, 3, 32, 2, 2, 64, 16, 1e-6, 0.1);

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = StandaloneCluster.startMaster(dir);
        for (int w = 0; w < 2; w++) {
            killable = cluster.startWorker("worker" + w, 1, List.of());
        }
        cluster.awaitWorkers(2, 90);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    @Order(1)
    void aSweepWithAnExecutorKilledInStage3CommitsTheArtifactsOfAnUndisturbedOne() throws Exception {
        String data = dir.resolve("sweep-data").toString();
        SweepCrashTest.writeTinyTask(HadoopFiles.configuration(), data);
        String backbone = SweepTest.backbone(Files.createDirectories(dir.resolve("sweep-backbone"))).toString();
        List<Method> methods = List.of(Method.LORA, Method.LINEAR); // baselines: stage 3 only
        Path clean = dir.resolve("clean-lake");
        SparkSession localSpark = LocalSpark.start("undisturbed-sweep");
        try {
            Sweep.run(localSpark, config(data, backbone, clean), line -> { });
        } finally {
            localSpark.stop();
        }

        Path lake = dir.resolve("cluster-lake");
        SparkSession spark = cluster.session("SweepExecutorKilled")
                .config("spark.executor.cores", "1")
                .config("spark.cores.max", "2")
                .config("spark.executor.memory", "1500m")
                .config("spark.task.maxFailures", "4")
                .getOrCreate();
        String killed;
        try {
            String app = spark.sparkContext().applicationId();
            var lost = new java.util.concurrent.atomic.AtomicInteger();
            spark.sparkContext().addSparkListener(new SparkListener() {
                @Override
                public void onTaskEnd(SparkListenerTaskEnd end) {
                    if (end.reason() instanceof org.apache.spark.ExecutorLostFailure) {
                        lost.incrementAndGet();
                    }
                }
            });
            var killer = java.util.concurrent.Executors.newSingleThreadExecutor();
            var kill = killer.submit(() -> killWhileTraining(app, "lora"));
            var result = Sweep.run(spark, config(data, backbone, lake), line -> { });
            killed = kill.get(10, java.util.concurrent.TimeUnit.SECONDS);
            killer.shutdownNow();
            assertEquals(2, result.entries().size());
            assertTrue(lost.get() >= 1, "no task was lost with executor " + killed);
        } finally {
            spark.stop();
        }
        String log = Files.readString(Path.of(killed));
        assertTrue(log.contains("lora: 64 training images decoded") && !log.contains("committed "),
                "the executor was killed while it trained:\n" + log);
        assertEquals(artifactFiles(clean), artifactFiles(lake), "the same artifacts, byte for byte");
    }

    /** The tiny task, LoRA and the linear probe, 5 epochs (LoRA's take a second or two: the time to kill it). */
    private static Sweep.Config config(String data, String backbone, Path lake) {
        var c = SweepCrashTest.config(data, backbone, lake.toString(), "cluster", List.of(Method.LORA, Method.LINEAR));
        return new Sweep.Config(c.suite(), c.tasks(), c.dataRoot(), c.backbone(), c.preset(), c.lake(), c.methods(),
                c.budgets(), c.rank(), c.snella(), c.recipe().toBuilder().epochs(5).build(), c.normalization(),
                c.sensitivityBatchSize(), c.sensitivityBatches(), c.run(), c.versions(), c.force());
    }

    /**
     * Waits until an executor of {@code app} logs that it has started training {@code method} and
     * kills that executor's JVM (SIGKILL); returns the executor's log file.
     */
    private static String killWhileTraining(String app, String method) throws Exception {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            try (var logs = Files.find(dir, 4, (p, a) -> p.getFileName().toString().equals("stderr")
                    && p.getParent().getParent().getFileName().toString().equals(app))) {
                for (Path log : logs.toList()) {
                    if (Files.readString(log).contains(method + ": 64 training images decoded")) {
                        String executor = log.getParent().getFileName().toString();
                        ProcessHandle.allProcesses().filter(p -> p.info().commandLine()
                                .map(c -> c.contains("CoarseGrainedExecutorBackend") && c.contains(" " + app)
                                        && c.contains("--executor-id " + executor + " "))
                                .orElse(false)).forEach(ProcessHandle::destroyForcibly);
                        return log.toString();
                    }
                }
            }
            Thread.sleep(10);
        }
        throw new AssertionError("no executor of " + app + " started training " + method);
    }

    /** Each artifact folder's files (not hidden) with their SHA-256, by path within the lake; manifests aside, which time their commit. */
    static Map<String, String> artifactFiles(Path lake) throws Exception {
        var out = new java.util.TreeMap<String, String>();
        try (var walk = Files.walk(lake.resolve("artifacts"))) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                String name = p.getFileName().toString();
                if (name.startsWith(".")) {
                    continue;
                }
                String value = name.equals(Artifacts.MANIFEST)
                        ? Artifacts.manifest(HadoopFiles.configuration(), p.getParent().toString()).files().toString()
                        : org.sptspark.lake.Digests.sha256Hex(Files.readAllBytes(p));
                out.put(lake.relativize(p).toString(), value);
            }
        }
        return out;
    }

    @Test
    @Order(2)
    void scoresSurviveAWorkerKilledMidJobAndEqualTheLocalResult() throws Exception {
        try (var writer = new VtabWriter(HadoopFiles.configuration(), dir.resolve("data").toString(), TASK.name())) {
            new StructuredTaskGenerator(StructuredTaskGenerator.Kind.DSPRITES_LOC, 32, 9).write(writer, 10);
            writer.commit();
        }
        Path checkpoint = dir.resolve("tiny.safetensors");
        try (NDManager manager = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(manager, TINY, 5), checkpoint);
        }
        String sha = Checkpoints.sha256(checkpoint);
        var request = new DistributedSensitivity.Request(TASK, dir.resolve("data").toString(), checkpoint.toString(), sha,
                TINY, Normalization.IMAGENET, 8, 12, 3, 6, 4_000);

        Map<Integer, double[]> local;
        SparkSession localSpark = LocalSpark.start("cluster-reference");
        try {
            local = DistributedSensitivity.sums(localSpark, request);
        } finally {
            localSpark.stop();
        }

        SparkSession spark = cluster.session("StandaloneClusterTest")
                .config("spark.executor.cores", "1")
                .config("spark.cores.max", "2")
                .config("spark.executor.memory", "1500m")
                .config("spark.task.maxFailures", "8")
                .getOrCreate();
        try {
            var killed = new AtomicBoolean();
            var scoringStages = java.util.concurrent.ConcurrentHashMap.<Integer>newKeySet();
            spark.sparkContext().addSparkListener(new SparkListener() {
                @Override
                public void onStageSubmitted(org.apache.spark.scheduler.SparkListenerStageSubmitted submitted) {
                    // the scoring stage and its reduce stage run one task per partition (6); the listing's count does not
                    if (submitted.stageInfo().numTasks() == request.partitions()) {
                        scoringStages.add(submitted.stageInfo().stageId());
                    }
                }

                @Override
                public void onTaskEnd(SparkListenerTaskEnd end) {
                    // once a scoring task has finished, take one worker and its executor away mid-job
                    if (scoringStages.contains(end.stageId()) && killed.compareAndSet(false, true)) {
                        StandaloneCluster.kill(killable);
                    }
                }
            });
            Map<Integer, double[]> clustered = DistributedSensitivity.sums(spark, request);
            assertTrue(killed.get(), "no worker was killed during the job");
            double maxDiff = 0;
            double maxRef = 0;
            for (var e : local.entrySet()) {
                double[] a = clustered.get(e.getKey());
                for (int i = 0; i < a.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(a[i] - e.getValue()[i]));
                    maxRef = Math.max(maxRef, Math.abs(e.getValue()[i]));
                }
            }
            assertTrue(maxDiff / maxRef <= 1e-9, "cluster scores differ from local by " + maxDiff / maxRef);
        } finally {
            spark.stop();
        }
    }
}
