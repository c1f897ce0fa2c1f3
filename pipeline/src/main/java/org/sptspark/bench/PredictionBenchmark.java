package org.sptspark.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.apache.hadoop.conf.Configuration;
import org.sptspark.data.ImagePreprocessor;
import org.sptspark.data.Normalization;
import org.sptspark.model.Gradients;
import org.sptspark.model.Precision;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.spark.ArtifactRouter;
import org.sptspark.spark.BackboneCache;
import org.sptspark.spark.RoutedInference;

/**
 * Routed inference's cost on this JVM's device, per batch of rows of several tasks: one mixed
 * forward pass, one pass per artifact on its rows, every row through every artifact (what
 * {@code spt predict --images} does), and the frozen backbone alone, the floor of a mixed pass;
 * and the sparse product against the dense one, which sets {@link
 * org.sptspark.tuning.TunedModel#MIXED_SPARSE_DENSITY}. Images are decoded once beforehand;
 * resizing and normalising are inside every figure but the backbone's, and timed apart.
 */
public final class PredictionBenchmark {

    /**
     * Median seconds per batch of each way.
     *
     * @param groups the mean number of artifacts in a batch
     */
    public record Result(int batch, double groups, double preprocess, double backbone, double mixed, double perArtifact,
            double everyArtifact) {}

    private PredictionBenchmark() {}

    /**
     * Times the ways over {@code rows} cut into batches of {@code batch}: {@code warmup} untimed
     * rounds, then {@code repeats} timed ones; each figure the median over batches and rounds.
     */
    public static Result measure(ArtifactRouter router, List<RoutedInference.Input> rows, int batch, int warmup,
            int repeats, Configuration hadoop) {
        var mixed = RoutedInference.open(router, "cpu", Precision.FP32, 5, RoutedInference.Mode.MIXED, hadoop);
        var separate = RoutedInference.open(router, "cpu", Precision.FP32, 5, RoutedInference.Mode.PER_ARTIFACT, hadoop);
        VitConfig config = router.targets().iterator().next().config().withNumClasses(1);
        VisionTransformer model = BackboneCache.get(router.backbone(), router.sha256(), config, Device.cpu(), hadoop);
        var batches = new ArrayList<List<RoutedInference.Input>>();
        for (int i = 0; i < rows.size(); i += batch) {
            batches.add(rows.subList(i, Math.min(rows.size(), i + batch)));
        }
        double groups = batches.stream().mapToLong(b -> b.stream().map(RoutedInference.Input::task).distinct().count())
                .average().orElse(0);
        var times = new double[5][];
        for (int w = 0; w < 5; w++) {
            times[w] = new double[repeats * batches.size()];
        }
        int size = config.imageSize();
        for (int round = -warmup; round < repeats; round++) {
            for (int b = 0; b < batches.size(); b++) {
                List<RoutedInference.Input> rowsOfBatch = batches.get(b);
                int slot = round * batches.size() + b;
                double[] pre = new double[1];
                double base = time(() -> {
                    long t0 = System.nanoTime();
                    float[] pixels = pixels(rowsOfBatch, size);
                    pre[0] = (System.nanoTime() - t0) / 1e9;
                    return backbone(model, pixels, rowsOfBatch.size(), size);
                }) - pre[0];
                double m = time(() -> mixed.classify(rowsOfBatch));
                double p = time(() -> separate.classify(rowsOfBatch));
                double e = time(() -> {
                    Object last = null;
                    for (String task : router.tasks()) {
                        var all = rowsOfBatch.stream().map(r -> new RoutedInference.Input(task, r.image(), null)).toList();
                        last = separate.classify(all);
                    }
                    return last;
                });
                if (round >= 0) {
                    times[0][slot] = pre[0];
                    times[1][slot] = base;
                    times[2][slot] = m;
                    times[3][slot] = p;
                    times[4][slot] = e;
                }
            }
        }
        return new Result(batch, groups, ModelBenchmark.median(times[0]), ModelBenchmark.median(times[1]),
                ModelBenchmark.median(times[2]), ModelBenchmark.median(times[3]), ModelBenchmark.median(times[4]));
    }

    private static double time(Supplier<Object> work) {
        long t0 = System.nanoTime();
        work.get();
        return (System.nanoTime() - t0) / 1e9;
    }

    private static float[] pixels(List<RoutedInference.Input> rows, int size) {
        int per = 3 * size * size;
        float[] x = new float[rows.size() * per];
        for (int i = 0; i < rows.size(); i++) {
            System.arraycopy(ImagePreprocessor.toTensor(rows.get(i).image(), size, Normalization.IMAGENET), 0, x, i * per, per);
        }
        return x;
    }

    /** The frozen backbone's forward pass on a batch (its one-class head), forced to finish. */
    private static Object backbone(VisionTransformer model, float[] pixels, int n, int size) {
        synchronized (Gradients.ENGINE_LOCK) {
            model.clearBranches(); // an overlay's forward leaves its branches installed
            model.setPrecision(Precision.FP32);
            try (NDManager scope = model.manager().newSubManager()) {
                NDArray x = scope.create(pixels, new Shape(n, 3, size, size));
                return model.forward(new ParameterStore(scope, false), x, false, 0,
                        VisionTransformer.SegmentListener.NONE).toFloatArray();
            }
        }
    }

    /**
     * Median milliseconds of {@code x D^T} for an {@code (out, in)} delta of this density, as a
     * sparse (COO) product and as a dense one, with {@code x} of {@code rows} rows.
     *
     * @return {sparse ms, dense ms}
     */
    public static double[] sparseVersusDense(int rows, int out, int in, double density, int repeats) {
        try (NDManager manager = NDManager.newBaseManager()) {
            var random = new SplittableRandom(7);
            float[] d = new float[out * in];
            for (int i = 0; i < d.length; i++) {
                if (random.nextDouble() < density) {
                    d[i] = (float) random.nextGaussian();
                }
            }
            float[] xs = new float[rows * in];
            for (int i = 0; i < xs.length; i++) {
                xs[i] = (float) random.nextGaussian();
            }
            NDArray dense = manager.create(d, new Shape(out, in));
            NDArray sparse = dense.toSparse(SparseFormat.COO);
            NDArray x = manager.create(xs, new Shape(rows, in));
            double[] s = new double[repeats];
            double[] t = new double[repeats];
            for (int r = -1; r < repeats; r++) {
                try (NDManager scope = manager.newSubManager()) {
                    long t0 = System.nanoTime();
                    NDArray a = sparse.matMul(x.transpose());
                    a.attach(scope);
                    a.toFloatArray();
                    long t1 = System.nanoTime();
                    NDArray b = x.matMul(dense.transpose());
                    b.attach(scope);
                    b.toFloatArray();
                    long t2 = System.nanoTime();
                    if (r >= 0) {
                        s[r] = (t1 - t0) / 1e6;
                        t[r] = (t2 - t1) / 1e6;
                    }
                }
            }
            return new double[] {ModelBenchmark.median(s), ModelBenchmark.median(t)};
        }
    }
}
