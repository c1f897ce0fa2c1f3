package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.model.Gradients;
import org.sptspark.model.Tensors;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.modules.Trainable;
import org.sptspark.modules.Unstructured;
import org.sptspark.sensitivity.SensitivityScorer;
import org.sptspark.snella.Competition;
import org.sptspark.snella.SnellaOptions;

/**
 * Activation checkpointing changes where the activations live, not what is computed: for every
 * method, one step's loss, logits and every trainable's gradient with checkpointing equal those
 * of the whole backward pass bit for bit, on a model with drop-path in the backbone and dropout
 * and drop-path in the modules (so any mask drawn again differently would show); and SPT's
 * sensitivity scores equal too.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ActivationCheckpointingTest {

    static final VitConfig CONFIG = new VitConfig("vit_checkpoint_test", 32, 8, 3, 48, 3, 3, 96, 7, 1e-6, 0.25);
    static final int BATCH = 6;

    NDManager manager;
    VisionTransformer model;
    float[] images;
    long[] labels;

    @BeforeAll
    void setUp() {
        manager = NDManager.newBaseManager();
        model = VisionTransformer.create(manager, CONFIG, 3);
        var random = new SplittableRandom(17);
        images = new float[BATCH * 3 * 32 * 32];
        for (int i = 0; i < images.length; i++) {
            images[i] = (float) random.nextGaussian();
        }
        labels = new long[BATCH];
        for (int i = 0; i < BATCH; i++) {
            labels[i] = random.nextInt(CONFIG.numClasses());
        }
    }

    @AfterAll
    void tearDown() {
        manager.close();
    }

    static Stream<Arguments> layouts() {
        var out = new ArrayList<Arguments>();
        for (Method m : Method.values()) {
            if (!m.needsPlan()) {
                out.add(Arguments.of(m.id(), Unstructured.DELTA));
            }
        }
        out.add(Arguments.of("spt-lora", Unstructured.DELTA));
        out.add(Arguments.of("spt-adapter", Unstructured.DELTA));
        out.add(Arguments.of("spt-lora", Unstructured.MASKED_FULL));
        return out.stream();
    }

    TuningLayout layout(String method) {
        return switch (method) {
            case "spt-lora" -> TuningFixtures.mixed(model.space(), AllocationRule.Module.LORA, 4);
            case "spt-adapter" -> TuningFixtures.mixed(model.space(), AllocationRule.Module.ADAPTER, 4);
            case "snella" -> TuningLayout.baseline(Method.SNELLA, model.space(), 4);
            default -> TuningLayout.baseline(Method.parse(method), model.space(), 4);
        };
    }

    @ParameterizedTest(name = "{0} ({1})")
    @MethodSource("layouts")
    void gradientsEqualThoseOfTheWholePass(String method, Unstructured mode) {
        Map<String, float[]> whole = step(layout(method), mode, false);
        Map<String, float[]> checkpointed = step(layout(method), mode, true);
        assertEquals(whole.keySet(), checkpointed.keySet());
        assertTrue(whole.size() > 3, "loss, logits and some gradients");
        boolean someNonZero = false;
        var differing = new ArrayList<String>();
        for (var e : whole.entrySet()) {
            float[] expected = e.getValue();
            float[] actual = checkpointed.get(e.getKey());
            assertEquals(expected.length, actual.length, e.getKey());
            for (int i = 0; i < expected.length; i++) {
                if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(actual[i])) {
                    differing.add(e.getKey() + "[" + i + "] " + actual[i] + " with checkpointing, " + expected[i] + " without");
                    break;
                }
                someNonZero |= e.getKey().startsWith("grad ") && expected[i] != 0;
            }
        }
        assertTrue(differing.isEmpty(), () -> method + ": " + differing);
        assertTrue(someNonZero, "the gradients are not all zero");
    }

    /** The step's loss, logits and every trainable's gradient (after SNELLA's recomputation). */
    Map<String, float[]> step(TuningLayout layout, Unstructured mode, boolean checkpoint) {
        var out = new LinkedHashMap<String, float[]>();
        try (TunedModel tuned = TunedModel.forTraining(model, layout, 5, mode)) {
            tuned.setActivationCheckpointing(checkpoint);
            Competition competition = tuned.hook(Competition.class);
            if (competition != null) {
                competition.start(SnellaOptions.defaults(), 0.8, 2);
                tuned.startEpoch(1);
            }
            synchronized (Gradients.ENGINE_LOCK) {
                try (NDManager scope = manager.newSubManager()) {
                    NDArray x = scope.create(images, new Shape(BATCH, 3, 32, 32));
                    NDArray y = scope.create(labels);
                    var pass = tuned.backward(x, y, 11, (loss, logits) -> {});
                    tuned.afterBackward();
                    out.put("loss", new float[] {pass.loss()});
                    out.put("logits", pass.logits().toFloatArray());
                    for (Trainable t : tuned.trainables()) {
                        NDArray g = t.value().getGradient();
                        g.attach(scope);
                        out.put("grad " + t.name(), g.toFloatArray());
                        // a masked whole tensor is the backbone's own parameter: clear it for the next run
                        Tensors.zero(g);
                    }
                }
            }
        }
        return out;
    }

    @Test
    void dropoutAndDropPathAreDrawnPerSegmentAndAgain() {
        // the same segment and seed give the same masks; another segment gives others
        int a = ModuleHost.segmentSeed(11, 2);
        assertEquals(a, ModuleHost.segmentSeed(11, 2));
        assertFalse(a == ModuleHost.segmentSeed(11, 1));
        assertFalse(a == ModuleHost.segmentSeed(12, 2));
        assertTrue(a >= 0);
    }

    @Test
    void sensitivityScoresEqualThoseOfTheWholePass() {
        List<Map<String, double[]>> sums = new ArrayList<>();
        for (boolean checkpoint : new boolean[] {false, true}) {
            model.setTrainable(false);
            try (var scorer = new SensitivityScorer(model, manager).checkpointActivations(checkpoint);
                    NDManager scope = manager.newSubManager()) {
                for (int b = 0; b < 2; b++) {
                    scorer.add(scope.create(images, new Shape(BATCH, 3, 32, 32)), scope.create(labels), 100 + b, "batch " + b);
                }
                sums.add(scorer.sums());
            }
            Gradients.zero(model);
            model.setTrainable(false);
        }
        assertEquals(sums.get(0).keySet(), sums.get(1).keySet());
        boolean someNonZero = false;
        for (var e : sums.get(0).entrySet()) {
            double[] expected = e.getValue();
            double[] actual = sums.get(1).get(e.getKey());
            for (int i = 0; i < expected.length; i++) {
                assertEquals(Double.doubleToLongBits(expected[i]), Double.doubleToLongBits(actual[i]),
                        () -> e.getKey() + " differs with checkpointing");
                someNonZero |= expected[i] != 0;
            }
        }
        assertTrue(someNonZero);
    }
}
