package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.Gradients;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.Tensors;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.modules.Trainable;
import org.sptspark.modules.Unstructured;

/**
 * A mixed batch (rows of different artifacts through one forward pass of a shared backbone) gives
 * every row what its own artifact, opened alone on its own copy of the backbone, gives for it:
 * every method, SNELLA's exported delta and SPT's layouts included, with each class count, in
 * any order of groups, through the shared product with a sparse correction and through a group's
 * own product.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MixedBatchTest {

    static final VitConfig CONFIG = new VitConfig("vit_mixed_test", 32, 8, 3, 48, 2, 3, 96, 1, 1e-6, 0.1);
    static final long BACKBONE_SEED = 3;
    static final int RANK = 4;
    static final double TOLERANCE = 1e-5;

    NDManager manager;
    VisionTransformer shared;
    /** The artifacts: what each one trained, its tensors and its class count. */
    List<Artifact> artifacts = new ArrayList<>();

    record Artifact(String name, Method method, Map<String, NDArray> tensors, int classes) {}

    @BeforeAll
    void setUp() {
        manager = NDManager.newBaseManager();
        shared = VisionTransformer.create(manager, CONFIG, BACKBONE_SEED);
        int classes = 3;
        synchronized (Gradients.ENGINE_LOCK) {
            for (Method m : Method.values()) {
                if (!m.needsPlan()) {
                    artifacts.add(train(m.id(), m, classes++, null));
                }
            }
            artifacts.add(train("spt-lora", Method.SPT_LORA, classes++, AllocationRule.Module.LORA));
            artifacts.add(train("spt-adapter", Method.SPT_ADAPTER, classes++, AllocationRule.Module.ADAPTER));
            artifacts.add(train("thin-sparse", Method.SPT_LORA, classes, null));
        }
    }

    @AfterAll
    void tearDown() {
        manager.close();
    }

    /** The layout of one artifact: a baseline's, an SPT-like mixed one, or two nearly empty sparse deltas. */
    TuningLayout layout(String name, Method method, AllocationRule.Module module, VisionTransformer model) {
        if (module != null) {
            return TuningFixtures.mixed(model.space(), module, RANK);
        }
        if (name.equals("thin-sparse")) {
            // 2 of 2304 and 4 of 4608 entries (0.09%): below MIXED_SPARSE_DENSITY, so the shared product plus x D^T
            var map = new LinkedHashMap<String, TensorDecision>();
            for (TensorSpec t : model.space().backbone()) {
                map.put(t.name(), new TensorDecision.Frozen());
            }
            map.put("blocks.0.attn.k.weight", new TensorDecision.Sparse(new int[] {5, 1000}));
            map.put("blocks.1.mlp.fc1.weight", new TensorDecision.Sparse(new int[] {0, 77, 2048, 4607}));
            map.put("blocks.1.attn.q.bias", new TensorDecision.Sparse(new int[] {2, 40}));
            // k's bias too: a sparse weight delta and a bias correction on one layer
            map.put("blocks.0.attn.k.bias", new TensorDecision.Sparse(new int[] {0, 47}));
            return new TuningLayout(Method.SPT_LORA, map, RANK, "test-plan", "test", 0);
        }
        return TuningLayout.baseline(method, model.space(), RANK);
    }

    /** Trains nothing: sets every trainable to random values and exports, as an artifact holds them. */
    Artifact train(String name, Method method, int classes, AllocationRule.Module module) {
        var model = VisionTransformer.create(manager, CONFIG.withNumClasses(classes), BACKBONE_SEED);
        var random = new SplittableRandom(name.hashCode());
        try (TunedModel tuned = TunedModel.forTraining(model, layout(name, method, module, model), 11, Unstructured.DELTA)) {
            for (Trainable t : tuned.trainables()) {
                float[] v = t.value().toFloatArray();
                for (int i = 0; i < v.length; i++) {
                    v[i] += (float) random.nextGaussian() * 0.05f;
                }
                Tensors.assign(t.value(), v);
            }
            var tensors = new LinkedHashMap<String, NDArray>();
            for (NDArray a : tuned.export(manager)) {
                tensors.put(a.getName(), a);
            }
            return new Artifact(name, method, tensors, classes);
        }
    }

    TuningLayout artifactLayout(Artifact a) {
        return TuningLayout.fromArtifact(a.method(), RANK, shared.space(), a.tensors(), a.name());
    }

    /** Logits of {@code images} through the artifact opened alone: its own backbone copy, its tensors set. */
    float[] alone(Artifact a, float[] images, int rows) {
        try (NDManager scope = manager.newSubManager()) {
            var model = VisionTransformer.create(scope, CONFIG.withNumClasses(a.classes()), BACKBONE_SEED);
            try (TunedModel tuned = TunedModel.fromTensors(model, artifactLayout(a), a.tensors(), a.name())) {
                return tuned.forward(scope.create(images, new Shape(rows, 3, 32, 32)), false, 0).toFloatArray();
            }
        }
    }

    float[] images(int rows, long seed) {
        var random = new SplittableRandom(seed);
        float[] x = new float[rows * 3 * 32 * 32];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return x;
    }

    /** Runs one mixed batch of the artifacts in this order with these row counts and checks every row. */
    void checkMixed(List<Artifact> order, int[] rows, long seed) {
        int total = java.util.Arrays.stream(rows).sum();
        float[] x = images(total, seed);
        int per = 3 * 32 * 32;
        synchronized (Gradients.ENGINE_LOCK) {
            var overlays = new ArrayList<TunedModel>();
            try (NDManager scope = manager.newSubManager()) {
                for (Artifact a : order) {
                    overlays.add(TunedModel.overlay(shared, artifactLayout(a), a.tensors(), a.name()));
                }
                List<NDArray> logits = TunedModel.forwardMixed(overlays, rows,
                        scope.create(x, new Shape(total, 3, 32, 32)));
                int start = 0;
                for (int g = 0; g < order.size(); g++) {
                    Artifact a = order.get(g);
                    float[] mine = java.util.Arrays.copyOfRange(x, start * per, (start + rows[g]) * per);
                    float[] expected = alone(a, mine, rows[g]);
                    float[] actual = logits.get(g).toFloatArray();
                    assertEquals(new Shape(rows[g], a.classes()), logits.get(g).getShape(), a.name());
                    for (int i = 0; i < expected.length; i++) {
                        double diff = Math.abs(expected[i] - actual[i]);
                        int row = start + i / a.classes();
                        assertTrue(diff <= TOLERANCE, a.name() + " row " + row + " logit " + i % a.classes() + ": mixed "
                                + actual[i] + ", alone " + expected[i]);
                    }
                    start += rows[g];
                }
            } finally {
                overlays.forEach(TunedModel::close);
            }
        }
    }

    @Test
    void everyRowGetsWhatItsArtifactAloneGives() {
        int[] rows = new int[artifacts.size()];
        for (int g = 0; g < rows.length; g++) {
            rows[g] = 1 + g % 3;
        }
        checkMixed(artifacts, rows, 1);
    }

    @Test
    void theOrderOfGroupsDoesNotMatter() {
        var reversed = new ArrayList<>(artifacts);
        java.util.Collections.reverse(reversed);
        int[] rows = new int[reversed.size()];
        java.util.Arrays.fill(rows, 2);
        checkMixed(reversed, rows, 2);
    }

    @Test
    void oneGroupAloneIsTheArtifactsForward() {
        for (Artifact a : artifacts) {
            checkMixed(List.of(a), new int[] {3}, 3);
        }
    }

    @Test
    void aThinSparseDeltaIsAppliedAsASparseProduct() {
        Artifact thin = artifacts.stream().filter(a -> a.name().equals("thin-sparse")).findFirst().orElseThrow();
        Artifact lora = artifacts.stream().filter(a -> a.name().equals("spt-lora")).findFirst().orElseThrow();
        checkMixed(List.of(lora, thin), new int[] {2, 3}, 4);
        synchronized (Gradients.ENGINE_LOCK) {
            try (NDManager scope = manager.newSubManager();
                    TunedModel a = TunedModel.overlay(shared, artifactLayout(thin), thin.tensors(), thin.name());
                    TunedModel b = TunedModel.overlay(shared, artifactLayout(lora), lora.tensors(), lora.name())) {
                TunedModel.forwardMixed(List.of(b, a), new int[] {1, 1}, scope.create(images(2, 5), new Shape(2, 3, 32, 32)));
                // the thin artifact's two matrices through x D^T; the mixed layout's q (62 of 2304 entries) its own product
                assertEquals(2, a.sparseWeightDeltas());
                assertEquals(0, b.sparseWeightDeltas());
            }
        }
    }

    @Test
    void oneOverlayInTwoGroupsAndEveryGroupOnTheSparsePath() {
        Artifact thin = artifacts.stream().filter(a -> a.name().equals("thin-sparse")).findFirst().orElseThrow();
        float[] x = images(5, 8);
        int per = 3 * 32 * 32;
        synchronized (Gradients.ENGINE_LOCK) {
            try (NDManager scope = manager.newSubManager();
                    TunedModel a = TunedModel.overlay(shared, artifactLayout(thin), thin.tensors(), thin.name())) {
                List<NDArray> logits = TunedModel.forwardMixed(List.of(a, a), new int[] {2, 3},
                        scope.create(x, new Shape(5, 3, 32, 32)));
                float[] first = alone(thin, java.util.Arrays.copyOfRange(x, 0, 2 * per), 2);
                float[] second = alone(thin, java.util.Arrays.copyOfRange(x, 2 * per, 5 * per), 3);
                float[] got0 = logits.get(0).toFloatArray();
                float[] got1 = logits.get(1).toFloatArray();
                for (int i = 0; i < first.length; i++) {
                    assertEquals(first[i], got0[i], TOLERANCE, "first group, logit " + i);
                }
                for (int i = 0; i < second.length; i++) {
                    assertEquals(second[i], got1[i], TOLERANCE, "second group, logit " + i);
                }
                assertEquals(2, a.sparseWeightDeltas());
            }
        }
    }

    @Test
    void refusesOverlaysOfAnotherModelAndRowsThatDoNotAddUp() {
        Artifact a = artifacts.get(0);
        synchronized (Gradients.ENGINE_LOCK) {
            try (NDManager scope = manager.newSubManager()) {
                var other = VisionTransformer.create(scope, CONFIG, BACKBONE_SEED);
                try (TunedModel one = TunedModel.overlay(shared, artifactLayout(a), a.tensors(), a.name());
                        TunedModel two = TunedModel.overlay(other, artifactLayout(a), a.tensors(), a.name())) {
                    NDArray x = scope.create(images(2, 6), new Shape(2, 3, 32, 32));
                    var e = assertThrows(IllegalArgumentException.class,
                            () -> TunedModel.forwardMixed(List.of(one, two), new int[] {1, 1}, x));
                    assertTrue(e.getMessage().contains("group 1 is on another model"), e.getMessage());
                    e = assertThrows(IllegalArgumentException.class,
                            () -> TunedModel.forwardMixed(List.of(one), new int[] {3}, x));
                    assertTrue(e.getMessage().contains("the groups hold 3 rows, the batch 2"), e.getMessage());
                }
            }
        }
    }
}
