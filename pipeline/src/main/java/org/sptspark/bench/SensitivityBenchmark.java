package org.sptspark.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.sptspark.bench.ModelBenchmark;
import org.sptspark.model.Precision;
import org.sptspark.model.Backbone;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.Backbones;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.sensitivity.SensitivityScorer;

/** The sensitivity scorer's speed on the reference workload, without Spark or decoding. */
public final class SensitivityBenchmark {

    private SensitivityBenchmark() {}

    /**
     * Seconds to score {@code batches} batches of random images with {@link SensitivityScorer}
     * (drop-path as configured), on the CPU of this JVM.
     */
    public static double sensitivitySeconds(BackboneConfig config, int batchSize, int batches) {
        return sensitivitySeconds(config, batchSize, batches, ai.djl.engine.Engine.getInstance().defaultDevice(),
                Precision.FP32);
    }

    /**
     * The scorer's work as a workload stepped one batch at a time: each step is one
     * {@link SensitivityScorer#add} (forward in training mode, cross-entropy, backward, the
     * float64 {@code grad^2} accumulation over the scored tensors) on the same random batch, with
     * its own drop-path seed.
     */
    public static BenchWorkload workload(VitConfig config, int batchSize) {
        NDManager manager = NDManager.newBaseManager();
        try {
            var model = VisionTransformer.create(manager, config, 0);
            NDArray x = manager.create(ModelBenchmark.randomImages(config, batchSize, 1),
                    new Shape(batchSize, config.inChannels(), config.imageSize(), config.imageSize()));
            NDArray y = manager.create(ModelBenchmark.randomLabels(config, batchSize, 1));
            var scorer = new SensitivityScorer(model, manager);
            return new BenchWorkload() {
                private int batches;

                @Override
                public double step() {
                    long t0 = System.nanoTime();
                    scorer.add(x, y, batches, "batch " + batches);
                    batches++;
                    scorer.awaitDevice();
                    return (System.nanoTime() - t0) / 1e9;
                }

                @Override
                public double loss() {
                    return Double.NaN;
                }

                @Override
                public void close() {
                    try {
                        scorer.close();
                    } finally {
                        manager.close();
                    }
                }
            };
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * As {@link #sensitivitySeconds(BackboneConfig, int, int)} on a device and in a precision (a
     * ViT's; the other families run in float32); the clock stops once the device has run every
     * queued kernel.
     */
    public static double sensitivitySeconds(BackboneConfig config, int batchSize, int batches, Device device,
            Precision precision) {
        return sensitivitySeconds(config, batchSize, batches, device, precision, false);
    }

    /** As {@link #sensitivitySeconds(BackboneConfig, int, int, Device, Precision)}, with activation checkpointing or without. */
    public static double sensitivitySeconds(BackboneConfig config, int batchSize, int batches, Device device,
            Precision precision, boolean checkpointActivations) {
        precision.requireSupported(device);
        try (NDManager manager = NDManager.newBaseManager(device)) {
            Backbone model = Backbones.create(manager, config, 0);
            model.setPrecision(precision);
            float[] pixels = ModelBenchmark.randomImages(config, batchSize, 1);
            long[] labels = ModelBenchmark.randomLabels(config, batchSize, 1);
            try (var scorer = new SensitivityScorer(model, manager).checkpointActivations(checkpointActivations)) {
                long start = System.nanoTime();
                for (int b = 0; b < batches; b++) {
                    try (NDManager step = manager.newSubManager()) {
                        NDArray x = step.create(pixels, new Shape(batchSize, config.inChannels(), config.imageSize(),
                                config.imageSize()));
                        scorer.add(x, step.create(labels), b, "batch " + b);
                    }
                }
                scorer.awaitDevice();
                return (System.nanoTime() - start) / 1e9;
            }
        }
    }
}
