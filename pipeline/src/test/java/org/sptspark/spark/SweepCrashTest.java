package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.artifact.Artifacts;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.Suite;
import org.sptspark.data.VtabWriter;
import org.sptspark.lake.FaultyFileSystem;
import org.sptspark.lake.FileDigest;
import org.sptspark.lake.JavaProcess;
import org.sptspark.model.VitPresets;
import org.sptspark.snella.SnellaOptions;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.Recipe;

/**
 * Sweeps killed or run twice at once, for real: a sweep's driver killed with SIGKILL in the middle
 * of stage 3 and run again; two sweeps on one lake started together, each training reached by both
 * at once; a lake that runs out of space or is read-only. One task, SPT-LoRA and the linear probe,
 * one epoch, the demo preset.
 */
class SweepCrashTest {

    @TempDir
    static Path dir;

    static String data;
    static String backbone;
    static SparkSession spark;

    static final String TASK = "gen_clevr_count";
    static final List<Method> METHODS = List.of(Method.SPT_LORA, Method.LINEAR);

    @BeforeAll
    static void fixture() throws Exception {
        data = dir.resolve("data").toString();
        writeTinyTask(HadoopFiles.configuration(), data);
        backbone = SweepTest.backbone(dir).toString();
        spark = session("SweepCrashTest");
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    /** The task with 48 training, 16 validation and 16 test images (noise; what is learnt does not matter here). */
    static void writeTinyTask(Configuration hadoop, String root) {
        var random = new java.util.Random(7);
        try (var writer = new VtabWriter(hadoop, root, TASK)) {
            for (int i = 0; i < 80; i++) {
                var image = new java.awt.image.BufferedImage(32, 32, java.awt.image.BufferedImage.TYPE_INT_RGB);
                for (int y = 0; y < 32; y++) {
                    for (int x = 0; x < 32; x++) {
                        image.setRGB(x, y, random.nextInt(1 << 24));
                    }
                }
                if (i < 48) {
                    writer.addTrain(image, i % 8);
                } else if (i < 64) {
                    writer.addVal(image, i % 8);
                } else {
                    writer.addTest(image, i % 8);
                }
            }
            writer.commit();
        }
    }

    /** One task thread (so two sweeps train in the same order), a failed task tried twice, the test file system known. */
    static SparkSession session(String name) {
        return SparkSession.builder().master("local[1,2]").appName(name)
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "2")
                .config("spark.hadoop.fs." + FaultyFileSystem.SCHEME + ".impl", FaultyFileSystem.class.getName())
                .getOrCreate();
    }

    static Sweep.Config config(String data, String backbone, String lake, String run, List<Method> methods) {
        return new Sweep.Config(Suite.load("demo"), List.of(TASK), data, backbone, VitPresets.DEMO, lake,
                Method.AtBudget.each(methods), List.of("10k"), 8, SnellaOptions.defaults().withRank(8),
                Recipe.builder().epochs(1).warmupEpochs(0).evalEvery(0).build(), Normalization.IMAGENET, 8, 2, run, "{}", false);
    }

    /** Loads the engine, so that a sweep started after this one does not lag behind by the engine's start. */
    static void warmUp() {
        try (NDManager m = NDManager.newBaseManager()) {
            m.ones(new Shape(8, 8)).matMul(m.ones(new Shape(8, 8))).sum().getFloat();
        }
    }

    /**
     * A hook by which each of two sweeps waits, before each training, until the other has reached the
     * same training: both then find it uncommitted, train it and commit it at about the same time.
     */
    static Sweep.TaskHook together(String barrier, String name) {
        return r -> {
            String key = r.task().name() + "-" + r.method().id()
                    + (r.planUri() == null ? "" : "-" + new org.apache.hadoop.fs.Path(r.planUri()).getName());
            try {
                Path d = Files.createDirectories(Path.of(barrier));
                Path mine = d.resolve(key + "." + name);
                if (!Files.exists(mine)) {
                    Files.createFile(mine);
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (true) {
                    try (Stream<Path> s = Files.list(d)) {
                        if (s.filter(p -> p.getFileName().toString().startsWith(key + ".")).count() >= 2) {
                            return;
                        }
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("the other sweep never reached " + key);
                    }
                    Thread.sleep(5);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        };
    }

    /** Makes the trainings of one method wait before they start, so that a kill lands while stage 3 runs. */
    static Sweep.TaskHook pauseBefore(String method, long millis) {
        return r -> {
            if (r.method().id().equals(method)) {
                try {
                    Thread.sleep(millis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
    }

    @Test
    void aSweepKilledMidStage3AndRunAgainTrainsOnlyWhatIsMissing() throws Exception {
        String lake = dir.resolve("killed-lake").toString();
        Path artifacts = Path.of(lake, "artifacts");
        Path log = dir.resolve("killed.log");
        Process p = JavaProcess.start(SweepProcess.class, log, "--data", data, "--backbone", backbone, "--lake", lake,
                "--run", "k1", "--methods", "spt-lora,linear", "--pause", "linear");
        JavaProcess.await(p, log, 240, "an artifact was committed", () -> manifests(artifacts).size() >= 1);
        JavaProcess.kill(p);
        List<Path> first = manifests(artifacts);
        assertEquals(1, first.size(), "the driver was killed after one of the two trainings: " + first);
        String createdAt = Artifacts.manifest(hadoop(), first.get(0).toString()).createdAt();
        assertNothingHalfVisible(artifacts);

        var lines = new ArrayList<String>();
        var result = Sweep.run(spark, config(data, backbone, lake, "k2", METHODS), lines::add);
        assertEquals(2, result.entries().size());
        for (var e : result.entries()) {
            boolean wasCommitted = Path.of(e.outcome().folder()).equals(first.get(0));
            assertEquals(wasCommitted, e.outcome().reused(), "only the missing training ran: " + e.outcome().folder());
        }
        assertEquals(createdAt, Artifacts.manifest(hadoop(), first.get(0).toString()).createdAt(), "not retrained");
        assertTrue(lines.contains("stage 3: 2 trainings, 1 already committed; one Spark task each"), String.join("\n", lines));
        // progress as each training ends (Spark delivers the events asynchronously, so a line may come late
        // and be dropped), the last one always saying both are done
        var progress = lines.stream().filter(l -> l.startsWith("stage 3: ") && l.contains(" trainings done")).toList();
        assertEquals("stage 3: 2/2 trainings done, 0 running, 0 failed attempts", progress.get(progress.size() - 1),
                String.join("\n", lines));
        for (String l : progress.subList(0, progress.size() - 1)) {
            assertTrue(l.matches("stage 3: 1/2 trainings done, [01] running, 0 failed attempts, about .* left"), l);
        }
        assertTrue(lines.stream().anyMatch(l -> l.contains("committed scores reused")), String.join("\n", lines));
        assertEquals(2, manifests(artifacts).size());
        assertNothingHalfVisible(artifacts);
        assertNoStagedFiles(Path.of(lake));
        var rows = spark.read().parquet(lake + "/tables/results").where("run = 'k2'");
        assertEquals(2, rows.count());
        assertEquals(2, rows.select("task", "method", "budget").distinct().count(), "one row per (task, method, budget)");
    }

    @Test
    void twoSweepsStartedTogetherOnOneLakeCommitEachResultOnce() throws Exception {
        String lake = dir.resolve("shared-lake").toString();
        Path ready = dir.resolve("b.ready");
        Path go = dir.resolve("b.go");
        Path log = dir.resolve("b.log");
        Path resultFile = dir.resolve("b.result");
        String barrier = dir.resolve("barrier").toString();
        Process p = JavaProcess.start(SweepProcess.class, log, "--data", data, "--backbone", backbone, "--lake", lake,
                "--run", "cb", "--methods", "spt-lora,linear", "--ready", ready.toString(), "--go", go.toString(),
                "--barrier", barrier, "--name", "b", "--result", resultFile.toString());
        warmUp();
        JavaProcess.await(p, log, 120, "the other sweep was ready", () -> Files.exists(ready));
        Files.createFile(go);
        var lines = new ArrayList<String>();
        Sweep.Result a;
        try {
            a = Sweep.run(spark, config(data, backbone, lake, "ca", METHODS), lines::add, together(barrier, "a"));
        } finally {
            if (!p.waitFor(240, TimeUnit.SECONDS)) {
                JavaProcess.kill(p);
            }
        }
        assertEquals(0, p.exitValue(), JavaProcess.tail(log));
        String other = Files.readString(log);

        // stage 1: both scored the task at once; one committed the scores, the other used them
        long scoresCommits = Stream.concat(lines.stream(), other.lines())
                .filter(l -> l.matches(".*sensitivity of " + TASK + ": .* committed to .*")).count();
        assertEquals(1, scoresCommits, "scores committed once:\n" + String.join("\n", lines) + "\n" + other);

        // stage 3: each training was committed by one sweep and found committed by the other
        Map<String, Boolean> reusedByB = new HashMap<>();
        for (String l : Files.readAllLines(resultFile)) {
            reusedByB.put(l.split("\t")[0], Boolean.parseBoolean(l.split("\t")[1]));
        }
        assertEquals(2, a.entries().size());
        assertEquals(2, reusedByB.size());
        for (var e : a.entries()) {
            Boolean b = reusedByB.get(e.outcome().folder());
            assertNotNull(b, e.outcome().folder() + " not in " + reusedByB);
            assertNotEquals(e.outcome().reused(), b, "committed by exactly one sweep: " + e.outcome().folder());
        }
        long discarded = Stream.concat(lines.stream(), other.lines()).filter(l -> l.contains("this training is discarded"))
                .count();
        System.out.println("SweepCrashTest: " + discarded + " of 2 trainings were committed by one sweep while the other"
                + " trained them too (the rest were found committed before training)");

        // nothing torn or left behind: each payload is its manifest's, no staged file or lock remains
        Path artifacts = Path.of(lake, "artifacts");
        assertEquals(2, manifests(artifacts).size());
        for (Path folder : manifests(artifacts)) {
            FileDigest recorded = Artifacts.manifest(hadoop(), folder.toString()).files().get(Artifacts.TENSORS);
            assertTrue(recorded.matches(Files.readAllBytes(folder.resolve(Artifacts.TENSORS))), folder.toString());
        }
        assertNothingHalfVisible(artifacts);
        assertNoStagedFiles(Path.of(lake));

        // both tables record the same results
        var results = spark.read().parquet(lake + "/tables/results");
        String[] columns = {"task", "method", "budget", "top1", "artifact", "artifact_bytes", "plan_id"};
        List<Row> ca = results.where("run = 'ca'").selectExpr(columns).orderBy("method").collectAsList();
        List<Row> cb = results.where("run = 'cb'").selectExpr(columns).orderBy("method").collectAsList();
        assertEquals(2, ca.size());
        assertEquals(ca, cb);
    }

    @Test
    void aLakeThatRunsOutOfSpaceFailsTheTrainingInOneLineAndShowsNothingHalfWritten() throws Exception {
        Path local = dir.resolve("full-lake");
        String lake = FaultyFileSystem.uri(local);
        FaultyFileSystem.SPACE.set(4000); // the linear probe's tensors fit, not their manifest too
        Sweep.Result result;
        try {
            result = Sweep.run(spark, config(data, backbone, lake, "f", List.of(Method.LINEAR)), line -> { });
        } finally {
            FaultyFileSystem.reset();
        }
        assertEquals(List.of(), result.entries());
        assertEquals(1, result.failures().size(), "the training failed, and the sweep says so");
        Throwable failure = result.failures().get(0).error();
        String message = null;
        for (Throwable t = failure; t != null && message == null; t = t.getCause()) {
            if (t instanceof IOException && t.getMessage() != null && t.getMessage().startsWith("cannot write ")) {
                message = t.getMessage();
            }
        }
        assertNotNull(message, "no IOException naming the file in the failure's causes");
        String folder = new org.apache.hadoop.fs.Path(lake).toString() + "/artifacts/demo/" + TASK + "/";
        assertTrue(message.startsWith("cannot write " + folder), message);
        assertTrue(message.endsWith(": No space left on device"), message);
        assertFalse(message.contains("\n"), message);
        Path artifacts = local.resolve("artifacts");
        assertEquals(List.of(), manifests(artifacts));
        assertNothingHalfVisible(artifacts);
        assertNoStagedFiles(local);
        try (Stream<Path> leaves = Files.walk(artifacts)) {
            for (Path leaf : leaves.filter(p -> p.getFileName().toString().equals("linear")).toList()) {
                assertFalse(Artifacts.committed(hadoop(), FaultyFileSystem.uri(leaf)));
            }
        }
    }

    @Test
    void aReadOnlyLakeIsRefusedInOneLineBeforeAnyWork() throws Exception {
        Path local = Files.createDirectories(dir.resolve("ro-lake"));
        String lake = local.toString();
        boolean chmod = local.toFile().setWritable(false, false) && !canWrite(local);
        if (!chmod) { // root writes through chmod: make the lake read-only in the file system instead
            local.toFile().setWritable(true, false);
            FaultyFileSystem.readOnly = true;
            lake = FaultyFileSystem.uri(local);
        }
        String uri = lake;
        try {
            long started = System.nanoTime();
            var e = assertThrows(IllegalArgumentException.class,
                    () -> Sweep.run(spark, config(data, backbone, uri, "ro", METHODS), line -> { }));
            assertTrue(e.getMessage().startsWith("lake " + uri + " is not writable: "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            assertTrue(System.nanoTime() - started < TimeUnit.SECONDS.toNanos(10), "refused before stage 1");
        } finally {
            FaultyFileSystem.reset();
            local.toFile().setWritable(true, false);
        }
        try (Stream<Path> files = Files.list(local)) {
            assertEquals(0, files.count(), "nothing written");
        }
    }

    static Configuration hadoop() {
        return spark.sparkContext().hadoopConfiguration();
    }

    private static boolean canWrite(Path dir) {
        try {
            Files.delete(Files.createFile(dir.resolve("probe")));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The artifact folders under {@code root} with a manifest. */
    static List<Path> manifests(Path root) {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (Stream<Path> walk = Files.walk(root)) {
            return walk.filter(p -> p.getFileName().toString().equals(Artifacts.MANIFEST)).map(Path::getParent).sorted()
                    .toList();
        } catch (IOException | UncheckedIOException e) {
            return List.of(); // a folder moved while walking: look again
        }
    }

    /**
     * Every artifact folder (the leaves under {@code <preset>-<sha>}) shows a reader either nothing or
     * the whole artifact: its tensors and manifest, and readers find it committed exactly then.
     */
    static void assertNothingHalfVisible(Path artifacts) throws IOException {
        if (!Files.isDirectory(artifacts)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(artifacts, 4)) {
            for (Path folder : walk.filter(p -> artifacts.relativize(p).getNameCount() == 4).toList()) {
                List<String> visible;
                try (Stream<Path> files = Files.list(folder)) {
                    visible = files.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList();
                }
                assertTrue(visible.isEmpty() || visible.equals(List.of(Artifacts.TENSORS, Artifacts.MANIFEST)),
                        folder + " shows " + visible);
                assertEquals(!visible.isEmpty(), Artifacts.committed(hadoop(), FaultyFileSystem.uri(folder)), folder.toString());
            }
        }
    }

    /** No staged file or commit lock anywhere under {@code root} (Hadoop's checksum files aside). */
    static void assertNoStagedFiles(Path root) throws IOException {
        try (Stream<Path> walk = Files.walk(root)) {
            List<Path> left = walk.filter(p -> {
                String n = p.getFileName().toString().replaceAll("\\.crc$", "");
                return n.endsWith(".partial") || n.endsWith(".lock");
            }).toList();
            assertEquals(List.of(), left, "staged files or locks left");
        }
    }
}
