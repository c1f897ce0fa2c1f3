package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.artifact.Artifacts;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.Suite;
import org.sptspark.data.VtabWriter;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitPresets;
import org.sptspark.snella.SnellaOptions;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.Recipe;

/** Sweeps: a killed sweep resumes without redoing committed work; a sweep runs on an S3 lake. */
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
                List.of(Method.SPT_LORA, Method.LINEAR), List.of("10k"), 8, SnellaOptions.defaults().withRank(8),
                Recipe.builder().epochs(1).warmupEpochs(0).evalEvery(0).build(), Normalization.IMAGENET, 8, 2, run, "{}", false);
    }

    @Test
    void aSweepKilledInTheMiddleFinishesOnlyWhatIsMissing() throws Exception {
        Configuration hadoop = HadoopFiles.configuration();
        String data = dir.resolve("data").toString();
        writeTasks(hadoop, data, TASKS);
        String checkpoint = backbone(dir).toString();
        String lake = dir.resolve("lake").toString();
        SparkSession spark = LocalSpark.start("SweepTest");
        try {
            // the last (task, method) fails on every attempt, as if the sweep were killed there
            assertThrows(org.apache.spark.SparkException.class, () -> Sweep.run(spark,
                    config(TASKS, data, checkpoint, lake, "r1"), line -> { }, failTraining("gen_dsprites_ori", "linear")));
            awaitIdle(spark);
            List<Path> first = committed(hadoop, dir.resolve("lake/artifacts"));
            assertTrue(!first.isEmpty() && first.size() < 4, "some, not all, trainings committed: " + first);
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

    @Test
    void aSweepReadsItsDataFromAndWritesItsLakeToS3() throws Exception {
        assumeTrue(Files.isRegularFile(S3Proxy.JAR), "run through Maven: the build copies S3Proxy to " + S3Proxy.JAR);
        try (var s3 = new S3Proxy(dir, "bucket")) {
            Configuration hadoop = HadoopFiles.configuration();
            s3.configure(hadoop);
            writeTasks(hadoop, "s3a://bucket/data", List.of("gen_clevr_count"));
            var remote = new org.apache.hadoop.fs.Path("s3a://bucket/backbones/demo.safetensors");
            remote.getFileSystem(hadoop).copyFromLocalFile(new org.apache.hadoop.fs.Path(backbone(dir).toUri()), remote);
            SparkSession spark = LocalSpark.start("SweepS3Test");
            try {
                s3.configure(spark.sparkContext().hadoopConfiguration());
                var result = Sweep.run(spark, config(List.of("gen_clevr_count"), "s3a://bucket/data", remote.toString(),
                        "s3a://bucket/lake", "s3"), line -> { });
                assertEquals(2, result.entries().size());
                for (var e : result.entries()) {
                    assertTrue(e.outcome().folder().startsWith("s3a://bucket/lake/artifacts/demo/gen_clevr_count/"),
                            e.outcome().folder());
                    assertTrue(Artifacts.committed(spark.sparkContext().hadoopConfiguration(), e.outcome().folder()));
                }
                assertEquals(2, spark.read().parquet("s3a://bucket/lake/tables/results").where("run = 's3'").count());
                try (var found = Files.walk(dir.resolve("s3-store/bucket/lake/artifacts"))) {
                    assertEquals(2, found.filter(p -> p.getFileName().toString().equals(Artifacts.MANIFEST)).count(),
                            "the artifacts really are in the S3 server's store");
                }
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
