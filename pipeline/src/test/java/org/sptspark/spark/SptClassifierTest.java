package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.artifact.OpenedArtifact;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.ImageDecoder;
import org.sptspark.data.ImagePreprocessor;
import org.sptspark.data.Normalization;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.VtabWriter;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.tuning.Method;

/**
 * The lake's consumer inside Spark code: a DataFrame of demo-task images, each row through its own
 * task's artifact (four methods, SNELLA among them, on one backbone), with the transformer, the
 * transformer saved and loaded back in a {@link PipelineModel}, and the SQL function; every
 * prediction equals the one its artifact opened alone gives; bad rows get a reason, not a failed
 * job.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SptClassifierTest {

    static final VitConfig ARCH = new VitConfig("vit_classifier_test", 32, 8, 3, 48, 2, 3, 96, 1, 1e-6, 0.0);
    static final int TOP_K = 3;
    static final List<StructuredTaskGenerator.Kind> KINDS = List.of(StructuredTaskGenerator.Kind.CLEVR_COUNT,
            StructuredTaskGenerator.Kind.DSPRITES_LOC, StructuredTaskGenerator.Kind.DSPRITES_ORI,
            StructuredTaskGenerator.Kind.CLEVR_DIST);
    static final List<Method> METHODS = List.of(Method.LORA, Method.BIAS, Method.SNELLA, Method.ADAPTER);

    @TempDir
    static Path dir;

    Configuration hadoop = HadoopFiles.configuration();
    SparkSession spark;
    Path backbone;
    /** Artifact folder by task. */
    Map<String, String> artifacts = new HashMap<>();
    /** The images table: path, content, task (several tasks interleaved, bad rows among them). */
    Dataset<Row> images;
    /** Expected top-k classes and probabilities of each good row's image, by path. */
    Map<String, float[]> expected = new HashMap<>();
    Map<String, String> expectedArtifact = new HashMap<>();

    @BeforeAll
    void setUp() throws Exception {
        backbone = dir.resolve("backbone.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(m, ARCH, 3), backbone);
        }
        String sha = Checkpoints.sha256(backbone);
        for (int t = 0; t < KINDS.size(); t++) {
            var kind = KINDS.get(t);
            artifacts.put(kind.task, ArtifactFixtures.artifact(hadoop, dir.resolve("lake/" + kind.task), backbone, sha, ARCH,
                    METHODS.get(t), "demo", kind.task, kind.classes, 10 + t));
        }
        var rows = new ArrayList<Row>();
        Path folder = dir.resolve("images");
        Files.createDirectories(folder);
        // 4 tasks, 5 images each, interleaved so that every batch mixes tasks
        for (int i = 0; i < 5; i++) {
            for (var kind : KINDS) {
                byte[] png = VtabWriter.png(new StructuredTaskGenerator(kind, 32, 7).item("test", i).image());
                Path file = folder.resolve(kind.task + "_" + i + ".png");
                Files.write(file, png);
                rows.add(RowFactory.create(file.toUri().toString(), png, kind.task));
            }
        }
        // the task named with its suite goes through the same artifact
        Path withSuite = folder.resolve("suite_named.png");
        byte[] png = VtabWriter.png(new StructuredTaskGenerator(KINDS.get(0), 32, 8).item("test", 0).image());
        Files.write(withSuite, png);
        rows.add(RowFactory.create(withSuite.toUri().toString(), png, "demo/" + KINDS.get(0).task));
        for (Row r : rows) {
            String task = r.getString(2);
            String kindTask = task.startsWith("demo/") ? task.substring(5) : task;
            try (NDManager manager = NDManager.newBaseManager()) {
                OpenedArtifact opened = OpenedArtifact.open(hadoop, artifacts.get(kindTask), backbone.toString(), manager);
                float[] x = ImagePreprocessor.toTensor(ImageDecoder.decode((byte[]) r.get(1), "test"), 32, Normalization.IMAGENET);
                expected.put(r.getString(0), ArtifactFixtures.probabilities(opened, x, 32));
                expectedArtifact.put(r.getString(0), "demo/" + kindTask + "/" + METHODS.get(KINDS.stream().map(k -> k.task)
                        .toList().indexOf(kindTask)).id());
                opened.tuned().close();
            }
        }
        Path broken = folder.resolve("broken.png");
        Files.writeString(broken, "not an image");
        rows.add(3, RowFactory.create(broken.toUri().toString(), Files.readAllBytes(broken), KINDS.get(1).task));
        byte[] bomb = org.sptspark.bench.PreprocessBenchmark.decompressionBomb(20000, 20000, false);
        Path bombFile = folder.resolve("bomb.png");
        Files.write(bombFile, bomb);
        rows.add(7, RowFactory.create(bombFile.toUri().toString(), bomb, KINDS.get(2).task));
        rows.add(9, RowFactory.create(folder.resolve("unknown.png").toUri().toString(), png, "gen_shapes"));
        rows.add(12, RowFactory.create(folder.resolve("no-task.png").toUri().toString(), png, null));
        rows.add(14, RowFactory.create(folder.resolve("missing.png").toUri().toString(), null, KINDS.get(0).task));
        spark = LocalSpark.start("SptClassifierTest");
        var schema = new StructType().add("path", DataTypes.StringType, false).add("content", DataTypes.BinaryType, true)
                .add("task", DataTypes.StringType, true);
        images = spark.createDataFrame(rows, schema).repartition(2);
    }

    @AfterAll
    void tearDown() {
        if (spark != null) {
            spark.stop();
        }
    }

    SptClassifier classifier() {
        return new SptClassifier().setBackbone(backbone.toString())
                .setArtifacts(artifacts.values().stream().sorted().toArray(String[]::new)).setTopK(TOP_K).setBatchSize(4);
    }

    /** Every good row equals its artifact alone; the bad rows carry their reasons. */
    void check(List<Row> out, String artifactCol, String classesCol, String probabilitiesCol, String errorCol) {
        assertEquals(expected.size() + 5, out.size());
        var errors = new HashMap<String, String>();
        for (Row r : out) {
            String path = r.getString(r.fieldIndex("path"));
            String error = r.getString(r.fieldIndex(errorCol));
            if (!expected.containsKey(path)) {
                assertTrue(error != null, "no reason for " + path);
                assertTrue(r.isNullAt(r.fieldIndex(classesCol)) && r.isNullAt(r.fieldIndex(artifactCol)), path);
                errors.put(path.substring(path.lastIndexOf('/') + 1), error);
                continue;
            }
            assertNull(error, path);
            assertEquals(expectedArtifact.get(path), r.getString(r.fieldIndex(artifactCol)), path);
            float[] p = expected.get(path);
            int[] top = Prediction.top(p, 0, p.length, TOP_K);
            List<Integer> classes = r.getList(r.fieldIndex(classesCol));
            List<Double> probabilities = r.getList(r.fieldIndex(probabilitiesCol));
            assertArrayEquals(top, classes.stream().mapToInt(Integer::intValue).toArray(), path);
            for (int k = 0; k < TOP_K; k++) {
                assertEquals(p[top[k]], probabilities.get(k), 1e-5, path + " class " + top[k]);
            }
        }
        assertTrue(errors.get("broken.png").startsWith("IllegalArgumentException: "), errors.toString());
        assertTrue(errors.get("bomb.png").contains("20000x20000 = 400,000,000 pixels, above the limit"), errors.toString());
        assertTrue(errors.get("unknown.png").startsWith("no artifact for task 'gen_shapes' (artifacts are for ["),
                errors.toString());
        assertEquals("no task", errors.get("no-task.png"));
        assertEquals("no image", errors.get("missing.png"));
    }

    @Test
    void everyRowGoesThroughItsOwnTasksArtifact() {
        Dataset<Row> out = classifier().transform(images);
        assertEquals(List.of("path", "content", "task", "artifact_id", "classes", "probabilities", "error"),
                List.of(out.columns()));
        check(out.collectAsList(), "artifact_id", "classes", "probabilities", "error");
    }

    @Test
    void perArtifactBatchesGiveTheSame() {
        check(classifier().setBatching("per-artifact").transform(images).collectAsList(), "artifact_id", "classes",
                "probabilities", "error");
    }

    @Test
    void pathColumnsAndSparksImageSourceWork() {
        Dataset<Row> byPath = classifier().setImageCol("path").transform(images.drop("content"));
        var rows = byPath.collectAsList();
        for (Row r : rows) {
            String path = r.getString(0);
            if (expected.containsKey(path)) {
                List<Integer> classes = r.getList(r.fieldIndex("classes"));
                float[] p = expected.get(path);
                assertArrayEquals(Prediction.top(p, 0, p.length, TOP_K), classes.stream().mapToInt(Integer::intValue).toArray());
            }
        }
        // the row whose file does not exist: read through Hadoop, its reason says so
        Row missing = rows.stream().filter(r -> r.getString(0).endsWith("missing.png")).findFirst().orElseThrow();
        assertTrue(missing.getString(missing.fieldIndex("error")).startsWith("FileNotFoundException"),
                missing.getString(missing.fieldIndex("error")));

        // Spark's image source decodes to BGR structs; its PNG pixels are ours
        Dataset<Row> structs = spark.read().format("image").load(dir.resolve("images").resolve(KINDS.get(1).task + "_*.png")
                .toString()).selectExpr("image", "image.origin AS path", "'" + KINDS.get(1).task + "' AS task");
        var got = classifier().setImageCol("image").transform(structs).collectAsList();
        assertEquals(5, got.size());
        for (Row r : got) {
            float[] p = expected.get(r.getString(1));
            assertNull(r.getString(r.fieldIndex("error")));
            List<Double> probabilities = r.getList(r.fieldIndex("probabilities"));
            assertEquals(p[Prediction.top(p, 0, p.length, 1)[0]], probabilities.get(0), 1e-5, r.getString(1));
        }
    }

    @Test
    void savedInAPipelineModelAndLoadedBack() throws Exception {
        var model = new Pipeline().setStages(new PipelineStage[] {classifier().setClassesCol("top_classes")}).fit(images);
        String path = dir.resolve("pipeline-model").toString();
        model.write().overwrite().save(path);
        PipelineModel loaded = PipelineModel.load(path);
        assertTrue(loaded.stages()[0] instanceof SptClassifier);
        check(loaded.transform(images).collectAsList(), "artifact_id", "top_classes", "probabilities", "error");
    }

    @Test
    void theSqlFunction() {
        SptFunctions.register(spark, classifier());
        images.createOrReplaceTempView("images");
        var out = spark.sql("SELECT path, r.artifact_id, r.classes, r.probabilities, r.error FROM"
                + " (SELECT path, spt_classify(task, content) AS r FROM images)").collectAsList();
        check(out, "artifact_id", "classes", "probabilities", "error");

        // configured from the session's settings, as PySpark and SQL users do
        spark.conf().set("spark.spt.backbone", backbone.toString());
        spark.conf().set("spark.spt.artifacts", String.join(",", artifacts.values()));
        spark.conf().set("spark.spt.topK", String.valueOf(TOP_K));
        try {
            SptFunctions.register(spark);
            out = spark.sql("SELECT path, r.* FROM (SELECT path, spt_classify(task, content) AS r FROM images)").collectAsList();
            check(out, "artifact_id", "classes", "probabilities", "error");
        } finally {
            spark.conf().unset("spark.spt.backbone");
            spark.conf().unset("spark.spt.artifacts");
            spark.conf().unset("spark.spt.topK");
        }
    }

    @Test
    void aLakesRunResolvesToOneArtifactPerTask() throws Exception {
        String lake = dir.resolve("lake").toUri().toString();
        var schema = new StructType().add("run", DataTypes.StringType).add("task", DataTypes.StringType)
                .add("method", DataTypes.StringType).add("budget", DataTypes.StringType).add("artifact", DataTypes.StringType)
                .add("recorded_at", DataTypes.TimestampType);
        var rows = new ArrayList<Row>();
        for (int t = 0; t < KINDS.size(); t++) {
            // each task's artifact recorded under one method name, as a sweep's results table holds them
            rows.add(RowFactory.create("r1", KINDS.get(t).task, "mixed", null, artifacts.get(KINDS.get(t).task),
                    Timestamp.valueOf("2026-12-01 10:00:00")));
        }
        // an older training of the first task, recorded with another task's artifact: the latest row wins
        rows.add(RowFactory.create("r1", KINDS.get(0).task, "mixed", null, artifacts.get(KINDS.get(1).task),
                Timestamp.valueOf("2026-12-01 09:00:00")));
        rows.add(RowFactory.create("r1", KINDS.get(0).task, "lora", "20k", artifacts.get(KINDS.get(0).task),
                Timestamp.valueOf("2026-12-01 10:00:00")));
        rows.add(RowFactory.create("r1", KINDS.get(0).task, "lora", "40k", artifacts.get(KINDS.get(0).task),
                Timestamp.valueOf("2026-12-01 10:00:00")));
        spark.createDataFrame(rows, schema).write().partitionBy("run").parquet(dir.resolve("lake/tables/results").toString());
        var c = new SptClassifier().setBackbone(backbone.toString()).setLakeRun(lake, "r1", "mixed", null).setTopK(TOP_K)
                .setBatchSize(4);
        check(c.transform(images).collectAsList(), "artifact_id", "classes", "probabilities", "error");

        var ambiguous = assertThrows(IllegalArgumentException.class, () -> new SptClassifier()
                .setBackbone(backbone.toString()).setLakeRun(lake, "r1", "lora", null).transform(images));
        assertTrue(ambiguous.getMessage().contains("has lora artifacts at budgets [20k, 40k] in run r1: give the budget"),
                ambiguous.getMessage());
        // plain lora beside lora@20k: '-' names the one without a budget
        var plain = ArtifactRouter.fromLake(spark, backbone.toString(), lake, "r1", "mixed", "-");
        assertEquals(KINDS.size(), plain.targets().size());
        var budgeted = ArtifactRouter.fromLake(spark, backbone.toString(), lake, "r1", "lora", "20k");
        assertEquals(List.of(KINDS.get(0).task), budgeted.tasks());
        var noRun = assertThrows(IllegalArgumentException.class, () -> new SptClassifier()
                .setBackbone(backbone.toString()).setLakeRun(lake, "r2", "lora", null).transform(images));
        assertTrue(noRun.getMessage().contains("no run 'r2'") && noRun.getMessage().contains("[r1]"), noRun.getMessage());
    }

    @Test
    void routedPredictionsFromATableAndFromAList() throws Exception {
        // a Parquet table with the image bytes: the output keeps the other columns, one row per input row
        String table = dir.resolve("table.parquet").toString();
        images.write().parquet(table);
        String out = dir.resolve("routed").toString();
        var summary = Prediction.routed(spark, classifier(), table, "content", "task", out, line -> { });
        assertEquals(expected.size() + 5, summary.rows());
        assertEquals(expected.size(), summary.predicted());
        assertEquals(5, summary.failed());
        var written = spark.read().parquet(out);
        assertEquals(List.of("path", "task", "artifact_id", "classes", "probabilities", "error"), List.of(written.columns()));
        check(written.collectAsList(), "artifact_id", "classes", "probabilities", "error");

        // a list file: '<image> <task>' lines, relative to its folder
        Path list = dir.resolve("images/routed.txt");
        var lines = new ArrayList<String>();
        for (var kind : KINDS) {
            lines.add(kind.task + "_0.png " + kind.task);
        }
        lines.add("# a comment, then a row of a task without an artifact");
        lines.add(KINDS.get(0).task + "_1.png gen_shapes");
        Files.write(list, lines);
        var fromList = Prediction.routed(spark, classifier(), list.toString(), "image", "task", dir.resolve("routed-list")
                .toString(), line -> { });
        assertEquals(5, fromList.rows());
        assertEquals(4, fromList.predicted());
        assertTrue(fromList.firstFailed().get(0).contains("_1.png: no artifact for task 'gen_shapes'"),
                fromList.firstFailed().toString());
        for (Row r : spark.read().parquet(dir.resolve("routed-list").toString()).collectAsList()) {
            String image = new org.apache.hadoop.fs.Path(r.getString(0)).toUri().getPath();
            if (r.isNullAt(r.fieldIndex("error"))) {
                float[] p = expected.get(Path.of(image).toUri().toString());
                assertTrue(p != null, image + " in " + expected.keySet());
                List<Integer> classes = r.getList(r.fieldIndex("classes"));
                assertArrayEquals(Prediction.top(p, 0, p.length, TOP_K), classes.stream().mapToInt(Integer::intValue).toArray());
            }
        }
        Files.writeString(list, "just-one-field\n");
        var bad = assertThrows(IllegalArgumentException.class, () -> Prediction.routed(spark, classifier(), list.toString(),
                "image", "task", dir.resolve("routed-bad").toString(), line -> { }));
        assertTrue(bad.getMessage().endsWith("line 1: expected '<image> <task>', got 'just-one-field'"), bad.getMessage());
    }

    @Test
    void badSettingsAreOneLineErrors() {
        var e = assertThrows(IllegalArgumentException.class, () -> classifier().setImageCol("pixels").transform(images));
        assertEquals("no image column 'pixels' (columns: [path, content, task]); set imageCol", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> classifier().setImageCol("task").setTaskCol("path")
                .transformSchema(new StructType().add("task", DataTypes.IntegerType).add("path", DataTypes.StringType)));
        assertTrue(e.getMessage().startsWith("image column 'task' is int: expected binary content"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new SptClassifier().setBackbone(backbone.toString())
                .transform(images));
        assertTrue(e.getMessage().startsWith("set the artifacts"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> classifier().setDevice("tpu"));
        assertTrue(e.getMessage().contains("device"), e.getMessage());
        String twice = artifacts.get(KINDS.get(0).task);
        e = assertThrows(IllegalArgumentException.class, () -> new SptClassifier().setBackbone(backbone.toString())
                .setArtifacts(twice, twice).transform(images));
        assertTrue(e.getMessage().startsWith("two artifacts for task gen_clevr_count"), e.getMessage());
    }
}
