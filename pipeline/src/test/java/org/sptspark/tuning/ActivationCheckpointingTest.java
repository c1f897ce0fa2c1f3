package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
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
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.Backprop;
import org.sptspark.model.Gradients;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.Tensors;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.modules.Lora;
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
        out.add(Arguments.of("from-block-1", Unstructured.DELTA));
        out.add(Arguments.of("final-norm", Unstructured.DELTA));
        out.add(Arguments.of("last-block", Unstructured.DELTA));
        return out.stream();
    }

    TuningLayout layout(String method) {
        return switch (method) {
            case "spt-lora" -> TuningFixtures.mixed(model.space(), AllocationRule.Module.LORA, 4);
            case "spt-adapter" -> TuningFixtures.mixed(model.space(), AllocationRule.Module.ADAPTER, 4);
            case "snella" -> TuningLayout.baseline(Method.SNELLA, model.space(), 4);
            // the backward pass stops at block 1: nothing before it trains
            case "from-block-1" -> only(Map.of("blocks.1.norm1.weight", new TensorDecision.Whole(CONFIG.embedDim()),
                    "blocks.2.mlp.fc2.weight", Lora.decision(model.space().get("blocks.2.mlp.fc2.weight"), 4)));
            // only the last block: it runs once, with the head, and no other block runs again
            case "last-block" -> only(Map.of("blocks.2.mlp.fc1.weight", Lora.decision(model.space().get("blocks.2.mlp.fc1.weight"), 4),
                    "blocks.2.norm2.bias", new TensorDecision.Whole(CONFIG.embedDim())));
            // only the final norm and the head: no block runs again
            case "final-norm" -> only(Map.of("norm.weight", new TensorDecision.Whole(CONFIG.embedDim())));
            default -> TuningLayout.baseline(Method.parse(method), model.space(), 4);
        };
    }

    /** A layout training these tensors (and the head), everything else frozen. */
    TuningLayout only(Map<String, TensorDecision> trained) {
        var map = new LinkedHashMap<String, TensorDecision>();
        for (TensorSpec t : model.space().backbone()) {
            map.put(t.name(), trained.getOrDefault(t.name(), new TensorDecision.Frozen()));
        }
        return new TuningLayout(Method.SPT_LORA, map, 4, "test-plan", "test", 0);
    }

    @ParameterizedTest(name = "{0} ({1})")
    @MethodSource("layouts")
    void gradientsEqualThoseOfTheWholePass(String method, Unstructured mode) {
        Map<String, float[]> whole = step(layout(method), mode, false);
        Map<String, float[]> checkpointed = step(layout(method), mode, true);
        assertBitForBit(method, !method.equals("linear"), whole, checkpointed);
    }

    /**
     * The same loss, logits and gradients bit for bit, and some gradient before the head non-zero
     * (the linear probe trains the head alone; every other layout trains something before it).
     */
    static void assertBitForBit(String method, boolean trainsBeforeHead, Map<String, float[]> whole,
            Map<String, float[]> checkpointed) {
        assertEquals(whole.keySet(), checkpointed.keySet());
        boolean bodyNonZero = false;
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
                bodyNonZero |= e.getKey().startsWith("grad ") && !e.getKey().startsWith("grad head.") && expected[i] != 0;
            }
        }
        assertTrue(differing.isEmpty(), () -> method + ": " + differing);
        // the linear probe trains the head alone; every other layout trains something before it
        assertEquals(trainsBeforeHead, bodyNonZero, method + ": some gradient before the head is not zero");
    }

    @ParameterizedTest(name = "first trained block {0}")
    @org.junit.jupiter.params.provider.ValueSource(ints = {1, 2})
    void theCheckpointedPassRunsEachTrainedBlockAgainAndStopsAtTheFirst(int first) {
        model.setTrainable(false);
        var entered = new ArrayList<Integer>();
        var backward = new ArrayList<Integer>();
        var hooks = new Backprop.Hooks() {
            @Override
            public void enter(int segment, NDManager scope) {
                entered.add(segment);
            }

            @Override
            public void afterBlockBackward(int block) {
                backward.add(block);
            }

            @Override
            public int firstTrainedSegment() {
                return first;
            }
        };
        model.parameter("blocks." + first + ".norm1.weight").getArray().setRequiresGradient(true);
        try {
            synchronized (Gradients.ENGINE_LOCK) {
                try (NDManager scope = manager.newSubManager()) {
                    var store = new ParameterStore(scope, false);
                    Backprop.run(model, store, scope.create(images, new Shape(BATCH, 3, 32, 32)), scope.create(labels), 3,
                            true, hooks, Backprop.LossCheck.NONE);
                    NDArray g = model.parameter("blocks." + first + ".norm1.weight").getArray().getGradient();
                    g.attach(scope);
                    assertTrue(g.abs().sum().getFloat() > 0, "block " + first + "'s weight has its gradient");
                    Tensors.zero(g);
                }
            }
        } finally {
            model.setTrainable(false);
        }
        // the forward pass: embedding, blocks 0-1, then block 2 once with the head (3); then the
        // blocks from 1 down to the first trained one again
        assertEquals(first == 1 ? List.of(VisionTransformer.EMBEDDING, 0, 1, 2, 3, 1)
                : List.of(VisionTransformer.EMBEDDING, 0, 1, 2, 3), entered);
        assertEquals(first == 1 ? List.of(2, 1) : List.of(2), backward);
    }

    @Test
    void snellaKernelsTakeTheirGradientsDuringTheCheckpointedPass() {
        for (boolean checkpoint : new boolean[] {false, true}) {
            try (TunedModel tuned = TunedModel.forTraining(model, layout("snella"), 5, Unstructured.DELTA)) {
                tuned.setActivationCheckpointing(checkpoint);
                tuned.hook(Competition.class).start(SnellaOptions.defaults(), 0.8, 2);
                tuned.startEpoch(1);
                synchronized (Gradients.ENGINE_LOCK) {
                    try (NDManager scope = manager.newSubManager()) {
                        tuned.backward(scope.create(images, new Shape(BATCH, 3, 32, 32)), scope.create(labels), 11,
                                Backprop.LossCheck.NONE);
                        // before afterBackward: only the checkpointed pass has back-propagated into the kernels
                        Trainable in = tuned.trainables().stream().filter(t -> t.name().endsWith("snella_in")).findFirst()
                                .orElseThrow();
                        NDArray g = in.value().getGradient();
                        g.attach(scope);
                        assertEquals(checkpoint, g.abs().sum().getFloat() > 0, "checkpointing " + checkpoint);
                        tuned.afterBackward();
                        clearGradients(tuned, scope);
                    }
                }
            }
        }
    }

    /** The step's loss, logits and every trainable's gradient (after SNELLA's recomputation). */
    Map<String, float[]> step(TuningLayout layout, Unstructured mode, boolean checkpoint) {
        return step(model, manager, images, labels, new Shape(BATCH, 3, 32, 32), layout, mode, checkpoint);
    }

    /** As {@link #step(TuningLayout, Unstructured, boolean)} for any backbone and batch. */
    static Map<String, float[]> step(org.sptspark.model.Backbone model, NDManager manager, float[] images, long[] labels,
            Shape shape, TuningLayout layout, Unstructured mode, boolean checkpoint) {
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
                    NDArray x = scope.create(images, shape);
                    NDArray y = scope.create(labels);
                    var pass = tuned.backward(x, y, 11, Backprop.LossCheck.NONE);
                    tuned.afterBackward();
                    out.put("loss", new float[] {pass.loss()});
                    out.put("logits", pass.logits().toFloatArray());
                    for (Trainable t : tuned.trainables()) {
                        NDArray g = t.value().getGradient();
                        g.attach(scope);
                        out.put("grad " + t.name(), g.toFloatArray());
                    }
                    clearGradients(tuned, scope);
                }
            }
        }
        return out;
    }

    /** Whole tensors are the backbone's own parameters, whose gradients outlive the tuned model: clear them for the next run. */
    static void clearGradients(TunedModel tuned, NDManager scope) {
        for (Trainable t : tuned.trainables()) {
            NDArray g = t.value().getGradient();
            g.attach(scope);
            Tensors.zero(g);
        }
    }

    @Test
    void segmentSeedsDependOnTheStepSeedAndTheSegment() {
        // the same segment and seed give the same masks; another segment gives others
        int a = ModuleHost.segmentSeed(11, 2);
        assertEquals(a, ModuleHost.segmentSeed(11, 2));
        assertFalse(a == ModuleHost.segmentSeed(11, 1));
        assertFalse(a == ModuleHost.segmentSeed(12, 2));
        assertTrue(a >= 0);
    }

    @Test
    void sensitivityScoresEqualThoseOfTheWholePass() {
        assertScoresBitForBit(model, manager, images, labels, new Shape(BATCH, 3, 32, 32));
    }

    /** Two batches' sensitivity sums with and without checkpointing, equal bit for bit, some not zero. */
    static void assertScoresBitForBit(org.sptspark.model.Backbone model, NDManager manager, float[] images, long[] labels,
            Shape shape) {
        List<Map<String, double[]>> sums = new ArrayList<>();
        for (boolean checkpoint : new boolean[] {false, true}) {
            model.setTrainable(false);
            try (var scorer = new SensitivityScorer(model, manager).checkpointActivations(checkpoint);
                    NDManager scope = manager.newSubManager()) {
                for (int b = 0; b < 2; b++) {
                    scorer.add(scope.create(images, shape), scope.create(labels), 100 + b, "batch " + b);
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
