package org.sptspark.sensitivity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.sptspark.model.ModelBenchmark;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;

/** The sensitivity scorer's speed on the reference workload, without Spark or decoding. */
public final class SensitivityBenchmark {

    private SensitivityBenchmark() {}

    /**
     * Seconds to score {@code batches} batches of random images with {@link SensitivityScorer}
     * (drop-path as configured), on the CPU of this JVM.
     */
    public static double sensitivitySeconds(VitConfig config, int batchSize, int batches) {
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = VisionTransformer.create(manager, config, 0);
            float[] pixels = ModelBenchmark.randomImages(config, batchSize, 1);
            long[] labels = ModelBenchmark.randomLabels(config, batchSize, 1);
            try (var scorer = new SensitivityScorer(model, manager)) {
                long start = System.nanoTime();
                for (int b = 0; b < batches; b++) {
                    try (NDManager step = manager.newSubManager()) {
                        NDArray x = step.create(pixels, new Shape(batchSize, config.inChannels(), config.imageSize(),
                                config.imageSize()));
                        scorer.add(x, step.create(labels), b, "batch " + b);
                    }
                }
                return (System.nanoTime() - start) / 1e9;
            }
        }
    }
}
