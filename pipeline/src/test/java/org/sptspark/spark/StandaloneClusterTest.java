package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDManager;
import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.TaskSpec;
import org.sptspark.data.VtabWriter;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;

/**
 * The sensitivity job on a real Spark standalone cluster: a Master and two Workers started as
 * separate JVMs on 127.0.0.1 from the Maven-resolved jars (a SPARK_HOME whose {@code jars/}
 * links the test class path), one Worker killed with its executor while the job runs. The scores
 * must equal the single-process result.
 */
class StandaloneClusterTest {

    @TempDir
    static Path dir;

    static final List<Process> processes = new ArrayList<>();
    static Process killable;
    static String master;
    static int masterUi;

    static final TaskSpec TASK = new TaskSpec("gen_dsprites_loc", 16, "structured", TaskSpec.Layout.VTAB, null, null);
    static final VitConfig TINY = new VitConfig("cluster_tiny", 32, 8, 3, 32, 2, 2, 64, 16, 1e-6, 0.1);

    @BeforeAll
    static void startCluster() throws Exception {
        Path classpath = Path.of("target/test-classpath.txt");
        assumeTrue(Files.isRegularFile(classpath), "run through Maven: target/test-classpath.txt is written by the build");
        Path sparkHome = Files.createDirectories(dir.resolve("spark-home/jars"));
        for (String jar : Files.readString(classpath).strip().split(File.pathSeparator)) {
            Path j = Path.of(jar);
            Files.createSymbolicLink(sparkHome.resolve(j.getFileName()), j);
        }
        int port = freePort();
        masterUi = freePort();
        master = "spark://127.0.0.1:" + port;
        processes.add(start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port",
                String.valueOf(port), "--webui-port", String.valueOf(masterUi)));
        for (int w = 0; w < 2; w++) {
            Process worker = start("worker" + w, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                    "--port", String.valueOf(freePort()), "--webui-port", String.valueOf(freePort()), "--cores", "1",
                    "--memory", "2g", "--work-dir", Files.createDirectories(dir.resolve("work" + w)).toString(), master);
            processes.add(worker);
            killable = worker;
        }
        awaitWorkers(2, 90);
    }

    private static Process start(String name, String main, String... args) throws IOException {
        var command = new ArrayList<String>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("--add-opens") || a.startsWith("-XX:+IgnoreUnrecognized") || a.startsWith("-Djdk.reflect")) {
                command.add(a);
            }
        }
        command.add("-Xmx512m");
        command.add("-cp");
        command.add(dir.resolve("spark-home/jars") + "/*");
        command.add(main);
        command.addAll(List.of(args));
        var builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dir.resolve(name + ".log").toFile());
        Map<String, String> env = builder.environment();
        env.put("SPARK_HOME", dir.resolve("spark-home").toString());
        env.put("SPARK_SCALA_VERSION", "2.12");
        env.put("SPARK_LOCAL_IP", "127.0.0.1");
        env.put("SPARK_LOCAL_HOSTNAME", "localhost");
        return builder.start();
    }

    private static void awaitWorkers(int count, int seconds) throws Exception {
        var http = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        String body = "";
        while (System.nanoTime() < deadline) {
            try {
                body = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + masterUi + "/json/")).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
                if (body.split("\"state\" ?: ?\"ALIVE\"", -1).length - 1 >= count) {
                    return;
                }
            } catch (IOException e) {
                // master not up yet
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException(count + " workers did not register within " + seconds + " s: " + body + "\n"
                + Files.readString(dir.resolve("master.log")));
    }

    private static int freePort() throws IOException {
        try (var socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    @AfterAll
    static void stopCluster() {
        for (Process p : processes) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }

    @Test
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
                TINY, Normalization.IMAGENET, 8, 12, 3, 6, 4_000, -1);

        Map<Integer, double[]> local;
        SparkSession localSpark = LocalSpark.start("cluster-reference");
        try {
            local = DistributedSensitivity.sums(localSpark, request);
        } finally {
            localSpark.stop();
        }

        SparkSession spark = SparkSession.builder().master(master).appName("StandaloneClusterTest")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.ui.enabled", "false")
                .config("spark.executor.cores", "1")
                .config("spark.cores.max", "2")
                .config("spark.executor.memory", "1500m")
                .config("spark.task.maxFailures", "8")
                .config("spark.executor.extraClassPath", Path.of("target/classes").toAbsolutePath() + File.pathSeparator
                        + Path.of("target/test-classes").toAbsolutePath())
                .config("spark.executor.extraJavaOptions", "-Dai.djl.offline=true")
                .config("spark.executorEnv.DJL_CACHE_DIR", System.getenv().getOrDefault("DJL_CACHE_DIR",
                        Path.of("target/djl-cache").toAbsolutePath().toString()))
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
                        killable.descendants().forEach(ProcessHandle::destroyForcibly);
                        killable.destroyForcibly();
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
