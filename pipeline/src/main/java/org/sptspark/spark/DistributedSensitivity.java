package org.sptspark.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.floor;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.SerializableConfiguration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sptspark.data.DatasetReader;
import org.sptspark.data.ImageBatch;
import org.sptspark.data.Normalization;
import org.sptspark.data.Sample;
import org.sptspark.data.Split;
import org.sptspark.data.TaskSpec;
import org.sptspark.model.Gradients;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.Precision;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.Backbone;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.VitInitializer;
import org.sptspark.sensitivity.SensitivityScorer;
import org.sptspark.sensitivity.SensitivityScores;
import scala.Tuple2;

/**
 * SPT's sensitivity as a Spark job. Batch i is rows {@code i*B .. (i+1)*B-1} of the task's
 * {@code train800} listing; whole batches are distributed (repartitioned by batch index), so the
 * scores do not depend on the partitioning, and a batch's drop-path masks are seeded from the run
 * seed and its index, so a retried task recomputes exactly what it lost. Each executor JVM loads
 * the backbone once ({@link BackboneCache}) on its task's GPU or the CPU; every partition
 * re-initialises the head from the run seed. Partial sums leave the executors as fixed-size
 * float64 blocks of the flat score vector, summed by {@code reduceByKey} on the executors, so the
 * driver receives only the final vector.
 */
public final class DistributedSensitivity {

    private static final Logger LOG = LoggerFactory.getLogger(DistributedSensitivity.class);
    private static final int COUNT_KEY = -1;

    /**
     * What to score.
     *
     * @param backbone the architecture, with the task's class count and the drop-path rate
     * @param batchSize images per batch (reference: 32)
     * @param batches how many batches from the start of train800 (reference: 16)
     * @param partitions Spark partitions the batches are spread over
     * @param blockSize doubles per aggregation block
     * @param precision the forward and backward passes' arithmetic (the sums are float64 either way)
     * @param checkpointActivations run each batch's backward pass with activation checkpointing (the
     *     same scores in less memory; see {@link org.sptspark.model.Backprop})
     */
    public record Request(TaskSpec task, String dataRoot, String checkpoint, String checkpointSha256, BackboneConfig backbone,
            Normalization normalization, int batchSize, int batches, long seed, int partitions, int blockSize,
            Precision precision, boolean checkpointActivations) implements java.io.Serializable {

        /** A request without activation checkpointing. */
        public Request(TaskSpec task, String dataRoot, String checkpoint, String checkpointSha256, BackboneConfig backbone,
                Normalization normalization, int batchSize, int batches, long seed, int partitions, int blockSize,
                Precision precision) {
            this(task, dataRoot, checkpoint, checkpointSha256, backbone, normalization, batchSize, batches, seed, partitions,
                    blockSize, precision, false);
        }

        /** A float32 request. */
        public Request(TaskSpec task, String dataRoot, String checkpoint, String checkpointSha256, BackboneConfig backbone,
                Normalization normalization, int batchSize, int batches, long seed, int partitions, int blockSize) {
            this(task, dataRoot, checkpoint, checkpointSha256, backbone, normalization, batchSize, batches, seed, partitions,
                    blockSize, Precision.FP32);
        }

        public Request {
            if (precision == null) {
                throw new IllegalArgumentException("a sensitivity request needs a precision (fp32 or bf16)");
            }
            if (batchSize < 1 || batches < 1 || partitions < 1 || blockSize < 1) {
                throw new IllegalArgumentException("batch size, batches, partitions and block size must be positive");
            }
            backbone.requirePrecision(precision);
            if (backbone.numClasses() != task.classes()) {
                throw new IllegalArgumentException("the backbone's head has " + backbone.numClasses()
                        + " outputs but task '" + task.name() + "' has " + task.classes() + " classes");
            }
        }
    }

    /** The scores with what produced them. */
    public record Result(SensitivityScores scores, int batches, int images, double seconds) {}

    /**
     * Called on the executor at the start of each partition's scoring, with the running task's context
     * (partition id, attempt number). An exception it throws fails that attempt, which Spark retries;
     * tests use it to check that a retried partition leaves the scores unchanged. It travels to the
     * executors inside the job's closure.
     */
    @FunctionalInterface
    public interface PartitionHook extends java.io.Serializable {

        /** Does nothing. */
        PartitionHook NONE = context -> { };

        void beforePartition(TaskContext context);
    }

    private DistributedSensitivity() {}

    /** The float64 sums by block ({@code blockSize} doubles each), checked to cover every batch. */
    static Map<Integer, double[]> sums(SparkSession spark, Request request) {
        return sums(spark, request, PartitionHook.NONE);
    }

    /** {@link #sums(SparkSession, Request)}, calling {@code hook} before each partition's scoring. */
    static Map<Integer, double[]> sums(SparkSession spark, Request request, PartitionHook hook) {
        return prefixSums(spark, request, new int[] {request.batches()}, hook).get(0);
    }

    /**
     * The float64 sums by block of each prefix of the request's batches (prefix i: batches
     * {@code 0 .. prefixes[i]-1}), from one pass over {@code request.batches()} batches. Each
     * partition scores its batches in index order and snapshots its running sums as it passes a
     * prefix's end, so a prefix's partial sums are exactly what a job of that many batches would
     * compute on the same partitioning (a batch's partition depends on its index alone). Each
     * executor holds one copy of the scores per prefix until its partition ends.
     *
     * @param prefixes strictly increasing, the last equal to {@code request.batches()}
     */
    static List<Map<Integer, double[]>> prefixSums(SparkSession spark, Request request, int[] prefixes, PartitionHook hook) {
        checkPrefixes(prefixes, request.batches());
        long images = (long) request.batchSize() * request.batches();
        // the listing is small and read on the driver anyway: no Spark job is needed to count or cut it
        List<Sample> train = new DatasetReader(spark.sparkContext().hadoopConfiguration())
                .read(request.dataRoot(), request.task(), Split.TRAIN);
        if (train.size() < images) {
            throw new IllegalArgumentException("task '" + request.task().name() + "': " + request.batches() + " batches of "
                    + request.batchSize() + " need " + images + " images, but train800 lists " + train.size());
        }
        Dataset<Row> selected = ImageTable.frame(spark, train.subList(0, (int) images))
                .withColumn("batch", floor(col("row").divide(request.batchSize())))
                .repartition(request.partitions(), col("batch"));
        Broadcast<SerializableConfiguration> hadoop = ImageTable.hadoopConfiguration(spark);
        int stride = blocksPerPrefix(request);
        JavaPairRDD<Integer, double[]> partial = ImageTable.withBytes(spark, selected).javaRDD()
                .mapPartitionsToPair(rows -> {
                    hook.beforePartition(TaskContext.get());
                    return scorePartition(rows, request, prefixes, stride, hadoop.value().value());
                });
        var byPrefix = new ArrayList<Map<Integer, double[]>>();
        for (int i = 0; i < prefixes.length; i++) {
            byPrefix.add(new TreeMap<>());
        }
        var counts = new int[prefixes.length];
        for (Tuple2<Integer, double[]> t : partial.reduceByKey(DistributedSensitivity::sum, request.partitions()).collect()) {
            int key = t._1();
            if (key < 0) {
                counts[COUNT_KEY - key] = (int) t._2()[0];
            } else {
                byPrefix.get(key / stride).put(key % stride, t._2());
            }
        }
        for (int i = 0; i < prefixes.length; i++) {
            if (counts[i] != prefixes[i]) {
                throw new IllegalStateException("task '" + request.task().name() + "': " + counts[i] + " of " + prefixes[i]
                        + " batches were scored");
            }
        }
        return byPrefix;
    }

    public static Result run(SparkSession spark, Request request) {
        return run(spark, request, PartitionHook.NONE);
    }

    /** The scores of {@code request}, calling {@code hook} on the executor before each partition's scoring. */
    public static Result run(SparkSession spark, Request request, PartitionHook hook) {
        return runPrefixes(spark, request, new int[] {request.batches()}, hook).get(0);
    }

    /**
     * The scores of each prefix of the request's batches, from one job over {@code request.batches()}
     * batches: the scores of the first {@code prefixes[i]} batches, equal to those of a request for
     * that many batches (see {@link #prefixSums}). Every result records the whole job's seconds.
     *
     * @param prefixes strictly increasing, the last equal to {@code request.batches()}
     */
    public static List<Result> runPrefixes(SparkSession spark, Request request, int[] prefixes, PartitionHook hook) {
        long start = System.nanoTime();
        List<Map<Integer, double[]>> byPrefix = prefixSums(spark, request, prefixes, hook);
        double seconds = (System.nanoTime() - start) / 1e9;
        long images = (long) request.batchSize() * request.batches();
        LOG.info("sensitivity of {}: {} batches of {} in {} s ({} images/s)", request.task().name(), request.batches(),
                request.batchSize(), String.format("%.1f", seconds), String.format("%.1f", images / seconds));
        var space = request.backbone().space();
        String id = request.task().name() + "@" + request.checkpointSha256().substring(0, 12);
        var results = new ArrayList<Result>();
        for (int i = 0; i < prefixes.length; i++) {
            Map<Integer, double[]> byKey = byPrefix.get(i);
            var scores = new LinkedHashMap<String, float[]>();
            long offset = 0;
            for (TensorSpec t : space.scored()) {
                float[] values = new float[Math.toIntExact(t.size())];
                for (int j = 0; j < values.length; j++) {
                    long flat = offset + j;
                    values[j] = (float) byKey.get((int) (flat / request.blockSize()))[(int) (flat % request.blockSize())];
                }
                scores.put(t.name(), values);
                offset += t.size();
            }
            results.add(new Result(new SensitivityScores(space, scores, id), prefixes[i],
                    prefixes[i] * request.batchSize(), seconds));
        }
        return results;
    }

    private static void checkPrefixes(int[] prefixes, int batches) {
        if (prefixes.length == 0 || prefixes[prefixes.length - 1] != batches) {
            throw new IllegalArgumentException("batch prefixes " + java.util.Arrays.toString(prefixes)
                    + " must end at the request's " + batches + " batches");
        }
        for (int i = 0; i < prefixes.length; i++) {
            if (prefixes[i] < 1 || (i > 0 && prefixes[i] <= prefixes[i - 1])) {
                throw new IllegalArgumentException("batch prefixes " + java.util.Arrays.toString(prefixes)
                        + " must be positive and strictly increasing");
            }
        }
    }

    /** Aggregation blocks per prefix: the flat score vector's length over the block size, rounded up. */
    private static int blocksPerPrefix(Request request) {
        long size = request.backbone().space().scoredSize();
        return Math.toIntExact((size + request.blockSize() - 1) / request.blockSize());
    }

    private static double[] sum(double[] a, double[] b) {
        for (int i = 0; i < a.length; i++) {
            a[i] += b[i];
        }
        return a;
    }

    /**
     * Scores every batch of one partition in index order; emits, for each prefix i, its partial sums
     * as {@code (i * stride + block, values)} and {@code (COUNT_KEY - i, {batches})}.
     */
    private static Iterator<Tuple2<Integer, double[]>> scorePartition(Iterator<Row> rows, Request request, int[] prefixes,
            int stride, org.apache.hadoop.conf.Configuration hadoop) {
        long maxPixels = org.sptspark.data.DataLimits.of(hadoop).maxImagePixels();
        var byBatch = new TreeMap<Long, List<Row>>();
        while (rows.hasNext()) {
            Row r = rows.next();
            byBatch.computeIfAbsent(r.getLong(0) / request.batchSize(), b -> new ArrayList<>()).add(r);
        }
        if (byBatch.isEmpty()) {
            return List.<Tuple2<Integer, double[]>>of().iterator();
        }
        Device device = Devices.forCurrentTask();
        request.precision().requireSupported(device);
        var out = new ArrayList<Tuple2<Integer, double[]>>();
        synchronized (Gradients.ENGINE_LOCK) {
            Backbone model = BackboneCache.backbone(request.checkpoint(), request.checkpointSha256(),
                    request.backbone(), device, hadoop);
            VitInitializer.reinitializeHead(model, request.seed());
            model.setPrecision(request.precision()); // the cached backbone is shared: every task sets its own
            try (NDManager manager = NDManager.newBaseManager(device);
                    var scorer = new SensitivityScorer(model, manager).checkpointActivations(request.checkpointActivations())) {
                int level = 0;
                for (var e : byBatch.entrySet()) {
                    while (e.getKey() >= prefixes[level]) {
                        out.addAll(blocks(scorer.sums(), request.blockSize(), scorer.batches(), level++, stride));
                    }
                    List<Row> batch = e.getValue();
                    batch.sort((x, y) -> Long.compare(x.getLong(0), y.getLong(0)));
                    var bytes = new ArrayList<byte[]>();
                    var sources = new ArrayList<String>();
                    long[] labels = new long[batch.size()];
                    long[] order = new long[batch.size()];
                    for (int i = 0; i < batch.size(); i++) {
                        Row r = batch.get(i);
                        sources.add(org.sptspark.data.Sample.describe(r.getString(1), r.getString(3)));
                        labels[i] = r.getInt(2);
                        order[i] = r.getLong(0);
                        bytes.add((byte[]) r.get(4));
                    }
                    ImageBatch images = ImageBatch.of(bytes, sources, labels, order, request.backbone().imageSize(),
                            request.normalization(), maxPixels);
                    try (NDManager step = manager.newSubManager()) {
                        scorer.add(images.images(step), images.labels(step), dropPathSeed(request.seed(), e.getKey()),
                                "task '" + request.task().name() + "', batch " + e.getKey());
                    }
                }
                while (level < prefixes.length) {
                    out.addAll(blocks(scorer.sums(), request.blockSize(), scorer.batches(), level++, stride));
                }
            }
        }
        return out.iterator();
    }

    /** The seed of one batch's drop-path masks: a function of the run seed and the batch index only. */
    static long dropPathSeed(long seed, long batch) {
        long z = seed * 0x9E3779B97F4A7C15L + batch;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        return z ^ (z >>> 27);
    }

    /** One prefix's partial sums as {@code (level * stride + block, values)} and its batch count. */
    private static List<Tuple2<Integer, double[]>> blocks(Map<String, double[]> sums, int blockSize, int batches, int level,
            int stride) {
        var out = new ArrayList<Tuple2<Integer, double[]>>();
        out.add(new Tuple2<>(COUNT_KEY - level, new double[] {batches}));
        double[] block = null;
        long flat = 0;
        for (double[] tensor : sums.values()) {
            for (double v : tensor) {
                int within = (int) (flat % blockSize);
                if (within == 0) {
                    block = new double[blockSize];
                    out.add(new Tuple2<>(level * stride + (int) (flat / blockSize), block));
                }
                block[within] = v;
                flat++;
            }
        }
        return out;
    }
}
