package org.sptspark.tuning;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.sptspark.model.Backbone;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.Backbones;
import org.sptspark.modules.Unstructured;

/**
 * Activation checkpointing on Swin and ConvNeXt, as {@link ActivationCheckpointingTest} checks it on
 * ViT: for every method, one step's loss, logits and gradients with checkpointing equal those of the
 * whole pass bit for bit (drop-path in the backbone, dropout and drop-path in the modules, a
 * stage's downsampling run again inside its first block), and so do SPT's sensitivity scores.
 */
class HierarchicalCheckpointingTest {

    static final int BATCH = 6;

    static Stream<Arguments> cases() {
        var out = new ArrayList<Arguments>();
        HierarchicalTuningTest.configs().forEach(config -> HierarchicalTuningTest.layouts(config).keySet()
                .forEach(method -> out.add(Arguments.of(config, method))));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void gradientsEqualThoseOfTheWholePass(BackboneConfig config, String method) {
        TuningLayout layout = HierarchicalTuningTest.layouts(config).get(method);
        try (NDManager manager = NDManager.newBaseManager()) {
            Backbone model = Backbones.create(manager, config, 3);
            Batch b = batch(config);
            Map<String, float[]> whole = ActivationCheckpointingTest.step(model, manager, b.images, b.labels, b.shape,
                    layout, Unstructured.DELTA, false);
            Map<String, float[]> checkpointed = ActivationCheckpointingTest.step(model, manager, b.images, b.labels,
                    b.shape, layout, Unstructured.DELTA, true);
            ActivationCheckpointingTest.assertBitForBit(config.name() + " " + method, !method.equals("linear"), whole,
                    checkpointed);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.sptspark.tuning.HierarchicalTuningTest#configs")
    void sensitivityScoresEqualThoseOfTheWholePass(BackboneConfig config) {
        try (NDManager manager = NDManager.newBaseManager()) {
            Backbone model = Backbones.create(manager, config, 3);
            Batch b = batch(config);
            ActivationCheckpointingTest.assertScoresBitForBit(model, manager, b.images, b.labels, b.shape);
        }
    }

    private record Batch(float[] images, long[] labels, Shape shape) {}

    private static Batch batch(BackboneConfig config) {
        int size = config.imageSize();
        var random = new SplittableRandom(17);
        float[] images = new float[BATCH * 3 * size * size];
        for (int i = 0; i < images.length; i++) {
            images[i] = (float) random.nextGaussian();
        }
        long[] labels = new long[BATCH];
        for (int i = 0; i < BATCH; i++) {
            labels[i] = random.nextInt(config.numClasses());
        }
        return new Batch(images, labels, new Shape(BATCH, 3, size, size));
    }
}
