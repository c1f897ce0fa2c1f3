package org.sptspark.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import java.util.SplittableRandom;
import org.sptspark.model.Backbone;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.Backbones;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;

/**
 * Measures forward+backward throughput of a backbone (ViT, Swin, ConvNeXt) on the current engine
 * and device, and the engine's dense matrix-multiply rate, the ceiling the model is compared against.
 */
public final class ModelBenchmark {

    /**
     * One preset's figures.
     *
     * @param forwardSeconds median seconds of the forward pass of one batch
     * @param backwardSeconds median seconds of the backward pass (all parameter gradients)
     * @param imagesPerSecond batch / (forward + backward)
     * @param gflops achieved GFLOP/s, counting forward+backward as 3x the forward FLOPs
     */
    public record Result(BackboneConfig config, int batch, double forwardSeconds, double backwardSeconds,
            double imagesPerSecond, double gflops) {}

    private ModelBenchmark() {}

    /** Times {@code iterations} full-gradient steps after {@code warmup} untimed ones; reports medians. */
    public static Result forwardBackward(BackboneConfig config, int batch, int warmup, int iterations) {
        try (NDManager manager = NDManager.newBaseManager()) {
            Backbone model = Backbones.create(manager, config, 0);
            String first = model.space().tensors().get(0).name();
            var store = new ParameterStore(manager, false);
            float[] pixels = randomImages(config, batch, 1);
            long[] labels = randomLabels(config, batch, 1);
            double[] fwd = new double[iterations];
            double[] bwd = new double[iterations];
            for (int it = -warmup; it < iterations; it++) {
                try (NDManager step = manager.newSubManager();
                        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                    NDArray x = step.create(pixels, new Shape(batch, config.inChannels(), config.imageSize(),
                            config.imageSize()));
                    long t0 = System.nanoTime();
                    NDArray logits = model.logits(store, x, true, 0);
                    NDArray loss = Loss.softmaxCrossEntropyLoss().evaluate(new NDList(step.create(labels)),
                            new NDList(logits));
                    loss.getFloat(); // forces the forward pass on asynchronous devices
                    long t1 = System.nanoTime();
                    collector.backward(loss);
                    model.parameter(first).getArray().getGradient().close();
                    long t2 = System.nanoTime();
                    if (it >= 0) {
                        fwd[it] = (t1 - t0) / 1e9;
                        bwd[it] = (t2 - t1) / 1e9;
                    }
                }
            }
            double f = median(fwd);
            double b = median(bwd);
            double flops = 3.0 * config.forwardFlopsPerImage() * batch;
            return new Result(config, batch, f, b, batch / (f + b), flops / (f + b) / 1e9);
        }
    }

    /**
     * The forward+backward of {@link #forwardBackward} as a workload stepped one batch at a time:
     * every parameter trainable, the same random batch each step.
     */
    public static BenchWorkload workload(VitConfig config, int batch) {
        NDManager manager = NDManager.newBaseManager();
        try {
            var model = VisionTransformer.create(manager, config, 0);
            var store = new ParameterStore(manager, false);
            NDArray x = manager.create(randomImages(config, batch, 1),
                    new Shape(batch, config.inChannels(), config.imageSize(), config.imageSize()));
            NDArray y = manager.create(randomLabels(config, batch, 1));
            return new BenchWorkload() {
                private double loss = Double.NaN;

                @Override
                public double step() {
                    long t0 = System.nanoTime();
                    synchronized (org.sptspark.model.Gradients.ENGINE_LOCK) {
                        try (NDManager step = manager.newSubManager();
                                GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                            NDArray logits = model.forward(store, new NDList(x), true).head();
                            NDArray l = Loss.softmaxCrossEntropyLoss().evaluate(new NDList(y), new NDList(logits));
                            l.attach(step);
                            logits.attach(step);
                            loss = l.getFloat();
                            collector.backward(l);
                            // a read of one gradient waits for the whole backward on asynchronous devices
                            NDArray g = model.parameter("patch_embed.proj.weight").getArray().getGradient();
                            g.attach(step);
                            g.flatten().get(0).getFloat();
                        }
                    }
                    return (System.nanoTime() - t0) / 1e9;
                }

                @Override
                public double loss() {
                    return loss;
                }

                @Override
                public void close() {
                    manager.close();
                }
            };
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /** Standard-normal pixels for {@code batch} images of the configuration's input size, CHW per image. */
    public static float[] randomImages(BackboneConfig config, int batch, long seed) {
        var random = new SplittableRandom(seed);
        float[] pixels = new float[batch * config.inChannels() * config.imageSize() * config.imageSize()];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (float) random.nextGaussian();
        }
        return pixels;
    }

    /** Uniform labels in {@code 0..numClasses-1}. */
    public static long[] randomLabels(BackboneConfig config, int batch, long seed) {
        return new SplittableRandom(seed + 1).longs(batch, 0, config.numClasses()).toArray();
    }

    /** GFLOP/s of an {@code n x n} by {@code n x n} float32 matrix product, median of {@code iterations}. */
    public static double gemmGflops(int n, int iterations) {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray a = manager.randomUniform(-1, 1, new Shape(n, n));
            NDArray b = manager.randomUniform(-1, 1, new Shape(n, n));
            a.matMul(b).close(); // warm-up
            double[] seconds = new double[iterations];
            for (int i = 0; i < iterations; i++) {
                long t0 = System.nanoTime();
                try (NDArray c = a.matMul(b)) {
                    c.getFloat(0, 0);
                }
                seconds[i] = (System.nanoTime() - t0) / 1e9;
            }
            return 2.0 * n * n * (double) n / median(seconds) / 1e9;
        }
    }

    /** The median (the mean of the middle two for an even count). */
    public static double median(double[] values) {
        double[] sorted = values.clone();
        java.util.Arrays.sort(sorted);
        int m = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }
}
