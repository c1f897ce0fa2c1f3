package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
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
import org.sptspark.tuning.Method;

/**
 * A SQL user's route: a session started with {@code spark.sql.extensions=SptExtensions}, the
 * artifacts named with {@code SET spark.spt...}, then {@code spt_classify} in plain SQL gives each
 * row what its task's artifact opened alone gives.
 */
class SptExtensionsTest {

    @TempDir
    Path dir;

    @Test
    void plainSqlCallsTheFunctionAfterSettingTheArtifacts() throws Exception {
        Configuration hadoop = HadoopFiles.configuration();
        Path backbone = dir.resolve("backbone.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(m, SptClassifierTest.ARCH, 3), backbone);
        }
        String sha = Checkpoints.sha256(backbone);
        var kinds = List.of(StructuredTaskGenerator.Kind.CLEVR_COUNT, StructuredTaskGenerator.Kind.DSPRITES_ORI);
        var artifacts = new ArrayList<String>();
        var rows = new ArrayList<Row>();
        var expected = new ArrayList<float[]>();
        for (int t = 0; t < kinds.size(); t++) {
            var kind = kinds.get(t);
            String a = ArtifactFixtures.artifact(hadoop, dir.resolve("lake/" + kind.task), backbone, sha,
                    SptClassifierTest.ARCH, t == 0 ? Method.LORA : Method.SNELLA, "demo", kind.task, kind.classes, 20 + t);
            artifacts.add(a);
            try (NDManager manager = NDManager.newBaseManager()) {
                OpenedArtifact opened = OpenedArtifact.open(hadoop, a, backbone.toString(), manager);
                for (int i = 0; i < 3; i++) {
                    byte[] png = VtabWriter.png(new StructuredTaskGenerator(kind, 32, 5).item("test", i).image());
                    rows.add(RowFactory.create(rows.size(), kind.task, png));
                    expected.add(ArtifactFixtures.probabilities(opened,
                            ImagePreprocessor.toTensor(ImageDecoder.decode(png, "test"), 32, Normalization.IMAGENET), 32));
                }
                opened.tuned().close();
            }
        }
        // the extensions apply to sessions made after they are configured: none may be running
        SparkSession.getActiveSession().foreach(s -> {
            s.stop();
            return null;
        });
        SparkSession.getDefaultSession().foreach(s -> {
            s.stop();
            return null;
        });
        SparkSession spark = LocalSpark.start("SptExtensionsTest", Map.of("spark.sql.extensions",
                SptExtensions.class.getName()));
        try {
            spark.createDataFrame(rows, new StructType().add("id", DataTypes.IntegerType).add("task", DataTypes.StringType)
                    .add("content", DataTypes.BinaryType)).createOrReplaceTempView("images");
            spark.sql("SET spark.spt.backbone=" + backbone);
            spark.sql("SET spark.spt.artifacts=" + String.join(",", artifacts));
            spark.sql("SET spark.spt.topK=2");
            List<Row> out = spark.sql("SELECT id, spt_classify(task, content) AS r FROM images ORDER BY id").collectAsList();
            assertEquals(rows.size(), out.size());
            for (Row r : out) {
                Row result = r.getStruct(1);
                float[] p = expected.get(r.getInt(0));
                int[] top = Prediction.top(p, 0, p.length, 2);
                List<Integer> classes = result.getList(result.fieldIndex("classes"));
                List<Double> probabilities = result.getList(result.fieldIndex("probabilities"));
                assertArrayEquals(top, classes.stream().mapToInt(Integer::intValue).toArray(), "row " + r.getInt(0));
                assertEquals(p[top[0]], probabilities.get(0), 1e-5);
                assertTrue(result.getString(result.fieldIndex("artifact_id")).startsWith("demo/" + kinds.get(r.getInt(0) / 3).task
                        + "/"), result.toString());
            }
            var e = assertThrows(Exception.class, () -> spark.sql("SELECT spt_classify(task) FROM images").collectAsList());
            assertTrue(e.getMessage().contains("spt_classify takes two arguments (task, content), not 1"), e.getMessage());
        } finally {
            spark.stop();
        }
    }
}
