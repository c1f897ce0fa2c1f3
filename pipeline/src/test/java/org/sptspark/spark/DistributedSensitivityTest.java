package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.data.DatasetReader;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.ImageBatch;
import org.sptspark.data.Normalization;
import org.sptspark.data.Sample;
import org.sptspark.data.Split;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.TaskSpec;
import org.sptspark.data.VtabWriter;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.StateDict;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.model.VitInitializer;
import org.sptspark.sensitivity.SensitivityScorer;

class DistributedSensitivityTest {

    @TempDir
    static Path dir;

    static SparkSession spark;
    static final TaskSpec TASK = new TaskSpec("gen_dsprites_loc", 16, "structured", TaskSpec.Layout.VTAB, null, null);
    static final VitConfig TINY = new VitConfig("sens_tiny", 32, 8, 3, 32, 2, 2, 64, 16, 1e-6, 0.1);
    static final int B = 8;
    static final int BATCHES = 6;
    static final int BLOCK = 5_000;
    static String checkpoint;
    static String sha;

    @BeforeAll
    static void setUp() throws Exception {
        spark = LocalSpark.start("DistributedSensitivityTest");
        try (var writer = new VtabWriter(HadoopFiles.configuration(), dir.toString(), TASK.name())) {
            new StructuredTaskGenerator(StructuredTaskGenerator.Kind.DSPRITES_LOC, 32, 5).write(writer, 10);
            writer.commit();
        }
        checkpoint = dir.resolve("tiny.safetensors").toString();
        try (NDManager manager = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(manager, TINY, 11), Path.of(checkpoint));
        }
        sha = Checkpoints.sha256(Path.of(checkpoint));
    }

    @AfterAll
    static void tearDown() {
        spark.stop();
    }

    static DistributedSensitivity.Request request(String ckpt, String digest, int partitions) {
        return new DistributedSensitivity.Request(TASK, dir.toString(), ckpt, digest, TINY, Normalization.IMAGENET, B,
                BATCHES, 42, partitions, BLOCK);
    }

    /** Fails the first attempt of one partition, so that Spark retries it. */
    static DistributedSensitivity.PartitionHook failFirstAttemptOf(int partition) {
        return context -> {
            if (context.partitionId() == partition && context.attemptNumber() == 0) {
                throw new IllegalStateException("injected failure of partition " + partition
                        + " (first attempt), for testing retries");
            }
        };
    }

    @Test
    void scoresDoNotDependOnThePartitioningAndEqualTheSequentialScorer() throws Exception {
        Map<Integer, double[]> one = DistributedSensitivity.sums(spark, request(checkpoint, sha, 1));
        double[] sequential = sequentialScores();
        double vsSequential = relativeDifference(one, sequential);
        assertTrue(vsSequential <= 1e-9, "Spark vs sequential: " + vsSequential);
        for (int partitions : new int[] {2, 4}) {
            Map<Integer, double[]> other = DistributedSensitivity.sums(spark, request(checkpoint, sha, partitions));
            double diff = relativeDifference(other, flatten(one));
            assertTrue(diff <= 1e-9, partitions + " partitions differ from 1 by " + diff);
        }
        var result = DistributedSensitivity.run(spark, request(checkpoint, sha, 3));
        assertEquals(BATCHES, result.batches());
        assertEquals(B * BATCHES, result.images());
        float[] q = result.scores().get("blocks.1.attn.q.weight");
        assertTrue(q.length == 32 * 32 && maxAbs(q) > 0);
    }

    @Test
    void aTaskThatFailsOnceIsRetriedAndTheScoresAreUnchanged() {
        Map<Integer, double[]> clean = DistributedSensitivity.sums(spark, request(checkpoint, sha, 3));
        Map<Integer, double[]> retried = DistributedSensitivity.sums(spark, request(checkpoint, sha, 3),
                failFirstAttemptOf(1));
        double diff = relativeDifference(retried, flatten(clean));
        assertTrue(diff <= 1e-9, "retried vs clean: " + diff);
    }

    @Test
    void aNanLossStopsTheJobNamingTaskAndBatch() throws Exception {
        Path broken = dir.resolve("nan.safetensors");
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = VisionTransformer.create(manager, TINY, 11);
            float[] w = model.parameter("blocks.0.norm1.weight").getArray().toFloatArray();
            w[0] = Float.NaN;
            org.sptspark.model.Tensors.assign(model.parameter("blocks.0.norm1.weight").getArray(), w);
            Checkpoints.write(model, broken);
        }
        var e = assertThrows(Exception.class, () -> DistributedSensitivity.sums(spark,
                request(broken.toString(), Checkpoints.sha256(broken), 2)));
        String message = String.valueOf(e.getMessage());
        assertTrue(message.contains("loss is NaN in task 'gen_dsprites_loc', batch "), message);
    }

    /** The same batches through the scorer alone, in one JVM, without Spark. */
    private static double[] sequentialScores() throws Exception {
        List<Sample> train = new DatasetReader(HadoopFiles.configuration()).read(dir.toString(), TASK, Split.TRAIN);
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = VisionTransformer.create(manager, TINY, 0);
            try (StateDict dict = Checkpoints.read(Path.of(checkpoint), manager)) {
                Checkpoints.load(model, dict, Checkpoints.HeadPolicy.DROP);
            }
            VitInitializer.reinitializeHead(model, 42);
            try (var scorer = new SensitivityScorer(model, manager)) {
                for (int b = 0; b < BATCHES; b++) {
                    var bytes = new java.util.ArrayList<byte[]>();
                    var sources = new java.util.ArrayList<String>();
                    long[] labels = new long[B];
                    long[] rows = new long[B];
                    for (int i = 0; i < B; i++) {
                        Sample s = train.get(b * B + i);
                        bytes.add(Files.readAllBytes(Path.of(s.path())));
                        sources.add(s.path());
                        labels[i] = s.label();
                        rows[i] = s.row();
                    }
                    var batch = ImageBatch.of(bytes, sources, labels, rows, 32, Normalization.IMAGENET);
                    try (NDManager step = manager.newSubManager()) {
                        scorer.add(batch.images(step), batch.labels(step), DistributedSensitivity.dropPathSeed(42, b),
                                "batch " + b);
                    }
                }
                return scorer.sums().values().stream().flatMapToDouble(java.util.Arrays::stream).toArray();
            }
        }
    }

    private static double[] flatten(Map<Integer, double[]> blocks) {
        return blocks.values().stream().flatMapToDouble(java.util.Arrays::stream).toArray();
    }

    /** max |a - b| / max |b| over the scored vector (blocks' zero padding beyond it ignored). */
    private static double relativeDifference(Map<Integer, double[]> blocks, double[] reference) {
        double[] a = flatten(blocks);
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < reference.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - reference[i]));
            maxRef = Math.max(maxRef, Math.abs(reference[i]));
        }
        return maxDiff / maxRef;
    }

    private static double maxAbs(float[] v) {
        double m = 0;
        for (float f : v) {
            m = Math.max(m, Math.abs(f));
        }
        return m;
    }
}
