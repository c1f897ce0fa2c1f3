package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
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
import org.sptspark.model.TensorSpec;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;

/**
 * One job over the most batches, keeping the sums of its prefixes, gives each prefix the scores a
 * job of that many batches gives: bit for bit on one partition, to float64 rounding on several.
 */
class PrefixSensitivityTest {

    @TempDir
    static Path dir;

    static SparkSession spark;
    static final TaskSpec TASK = new TaskSpec("gen_dsprites_ori", 16, "structured", TaskSpec.Layout.VTAB, null, null);
    static final VitConfig TINY = new VitConfig("prefix_tiny", 32, 8, 3, 32, 2, 2, 64, 16, 1e-6, 0.1);
    static final int B = 4;
    static final int[] PREFIXES = {1, 2, 4, 7};
    static String checkpoint;
    static String sha;

    @BeforeAll
    static void setUp() throws Exception {
        spark = LocalSpark.start("PrefixSensitivityTest");
        try (var writer = new VtabWriter(HadoopFiles.configuration(), dir.toString(), TASK.name())) {
            new StructuredTaskGenerator(StructuredTaskGenerator.Kind.DSPRITES_ORI, 32, 2).write(writer, 10);
            writer.commit();
        }
        checkpoint = dir.resolve("tiny.safetensors").toString();
        try (NDManager manager = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(manager, TINY, 13), Path.of(checkpoint));
        }
        sha = Checkpoints.sha256(Path.of(checkpoint));
    }

    @AfterAll
    static void tearDown() {
        spark.stop();
    }

    static DistributedSensitivity.Request request(int batches, int partitions) {
        // a small block size, so that each prefix's scores span several aggregation blocks
        return new DistributedSensitivity.Request(TASK, dir.toString(), checkpoint, sha, TINY, Normalization.IMAGENET, B,
                batches, 9, partitions, 3_000);
    }

    @Test
    void eachPrefixEqualsAJobOfThatManyBatchesBitForBitOnOnePartition() {
        var prefixes = DistributedSensitivity.runPrefixes(spark, request(7, 1), PREFIXES,
                DistributedSensitivity.PartitionHook.NONE);
        assertEquals(PREFIXES.length, prefixes.size());
        for (int i = 0; i < PREFIXES.length; i++) {
            var alone = DistributedSensitivity.run(spark, request(PREFIXES[i], 1));
            assertEquals(PREFIXES[i], prefixes.get(i).batches());
            assertEquals(PREFIXES[i] * B, prefixes.get(i).images());
            for (TensorSpec t : alone.scores().space().scored()) {
                assertArrayEquals(alone.scores().get(t.name()), prefixes.get(i).scores().get(t.name()),
                        PREFIXES[i] + " batches, " + t.name());
            }
        }
        // more batches, larger sums: the prefixes are different score sets, not copies
        float[] one = prefixes.get(0).scores().get("blocks.0.attn.v.weight");
        float[] seven = prefixes.get(3).scores().get("blocks.0.attn.v.weight");
        assertTrue(sum(seven) > sum(one) && sum(one) > 0, sum(one) + " vs " + sum(seven));
    }

    @Test
    void onSeveralPartitionsEachPrefixEqualsAJobOfThatManyBatchesToRounding() {
        List<Map<Integer, double[]>> prefixes = DistributedSensitivity.prefixSums(spark, request(7, 3), PREFIXES,
                DistributedSensitivity.PartitionHook.NONE);
        for (int i = 0; i < PREFIXES.length; i++) {
            Map<Integer, double[]> alone = DistributedSensitivity.sums(spark, request(PREFIXES[i], 3));
            assertEquals(alone.keySet(), prefixes.get(i).keySet());
            double maxDiff = 0;
            double maxRef = 0;
            for (var e : alone.entrySet()) {
                double[] a = e.getValue();
                double[] b = prefixes.get(i).get(e.getKey());
                for (int j = 0; j < a.length; j++) {
                    maxDiff = Math.max(maxDiff, Math.abs(a[j] - b[j]));
                    maxRef = Math.max(maxRef, Math.abs(a[j]));
                }
            }
            assertTrue(maxRef > 0 && maxDiff / maxRef <= 1e-12, PREFIXES[i] + " batches: " + maxDiff / maxRef);
        }
    }

    @Test
    void prefixesMustRiseAndEndAtTheRequestsBatches() {
        for (int[] bad : new int[][] {{1, 4}, {2, 2, 7}, {0, 7}, {}}) {
            var e = assertThrows(IllegalArgumentException.class, () -> DistributedSensitivity.runPrefixes(spark,
                    request(7, 1), bad, DistributedSensitivity.PartitionHook.NONE));
            assertTrue(e.getMessage().startsWith("batch prefixes "), e.getMessage());
        }
    }

    private static double sum(float[] v) {
        double s = 0;
        for (float f : v) {
            s += f;
        }
        return s;
    }
}
