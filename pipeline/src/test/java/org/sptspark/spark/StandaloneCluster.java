package org.sptspark.spark;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
import org.apache.spark.sql.SparkSession;

/**
 * A Spark standalone cluster for tests: a Master and Workers started as separate JVMs on
 * 127.0.0.1 from the Maven-resolved jars (a SPARK_HOME whose {@code jars/} links the test class
 * path), so that executors are real processes with their own natives, resources and failures.
 * {@link #close()} kills every process it started.
 */
final class StandaloneCluster implements AutoCloseable {

    private final Path dir;
    private final List<Process> processes = new ArrayList<>();
    private final String master;
    private final int masterUi;

    private StandaloneCluster(Path dir) throws IOException {
        this.dir = dir;
        int port = freePort();
        masterUi = freePort();
        master = "spark://127.0.0.1:" + port;
        Path jars = Files.createDirectories(dir.resolve("spark-home/jars"));
        for (String jar : Files.readString(Path.of("target/test-classpath.txt")).strip().split(File.pathSeparator)) {
            Path j = Path.of(jar);
            Files.createSymbolicLink(jars.resolve(j.getFileName()), j);
        }
        start("master", List.of(), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port",
                String.valueOf(port), "--webui-port", String.valueOf(masterUi));
    }

    /** Starts the Master in {@code dir}; skips the test when it does not run through Maven. */
    static StandaloneCluster startMaster(Path dir) throws IOException {
        assumeTrue(Files.isRegularFile(Path.of("target/test-classpath.txt")),
                "run through Maven: target/test-classpath.txt is written by the build");
        return new StandaloneCluster(dir);
    }

    /** The master URL, {@code spark://127.0.0.1:PORT}. */
    String master() {
        return master;
    }

    /**
     * Starts a Worker with {@code cores} cores and 2 GB; {@code jvmOptions} (such as
     * {@code -Dspark.worker.resource.*}) go on its command line. Its log is {@code NAME.log}.
     */
    Process startWorker(String name, int cores, List<String> jvmOptions) throws IOException {
        return start(name, jvmOptions, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--port",
                String.valueOf(freePort()), "--webui-port", String.valueOf(freePort()), "--cores",
                String.valueOf(cores), "--memory", "2g", "--work-dir",
                Files.createDirectories(dir.resolve("work-" + name)).toString(), master);
    }

    /** Waits until the Master's JSON page lists {@code count} ALIVE workers. */
    void awaitWorkers(int count, int seconds) throws Exception {
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

    /**
     * A session builder for this cluster: driver on loopback, no UI, executors that find our
     * classes (target/classes, target/test-classes), run DJL offline and share the build's DJL cache.
     * Settings given later on the builder replace these.
     */
    SparkSession.Builder session(String appName) {
        return SparkSession.builder().master(master).appName(appName)
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.ui.enabled", "false")
                .config("spark.executor.extraClassPath", Path.of("target/classes").toAbsolutePath() + File.pathSeparator
                        + Path.of("target/test-classes").toAbsolutePath())
                // the executors compute with this JVM's intra-op threads, so that their products sum as
                // a local run's do (on some CPUs the split of a product depends on the thread count)
                .config("spark.executor.extraJavaOptions", "-Dai.djl.offline=true -Dai.djl.pytorch.num_threads="
                        + intraOpThreads())
                .config("spark.executorEnv.DJL_CACHE_DIR", System.getenv().getOrDefault("DJL_CACHE_DIR",
                        Path.of("target/djl-cache").toAbsolutePath().toString()));
    }

    /** PyTorch's intra-op threads in this JVM (the engine started). */
    static int intraOpThreads() {
        ai.djl.engine.Engine.getEngine("PyTorch");
        return ai.djl.pytorch.jni.JniUtils.getNumThreads();
    }

    /** Kills a process this cluster started, with its children (a Worker's executors). */
    static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
    }

    @Override
    public void close() {
        processes.forEach(StandaloneCluster::kill);
    }

    private Process start(String name, List<String> jvmOptions, String main, String... args) throws IOException {
        var command = new ArrayList<String>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("--add-opens") || a.startsWith("-XX:+IgnoreUnrecognized") || a.startsWith("-Djdk.reflect")) {
                command.add(a);
            }
        }
        command.add("-Xmx512m");
        command.addAll(jvmOptions);
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
        Process process = builder.start();
        processes.add(process);
        return process;
    }

    private static int freePort() throws IOException {
        try (var socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
