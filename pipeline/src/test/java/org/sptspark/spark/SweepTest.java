package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDManager;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.artifact.Artifacts;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.Suite;
import org.sptspark.data.VtabWriter;
import org.sptspark.lake.Secrets;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitPresets;
import org.sptspark.snella.SnellaOptions;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.Recipe;

/**
 * Sweeps: a sweep with a failed training finishes the others, and its re-run trains only what is
 * missing; a sweep runs on an S3 lake.
 */
class SweepTest {

    @TempDir
    Path dir;

    static final List<String> TASKS = List.of("gen_clevr_count", "gen_dsprites_ori");

    static void writeTasks(Configuration hadoop, String root, List<String> tasks) throws Exception {
        for (String task : tasks) {
            try (var writer = new VtabWriter(hadoop, root, task)) {
                new StructuredTaskGenerator(StructuredTaskGenerator.Kind.of(task), 32, 2).write(writer, 20);
                writer.commit();
            }
        }
    }

    static Path backbone(Path dir) throws Exception {
        Path checkpoint = dir.resolve("demo.safetensors");
        try (NDManager manager = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(manager, VitPresets.get(VitPresets.DEMO), 5), checkpoint);
        }
        return checkpoint;
    }

    static Sweep.Config config(List<String> tasks, String data, String backbone, String lake, String run) {
        return new Sweep.Config(Suite.load("demo"), tasks, data, backbone, VitPresets.DEMO, lake,
                Method.AtBudget.each(List.of(Method.SPT_LORA, Method.LINEAR)), List.of("10k"), 8, SnellaOptions.defaults().withRank(8),
                Recipe.builder().epochs(1).warmupEpochs(0).evalEvery(0).build(), Normalization.IMAGENET, 8, 2, run, "{}", false);
    }

    @Test
    void aFailedTrainingFailsAloneAndTheReRunFinishesOnlyWhatIsMissing() throws Exception {
        Configuration hadoop = HadoopFiles.configuration();
        String data = dir.resolve("data").toString();
        writeTasks(hadoop, data, TASKS);
        String checkpoint = backbone(dir).toString();
        String lake = dir.resolve("lake").toString();
        SparkSession spark = LocalSpark.start("SweepTest");
        try {
            // the last (task, method) fails on every attempt: the others finish, and the sweep names the failure
            var failed = Sweep.run(spark, config(TASKS, data, checkpoint, lake, "r1"), line -> { },
                    failTraining("gen_dsprites_ori", "linear"));
            assertEquals(3, failed.entries().size());
            assertEquals(1, failed.failures().size());
            assertEquals("gen_dsprites_ori linear: training failed", failed.failures().get(0).describe());
            assertEquals("injected failure for gen_dsprites_ori/linear", failed.failures().get(0).reason());
            assertEquals(3, spark.read().parquet(lake + "/tables/results").where("run = 'r1'").count());
            List<Path> first = committed(hadoop, dir.resolve("lake/artifacts"));
            assertEquals(3, first.size(), "every training but the failed one committed: " + first);
            Map<Path, String> createdAt = new HashMap<>();
            for (Path p : first) {
                createdAt.put(p, Artifacts.manifest(hadoop, p.toString()).createdAt());
            }

            var log = new ArrayList<String>();
            var result = Sweep.run(spark, config(TASKS, data, checkpoint, lake, "r2"), log::add);
            assertEquals(4, result.entries().size());
            assertEquals(first.size(), result.entries().stream().filter(e -> e.outcome().reused()).count());
            List<Path> all = committed(hadoop, dir.resolve("lake/artifacts"));
            assertEquals(4, all.size(), all.toString());
            for (Path p : first) {
                assertEquals(createdAt.get(p), Artifacts.manifest(hadoop, p.toString()).createdAt(),
                        "not retrained: " + p);
            }
            assertTrue(log.stream().anyMatch(l -> l.contains("committed scores reused")), String.join("\n", log));
            assertEquals(4, spark.read().parquet(lake + "/tables/results").where("run = 'r2'").count());
            assertEquals(2, spark.read().parquet(lake + "/tables/results").where("run = 'r2' AND method = 'spt-lora'"
                    + " AND budget = '10k'").count());
        } finally {
            spark.stop();
        }
    }

    /**
     * A baseline at a budget through a whole sweep: the choice is logged, the artifact is
     * {@code lora-5k} with the rank and matrix count in its manifest, the row and the summary name
     * it {@code lora@5k}; the plain baseline beside it keeps every matrix at the sweep's rank.
     */
    @Test
    void aBaselineAtABudgetIsSizedToItAndRecordedSo() throws Exception {
        Configuration hadoop = HadoopFiles.configuration();
        String data = dir.resolve("data").toString();
        writeTasks(hadoop, data, List.of("gen_clevr_count"));
        String checkpoint = backbone(dir).toString();
        String lake = dir.resolve("lake").toString();
        var base = config(List.of("gen_clevr_count"), data, checkpoint, lake, "m");
        var c = new Sweep.Config(base.suite(), base.tasks(), base.dataRoot(), base.backbone(), base.preset(), base.lake(),
                List.of(Method.AtBudget.parse("lora@5k"), Method.AtBudget.parse("lora")), List.of(), 1, base.snella(),
                base.recipe(), base.normalization(), 8, 2, "m", "{}", false, true);
        SparkSession spark = LocalSpark.start("SweepMatchedTest");
        try {
            var log = new ArrayList<String>();
            var result = Sweep.run(spark, c, log::add);
            // 5k on the demo backbone: rank 1 on the first 17 matrices (two blocks and block 2's attention and
            // fc1: 2 * 1,728 + 4 * 192 + 480 = 4,704) and the class token's 96
            assertTrue(log.contains("lora@5k: rank 1 on the first 17 of 36 matrices (parameter-space order), 4,800"
                    + " trainable (4,704 in modules + 96 class token)"), String.join("\n", log));
            assertEquals(2, result.entries().size());
            var matched = result.entries().get(0).outcome();
            assertEquals("lora@5k", matched.column());
            assertEquals(4_800, matched.achieved());
            assertEquals(4_800, matched.trainable());
            assertTrue(matched.folder().endsWith("/lora-5k"), matched.folder());
            var manifest = Artifacts.manifest(hadoop, matched.folder());
            assertEquals(1, manifest.rank());
            assertEquals(new org.sptspark.artifact.ArtifactManifest.Budget("5k", 5000L, 4800, 17), manifest.budget());
            var plain = result.entries().get(1).outcome();
            assertEquals("lora", plain.column());
            assertEquals(10_368 + 96, plain.achieved(), "rank 1 on all 36 matrices");
            assertEquals(null, Artifacts.manifest(hadoop, plain.folder()).budget().matrices());
            Row row = spark.read().parquet(lake + "/tables/results").where("run = 'm' AND budget = '5k'").first();
            assertEquals("lora", row.getAs("method"));
            assertEquals(5000L, (long) row.getAs("budget_target"));
            assertEquals(4800L, (long) row.getAs("budget_achieved"));
            // a budget below LoRA's smallest module is refused on the driver, before any job
            var tooLittle = new Sweep.Config(c.suite(), c.tasks(), c.dataRoot(), c.backbone(), c.preset(), c.lake(),
                    List.of(Method.AtBudget.parse("lora@100")), List.of(), 1, c.snella(), c.recipe(), c.normalization(), 8,
                    2, "m2", "{}", false, true);
            var e = assertThrows(IllegalArgumentException.class, () -> Sweep.run(spark, tooLittle, line -> { }));
            assertTrue(e.getMessage().startsWith("lora@100: budget 100 is below the smallest lora"), e.getMessage());
            // one budget written twice would train twice under two names: refused on the driver
            var twice = new Sweep.Config(c.suite(), c.tasks(), c.dataRoot(), c.backbone(), c.preset(), c.lake(),
                    List.of(Method.AtBudget.parse("lora@5k"), Method.AtBudget.parse("lora@5000")), List.of(), 1, c.snella(),
                    c.recipe(), c.normalization(), 8, 2, "m3", "{}", false, true);
            e = assertThrows(IllegalArgumentException.class, () -> Sweep.run(spark, twice, line -> { }));
            assertEquals("--methods gives lora@5k and lora@5000, the same budget (5000): give it once", e.getMessage());
            var twiceSpt = new Sweep.Config(c.suite(), c.tasks(), c.dataRoot(), c.backbone(), c.preset(), c.lake(),
                    List.of(Method.AtBudget.parse("spt-lora")), List.of("5k", "5000"), 1, c.snella(), c.recipe(),
                    c.normalization(), 8, 2, "m4", "{}", false, true);
            e = assertThrows(IllegalArgumentException.class, () -> Sweep.run(spark, twiceSpt, line -> { }));
            assertEquals("--budgets gives 5k and 5000, the same budget (5000): give it once", e.getMessage());
        } finally {
            spark.stop();
        }
    }

    /**
     * A sweep on S3, its keys given as Spark settings ({@code spark.hadoop.fs.s3a.access.key},
     * {@code secret.key}, {@code session.token}): the keys appear in none of its log lines (ours and
     * Spark's, from INFO up), none of the objects it wrote (manifests, plans, scores, artifacts,
     * Parquet) and no cell of its tables.
     */
    @Test
    void aSweepReadsItsDataFromAndWritesItsLakeToS3WithoutRecordingItsKeys() throws Exception {
        assumeTrue(Files.isRegularFile(S3Proxy.JAR), "run through Maven: the build copies S3Proxy to " + S3Proxy.JAR);
        String token = "FwoGZXIvYXdzE" + java.util.UUID.randomUUID().toString().replace("-", "");
        try (var s3 = new S3Proxy(dir, "bucket"); var logs = LogCapture.start()) {
            Configuration hadoop = HadoopFiles.configuration();
            s3.configure(hadoop);
            writeTasks(hadoop, "s3a://bucket/data", List.of("gen_clevr_count"));
            var remote = new org.apache.hadoop.fs.Path("s3a://bucket/backbones/demo.safetensors");
            remote.getFileSystem(hadoop).copyFromLocalFile(new org.apache.hadoop.fs.Path(backbone(dir).toUri()), remote);
            var settings = new HashMap<String, String>();
            s3.settings().forEach((k, v) -> settings.put("spark.hadoop." + k, v));
            settings.put("spark.hadoop.fs.s3a.session.token", token); // unused by the simple provider, but set
            settings.put("spark.logConf", "true");
            SparkSession spark = LocalSpark.start("SweepS3Test", settings);
            try {
                // where a session was already running, its Hadoop configuration gets the settings here
                s3.configure(spark.sparkContext().hadoopConfiguration());
                spark.sparkContext().hadoopConfiguration().set("fs.s3a.session.token", token);
                var lines = new ArrayList<String>();
                var result = Sweep.run(spark, config(List.of("gen_clevr_count"), "s3a://bucket/data", remote.toString(),
                        "s3a://bucket/lake", "s3"), lines::add);
                assertEquals(2, result.entries().size());
                for (var e : result.entries()) {
                    assertTrue(e.outcome().folder().startsWith("s3a://bucket/lake/artifacts/demo/gen_clevr_count/"),
                            e.outcome().folder());
                    assertTrue(Artifacts.committed(spark.sparkContext().hadoopConfiguration(), e.outcome().folder()));
                }
                assertEquals(2, spark.read().parquet("s3a://bucket/lake/tables/results").where("run = 's3'").count());
                List<Path> objects;
                try (var found = Files.walk(dir.resolve("s3-store/bucket/lake"))) {
                    objects = found.filter(Files::isRegularFile).toList();
                }
                assertEquals(2, objects.stream().filter(p -> p.getFileName().toString().equals(Artifacts.MANIFEST)
                        && p.toString().contains("/artifacts/")).count(), "the artifacts really are in the S3 server's store");

                String logged = String.join("\n", lines) + "\n" + logs.text();
                assertTrue(logged.contains("s3a://bucket/lake") && logged.contains("INFO org.apache.spark"), "logs captured");
                List<Row> rows = new ArrayList<>(spark.read().parquet("s3a://bucket/lake/tables/results").collectAsList());
                rows.addAll(spark.read().parquet("s3a://bucket/lake/tables/allocation").collectAsList());
                for (String secret : List.of(s3.accessKey(), s3.secretKey(), token)) {
                    assertFalse(logged.contains(secret), "a log line shows an S3 key");
                    for (Row row : rows) {
                        assertFalse(row.toString().contains(secret), "a table row shows an S3 key: " + row);
                    }
                    for (Path p : objects) {
                        assertFalse(new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1).contains(secret),
                                p + " holds an S3 key");
                    }
                }
                // the sweep remembered the keys from its Hadoop configuration: a message quoting one is masked
                assertEquals("signature for " + Secrets.MASK, Secrets.redact("signature for " + s3.secretKey()));
            } finally {
                spark.stop();
            }
        }
    }

    /** Fails every attempt of one (task, method)'s training. */
    static Sweep.TaskHook failTraining(String task, String method) {
        return request -> {
            if (request.task().name().equals(task) && request.method().id().equals(method)) {
                throw new IllegalStateException("injected failure for " + task + "/" + method);
            }
        };
    }

    /** Waits until no task of the failed job is still running on the local executor. */
    static void awaitIdle(SparkSession spark) throws InterruptedException {
        for (int i = 0; i < 600; i++) {
            boolean busy = false;
            for (var e : spark.sparkContext().statusTracker().getExecutorInfos()) {
                busy |= e.numRunningTasks() > 0;
            }
            if (!busy) {
                return;
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("the killed job's tasks did not finish");
    }

    static List<Path> committed(Configuration hadoop, Path root) throws Exception {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (var walk = Files.walk(root)) {
            return walk.filter(p -> p.getFileName().toString().equals(Artifacts.MANIFEST)).map(Path::getParent).sorted()
                    .toList();
        }
    }
}
