package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.data.DatasetReader;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.ImageBatch;
import org.sptspark.data.ImageDecoder;
import org.sptspark.data.ImagePreprocessor;
import org.sptspark.data.Normalization;
import org.sptspark.data.Sample;
import org.sptspark.data.Split;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.TaskSpec;
import org.sptspark.data.VtabWriter;

class ImageTableTest {

    @TempDir
    static Path root;

    static SparkSession spark;
    static final TaskSpec TASK = new TaskSpec("gen_dsprites_loc", 16, "structured", TaskSpec.Layout.VTAB, null, null);

    @BeforeAll
    static void start() {
        spark = LocalSpark.start("ImageTableTest");
        try (var writer = new VtabWriter(HadoopFiles.configuration(), root.toString(), TASK.name())) {
            new StructuredTaskGenerator(StructuredTaskGenerator.Kind.DSPRITES_LOC, 32, 1).write(writer, 40);
            writer.commit();
        }
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    @Test
    void executorsReadEveryImageWithItsRowAndLabelWhateverThePartitioning() throws Exception {
        List<Sample> expected = new DatasetReader(HadoopFiles.configuration()).read(root.toString(), TASK, Split.TRAIN);
        for (int partitions : new int[] {1, 3}) {
            List<Row> rows = new ArrayList<>(ImageTable.read(spark, root.toUri().toString(), TASK, Split.TRAIN, partitions)
                    .collectAsList());
            rows.sort(Comparator.comparingLong(r -> r.getLong(0)));
            assertEquals(800, rows.size());
            for (int i = 0; i < rows.size(); i += 97) {
                Row r = rows.get(i);
                assertEquals(i, r.getLong(0));
                assertEquals(expected.get(i).label(), r.getInt(2));
                String file = expected.get(i).path().replaceFirst("^file:", "");
                assertArrayEquals(Files.readAllBytes(Path.of(file)), (byte[]) r.get(4));
            }
        }
    }

    @Test
    void aMissingImageFailsTheJobNamingIt() throws Exception {
        Path extra = root.resolve("broken");
        try (var writer = new VtabWriter(HadoopFiles.configuration(), extra.toString(), TASK.name())) {
            new StructuredTaskGenerator(StructuredTaskGenerator.Kind.DSPRITES_LOC, 32, 2).write(writer, 5);
            writer.commit();
        }
        Files.delete(extra.resolve(TASK.name()).resolve("images/test/000003.png"));
        var e = assertThrows(Exception.class,
                () -> ImageTable.read(spark, extra.toString(), TASK, Split.TEST, 2).collectAsList());
        String message = String.valueOf(e.getMessage()) + String.valueOf(e.getCause());
        assertTrue(message.contains("000003.png (test.txt line 4)"), message);
    }

    @Test
    void batchesHoldPreprocessedImagesInRowOrder() throws Exception {
        List<Row> rows = ImageTable.read(spark, root.toString(), TASK, Split.TEST, 2).orderBy("row").limit(4).collectAsList();
        var bytes = new ArrayList<byte[]>();
        var sources = new ArrayList<String>();
        long[] labels = new long[4];
        long[] order = new long[4];
        for (int i = 0; i < 4; i++) {
            bytes.add((byte[]) rows.get(i).get(4));
            sources.add(rows.get(i).getString(1));
            labels[i] = rows.get(i).getInt(2);
            order[i] = rows.get(i).getLong(0);
        }
        ImageBatch batch = ImageBatch.of(bytes, sources, labels, order, 48, Normalization.IMAGENET);
        try (NDManager manager = NDManager.newBaseManager()) {
            var images = batch.images(manager);
            assertEquals(new Shape(4, 3, 48, 48), images.getShape());
            float[] third = ImagePreprocessor.toTensor(ImageDecoder.decode(bytes.get(2), "x"), 48, Normalization.IMAGENET);
            assertArrayEquals(third, images.get(2).toFloatArray());
            assertArrayEquals(labels, batch.labels(manager).toLongArray());
        }
    }
}
