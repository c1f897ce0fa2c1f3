package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
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
import org.sptspark.model.VitConfig;
import org.sptspark.tuning.Method;

/**
 * {@code spt predict}'s job: two artifacts of different methods and class counts on one shared
 * backbone give exactly what each artifact opened on its own backbone copy gives; a broken image
 * and a decompression bomb are reported; a foreign artifact is refused.
 */
class PredictionTest {

    static final VitConfig ARCH = new VitConfig("vit_predict_test", 32, 8, 3, 48, 2, 3, 96, 1, 1e-6, 0.0);

    @TempDir
    Path dir;

    Configuration hadoop = HadoopFiles.configuration();

    String artifact(Path backbone, String sha, Method method, int classes, long seed) throws Exception {
        return ArtifactFixtures.artifact(hadoop, dir.resolve("lake/" + method.id()), backbone, sha, ARCH, method, "test",
                "task" + classes, classes, seed);
    }

    @Test
    void sharedBackboneOverlaysPredictWhatEachArtifactAloneDoes() throws Exception {
        Path backbone = dir.resolve("backbone.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(m, ARCH, 3), backbone);
        }
        String sha = Checkpoints.sha256(backbone);
        // LoRA with a 5-class head; bias-only trains whole vectors, which an overlay must never write into the backbone
        String lora = artifact(backbone, sha, Method.LORA, 5, 1);
        String bias = artifact(backbone, sha, Method.BIAS, 3, 2);
        Path images = dir.resolve("images/nested");
        Files.createDirectories(images);
        var gen = new StructuredTaskGenerator(StructuredTaskGenerator.Kind.CLEVR_COUNT, 32, 4);
        for (int i = 0; i < 11; i++) {
            Files.write(images.resolve(String.format("img%02d.png", i)), VtabWriter.png(gen.item("test", i).image()));
        }
        Files.writeString(images.resolve("broken.png"), "not an image");
        // a decompression bomb (20000x20000 declared): skipped from its header, like an undecodable image
        Files.write(images.resolve("bomb.png"), org.sptspark.bench.PreprocessBenchmark.decompressionBomb(20000, 20000, false));
        Files.writeString(images.resolve("notes.txt"), "ignored: not an image name");

        SparkSession spark = LocalSpark.start("PredictionTest");
        try {
            String out = dir.resolve("predictions").toString();
            var summary = Prediction.run(spark, backbone.toString(), List.of(lora, bias), dir.resolve("images").toString(),
                    out, 3, 4, line -> { });
            assertEquals(13, summary.images());
            assertEquals(22, summary.predictions());
            assertEquals(2, summary.skipped());
            assertTrue(summary.firstSkipped().get(0).contains("bomb.png: 20000x20000 = 400,000,000 pixels, above the limit"
                    + " of 178,956,970 (PIL's)"), summary.firstSkipped().toString());
            assertTrue(summary.firstSkipped().get(1).contains("broken.png"), summary.firstSkipped().toString());
            String skipList = Files.readString(dir.resolve("predictions/_skipped/skipped.jsonl"));
            assertTrue(skipList.contains("broken.png") && skipList.contains("ImageTooLargeException"), skipList);

            List<Row> rows = spark.read().parquet(out).collectAsList();
            assertEquals(22, rows.size());
            Map<String, Row> byKey = new HashMap<>();
            for (Row r : rows) {
                byKey.put(r.getString(r.fieldIndex("image")) + "|" + r.getString(r.fieldIndex("artifact")), r);
            }
            for (String artifact : List.of(lora, bias)) {
                try (NDManager manager = NDManager.newBaseManager()) {
                    // the reference: the artifact opened alone, on its own backbone copy
                    OpenedArtifact opened = OpenedArtifact.open(hadoop, artifact, backbone.toString(), manager);
                    for (int i = 0; i < 11; i++) {
                        Path image = images.resolve(String.format("img%02d.png", i));
                        float[] x = ImagePreprocessor.toTensor(ImageDecoder.decode(Files.readAllBytes(image), "img"), 32,
                                Normalization.IMAGENET);
                        float[] p = ArtifactFixtures.probabilities(opened, x, 32);
                        int[] expected = Prediction.top(p, 0, p.length, 3);
                        Row r = byKey.get(image.toUri().toString().replace("file:///", "file:/") + "|" + artifact);
                        assertTrue(r != null, "no prediction for " + image + " with " + artifact + " in " + byKey.keySet());
                        List<Integer> classes = r.getList(r.fieldIndex("classes"));
                        List<Double> probabilities = r.getList(r.fieldIndex("probabilities"));
                        assertArrayEquals(expected, classes.stream().mapToInt(Integer::intValue).toArray());
                        for (int k = 0; k < expected.length; k++) {
                            assertEquals(p[expected[k]], probabilities.get(k), 1e-5, artifact + " image " + i);
                        }
                    }
                    opened.tuned().close();
                }
            }

            // an artifact trained on another backbone is refused before any work
            Path other = dir.resolve("other.safetensors");
            try (NDManager m = NDManager.newBaseManager()) {
                Checkpoints.write(VisionTransformer.create(m, ARCH, 9), other);
            }
            var e = assertThrows(IllegalArgumentException.class, () -> Prediction.run(spark, other.toString(), List.of(lora),
                    dir.resolve("images").toString(), dir.resolve("p2").toString(), 3, 4, line -> { }));
            assertTrue(e.getMessage().contains("was trained on a backbone with sha256"), e.getMessage());
            var missing = assertThrows(IllegalArgumentException.class, () -> Prediction.run(spark, backbone.toString(),
                    List.of(dir.resolve("lake/nothing").toUri().toString()), dir.resolve("images").toString(),
                    dir.resolve("p3").toString(), 3, 4, line -> { }));
            assertTrue(missing.getMessage().contains("no committed artifact"), missing.getMessage());
        } finally {
            spark.stop();
        }
    }
}
