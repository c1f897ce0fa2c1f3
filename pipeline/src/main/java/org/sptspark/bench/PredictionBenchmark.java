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
        if (!(router.targets().iterator().next().config().withNumClasses(1) instanceof VitConfig config)) {
            throw new IllegalArgumentException("mixed batches, which this benchmark measures, are a ViT's only so far");
        }
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

    /** A random backbone and one random artifact per task on it, for widths no trained run has. */
    public record Synthetic(String backbone, List<String> artifacts, List<RoutedInference.Input> rows) {}

    /**
     * Writes under {@code dir} a backbone of {@code config} with random weights and, for each of
     * {@code tasks} tasks ({@code task0}, ...; 10 classes each), an artifact of {@code method} with
     * random values in everything it trains; and {@code perTask} random images per task, shuffled.
     */
    public static Synthetic synthetic(Configuration hadoop, java.nio.file.Path dir, VitConfig config,
            org.sptspark.tuning.Method method, int rank, int tasks, int perTask) throws java.io.IOException {
        java.nio.file.Files.createDirectories(dir);
        java.nio.file.Path backbone = dir.resolve("backbone.safetensors");
        try (NDManager manager = NDManager.newBaseManager()) {
            org.sptspark.model.Checkpoints.write(VisionTransformer.create(manager, config, 1), backbone);
        }
        String sha = org.sptspark.model.Checkpoints.sha256(backbone);
        var artifacts = new ArrayList<String>();
        var random = new SplittableRandom(3);
        for (int t = 0; t < tasks; t++) {
            String folder = dir.resolve(method.id() + "/task" + t).toUri().toString();
            VitConfig withHead = config.withNumClasses(10);
            try (NDManager manager = NDManager.newBaseManager()) {
                var model = VisionTransformer.create(manager, withHead, 1);
                var layout = org.sptspark.tuning.TuningLayout.baseline(method, model.space(), rank);
                synchronized (Gradients.ENGINE_LOCK) {
                    try (var tuned = org.sptspark.tuning.TunedModel.forTraining(model, layout, t,
                            org.sptspark.modules.Unstructured.DELTA)) {
                        for (var trainable : tuned.trainables()) {
                            float[] v = trainable.value().toFloatArray();
                            for (int i = 0; i < v.length; i++) {
                                v[i] += (float) random.nextGaussian() * 0.02f;
                            }
                            org.sptspark.model.Tensors.assign(trainable.value(), v);
                        }
                        var manifest = new org.sptspark.artifact.ArtifactManifest(
                                new org.sptspark.data.TaskRef("synthetic", "task" + t, 10, null, null),
                                new org.sptspark.model.BackboneRef(config.name(), withHead, null, sha), method.id(), rank,
                                new org.sptspark.artifact.ArtifactManifest.Budget(null, null, 0), null, null, null, null,
                                Normalization.IMAGENET.name().toLowerCase(java.util.Locale.ROOT), null, null, null, null);
                        org.sptspark.artifact.Artifacts.write(hadoop, folder, tuned, manifest);
                    }
                }
            }
            artifacts.add(folder);
        }
        var rows = new ArrayList<RoutedInference.Input>();
        int size = config.imageSize();
        for (int t = 0; t < tasks; t++) {
            for (int i = 0; i < perTask; i++) {
                byte[] rgb = new byte[3 * size * size];
                for (int k = 0; k < rgb.length; k++) {
                    rgb[k] = (byte) random.nextInt(256);
                }
                rows.add(new RoutedInference.Input("task" + t, new org.sptspark.data.RgbImage(size, size, rgb), null));
            }
        }
        java.util.Collections.shuffle(rows, new java.util.Random(0));
        return new Synthetic(backbone.toString(), artifacts, rows);
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
