package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.Suite;
import org.sptspark.data.TaskSpec;
import org.sptspark.data.VtabWriter;
import org.sptspark.lake.JavaProcess;
import org.sptspark.model.VitPresets;
import org.sptspark.snella.SnellaOptions;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.Recipe;

/**
 * A sweep at the suite's scale: VTAB-1k's 19 tasks (their names, class counts, groups and layout)
 * generated as tiny noise images (8 train800, 4 val200, 8 test each), four trainings per task (the
 * linear probe, LoRA at 5k, SPT-LoRA at 5k and 10k), one epoch on the demo backbone. Its driver is
 * killed part-way and the sweep run again; and a suite with broken tasks finishes the others.
 */
class SweepSuiteScaleTest {

    @TempDir
    static Path dir;

    static String backbone;
    static SparkSession spark;

    static final List<String> METHODS = List.of("linear", "lora@5k", "spt-lora");
    static final List<String> BUDGETS = List.of("5k", "10k");

    @BeforeAll
    static void fixture() throws Exception {
        backbone = SweepTest.backbone(dir).toString();
        spark = LocalSpark.start("SweepSuiteScaleTest");
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    /** Every task of {@code tasks} with 8, 4 and 8 random 8x8 images, labels cycling through the task's classes. */
    static void writeTasks(Configuration hadoop, String root, List<TaskSpec> tasks) {
        var random = new Random(11);
        for (TaskSpec task : tasks) {
            try (var writer = new VtabWriter(hadoop, root, task.name())) {
                for (int i = 0; i < 20; i++) {
                    var image = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
                    for (int y = 0; y < 8; y++) {
                        for (int x = 0; x < 8; x++) {
                            image.setRGB(x, y, random.nextInt(1 << 24));
                        }
                    }
                    int label = (i * 7) % task.classes();
                    if (i < 8) {
                        writer.addTrain(image, label);
                    } else if (i < 12) {
                        writer.addVal(image, label);
                    } else {
                        writer.addTest(image, label);
                    }
                }
                writer.commit();
            }
        }
    }

    /** The whole suite, one epoch; sensitivity on train800's 8 images (one batch of 8). */
    static Sweep.Config config(String data, String backbone, String lake, String run) {
        return config(data, backbone, lake, run, List.of(), METHODS, BUDGETS);
    }

    static Sweep.Config config(String data, String backbone, String lake, String run, List<String> tasks,
            List<String> methods, List<String> budgets) {
        return new Sweep.Config(Suite.load("vtab-1k"), tasks, data, backbone, VitPresets.DEMO, lake,
                methods.stream().map(Method.AtBudget::parse).toList(), budgets, 8, SnellaOptions.defaults().withRank(8),
                Recipe.builder().epochs(1).warmupEpochs(0).evalEvery(0).build(), Normalization.IMAGENET, 8, 1, run, "{}",
                false);
    }

    @Test
    void nineteenTasksRunEndToEndWithProgressAndAKilledSweepResumes() throws Exception {
        Suite suite = Suite.load("vtab-1k");
        assertEquals(19, suite.tasks().size());
        String data = dir.resolve("vtab").toString();
        long started = System.nanoTime();
        writeTasks(HadoopFiles.configuration(), data, suite.tasks());
        String lake = dir.resolve("lake").toString();
        Path artifacts = Path.of(lake, "artifacts");

        // the first sweep, in a JVM of its own, killed once a dozen trainings are committed
        Path log = dir.resolve("scale.log");
        Process p = JavaProcess.start(SweepProcess.class, log, "--scale", "true", "--data", data, "--backbone", backbone,
                "--lake", lake, "--run", "k1");
        JavaProcess.await(p, log, 300, "a dozen artifacts were committed",
                () -> SweepCrashTest.manifests(artifacts).size() >= 12);
        JavaProcess.kill(p);
        double killedAfter = (System.nanoTime() - started) / 1e9;
        Set<String> first = SweepCrashTest.manifests(artifacts).stream().map(Path::toString).collect(Collectors.toSet());
        assertTrue(first.size() >= 12 && first.size() < 76, first.size() + " committed before the kill");

        long resumed = System.nanoTime();
        var lines = new ArrayList<String>();
        var result = Sweep.run(spark, config(data, backbone, lake, "k2"), lines::add);
        double seconds = (System.nanoTime() - resumed) / 1e9;
        String shown = String.join("\n", lines);
        assertEquals(List.of(), result.failures(), shown);
        assertEquals(76, result.entries().size());
        for (var e : result.entries()) {
            assertEquals(first.contains(e.outcome().folder()), e.outcome().reused(),
                    "only what was missing ran: " + e.outcome().folder());
        }
        assertEquals(76, SweepCrashTest.manifests(artifacts).size());
        assertEquals(suite.tasks().stream().map(TaskSpec::name).collect(Collectors.toSet()),
                result.entries().stream().map(e -> e.task().name()).collect(Collectors.toSet()));
        assertEquals(Set.of("linear", "lora@5k", "spt-lora@5k", "spt-lora@10k"),
                result.entries().stream().map(Sweep.Entry::column).collect(Collectors.toSet()));
        assertEquals(76, spark.read().parquet(lake + "/tables/results").where("run = 'k2'").count());

        // progress: a line per training, with the time left while trainings remain, the last saying all are done
        assertTrue(lines.contains("stage 3: 76 trainings, " + first.size() + " already committed; one Spark task each"),
                shown);
        var progress = lines.stream().filter(l -> l.startsWith("stage 3: ") && l.contains(" trainings done")).toList();
        assertEquals("stage 3: 76/76 trainings done, 0 running, 0 failed attempts", progress.get(progress.size() - 1), shown);
        assertTrue(progress.stream().anyMatch(l -> l.matches("stage 3: \\d+/76 trainings done, \\d+ running, 0 failed"
                + " attempts, about .* left")), shown);
        System.out.printf("SweepSuiteScaleTest: 19 tasks x 4 trainings; %d committed when the first sweep was killed after"
                + " %.0f s; the re-run took %.0f s%n", first.size(), killedAfter, seconds);
    }

    /**
     * Three tasks: one sound, one whose test list has a line without a label (its trainings fail when
     * they read it), one whose first training image is missing (its sensitivity job fails). The sound
     * task is done and committed; the sweep names the others and why.
     */
    @Test
    void aBrokenTaskDoesNotStopTheOthers() throws Exception {
        Suite suite = Suite.load("vtab-1k");
        String data = dir.resolve("broken").toString();
        List<String> tasks = List.of("cifar", "dtd", "svhn");
        writeTasks(HadoopFiles.configuration(), data, tasks.stream().map(suite::task).toList());
        Files.writeString(Path.of(data, "dtd", "test.txt"), "images/test/000000.png\n",
                java.nio.file.StandardOpenOption.APPEND);
        Files.delete(Path.of(data, "svhn", "images", "train", "000000.png"));
        String lake = dir.resolve("broken-lake").toString();
        var lines = new ArrayList<String>();
        var result = Sweep.run(spark, config(data, backbone, lake, "b", tasks, List.of("spt-lora", "linear"),
                List.of("5k")), lines::add);
        String shown = String.join("\n", lines);

        assertEquals(List.of("cifar", "cifar"), result.entries().stream().map(e -> e.task().name()).toList(), shown);
        assertEquals(2, spark.read().parquet(lake + "/tables/results").where("run = 'b'").count());
        assertEquals(3, result.failures().size(), shown);
        var svhn = result.failures().get(0);
        assertEquals("svhn: sensitivity failed (2 trainings not run)", svhn.describe());
        assertTrue(svhn.reason().contains("000000.png"), svhn.reason());
        for (int i = 1; i < 3; i++) {
            var dtd = result.failures().get(i);
            assertEquals("dtd " + List.of("spt-lora@5k", "linear").get(i - 1) + ": training failed", dtd.describe());
            assertTrue(dtd.reason().contains("test.txt") && dtd.reason().contains("line 9"), dtd.reason());
        }
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("failed: svhn: sensitivity failed")), shown);
        result.failures().forEach(f -> System.out.println("SweepSuiteScaleTest: " + f.describe() + ": " + f.reason()));
        var progress = lines.stream().filter(l -> l.startsWith("stage 3: ") && l.contains(" trainings done")).toList();
        assertTrue(progress.get(progress.size() - 1).startsWith("stage 3: 2/4 trainings done, 0 running, ")
                && progress.get(progress.size() - 1).endsWith(", 2 trainings failed for good"), shown);
    }
}
