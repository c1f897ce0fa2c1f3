package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.Gradients;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.model.VitPresets;
import org.sptspark.modules.Trainable;
import org.sptspark.modules.Unstructured;

/** The parametrisations, the optimizer and the schedule against independent references. */
class TuningTest {

    static final VitConfig TINY = new VitConfig("vit_tuning_test", 16, 4, 3, 32, 2, 4, 64, 5, 1e-6, 0.1);

    @Test
    void aFreshTunedModelComputesTheBackboneFunction() {
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = VisionTransformer.create(manager, TINY, 11);
            NDArray x = manager.randomNormal(new Shape(3, 3, 16, 16));
            var layouts = List.of(
                    TuningFixtures.mixed(model.space(), AllocationRule.Module.LORA, 2),
                    TuningFixtures.mixed(model.space(), AllocationRule.Module.ADAPTER, 2),
                    TuningLayout.baseline(Method.LORA, model.space(), 4),
                    TuningLayout.baseline(Method.ADAPTER, model.space(), 4));
            for (TuningLayout layout : layouts) {
                // zero deltas and zero up/B projections add exactly nothing to the backbone with the new head
                try (var tuned = TunedModel.forTraining(model, layout, 5, Unstructured.DELTA)) {
                    try (NDManager step = manager.newSubManager()) {
                        NDArray xs = x.duplicate();
                        xs.attach(step);
                        float[] tunedLogits = tuned.forward(xs, false, 0).toFloatArray();
                        model.clearBranches();
                        float[] reference = model.forward(new ParameterStore(manager, false), new NDList(xs), false)
                                .head().toFloatArray();
                        assertArrayEquals(reference, tunedLogits, 0f, layout.method().id());
                    }
                }
            }
        }
    }

    @Test
    void theSparseDeltasGradientIsTheDenseGradientAtItsIndices() {
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = VisionTransformer.create(manager, TINY, 12);
            var layout = TuningFixtures.mixed(model.space(), AllocationRule.Module.LORA, 2);
            NDArray x = manager.randomNormal(new Shape(4, 3, 16, 16));
            NDArray y = manager.create(new long[] {0, 3, 1, 4});
            float[] deltaGrad;
            float[] normDeltaGrad;
            try (var tuned = TunedModel.forTraining(model, layout, 5, Unstructured.DELTA)) {
                synchronized (Gradients.ENGINE_LOCK) {
                    try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                        NDArray logits = tuned.forward(x, false, 0);
                        c.backward(Loss.softmaxCrossEntropyLoss().evaluate(new NDList(y), new NDList(logits)));
                    }
                }
                var byName = new java.util.HashMap<String, NDArray>();
                tuned.trainables().forEach(t -> byName.put(t.name(), t.value()));
                deltaGrad = byName.get("blocks.0.attn.q.weight.delta_value").getGradient().toFloatArray();
                normDeltaGrad = byName.get("blocks.1.norm2.weight.delta_value").getGradient().toFloatArray();
            }
            // reference: the plain model with the two tensors trainable whole (no branches: B = 0 adds nothing)
            model.setTrainable(false);
            model.parameter("blocks.0.attn.q.weight").freeze(false);
            model.parameter("blocks.1.norm2.weight").freeze(false);
            synchronized (Gradients.ENGINE_LOCK) {
                try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                    NDArray logits = model.forward(new ParameterStore(manager, false), new NDList(x), false).head();
                    c.backward(Loss.softmaxCrossEntropyLoss().evaluate(new NDList(y), new NDList(logits)));
                }
            }
            float[] dense = model.parameter("blocks.0.attn.q.weight").getArray().getGradient().toFloatArray();
            float[] denseNorm = model.parameter("blocks.1.norm2.weight").getArray().getGradient().toFloatArray();
            int[] idx = ((TensorDecision.Sparse) layout.decision("blocks.0.attn.q.weight")).indices();
            assertEquals(idx.length, deltaGrad.length);
            for (int i = 0; i < idx.length; i++) {
                assertEquals(dense[idx[i]], deltaGrad[i], 1e-6 + 1e-5 * Math.abs(dense[idx[i]]), "entry " + idx[i]);
            }
            int[] normIdx = {1, 7, 8};
            for (int i = 0; i < normIdx.length; i++) {
                assertEquals(denseNorm[normIdx[i]], normDeltaGrad[i], 1e-6 + 1e-5 * Math.abs(denseNorm[normIdx[i]]));
            }
            assertTrue(java.util.Arrays.stream(idx).anyMatch(i -> dense[i] != 0f), "a gradient that is all zero proves nothing");
        }
    }

    @Test
    void adamWFollowsPyTorchsUpdateWorkedInFloat64() {
        double lr = 0.01;
        double wd = 0.1;
        float[] w0 = {0.5f, -1.25f, 2f, 0.1f};
        float[][] grads = {{0.3f, -0.2f, 0f, 1e-6f}, {-0.1f, 0.4f, 0.25f, -2f}, {0.05f, 0.05f, -0.5f, 0.7f}};
        for (boolean decay : new boolean[] {true, false}) {
            try (NDManager manager = NDManager.newBaseManager(); AdamW adam = new AdamW(manager)) {
                NDArray w = manager.create(w0);
                w.setRequiresGradient(true);
                var p = new Trainable("w", w, decay, null);
                double[] ref = new double[w0.length];
                double[] m = new double[w0.length];
                double[] v = new double[w0.length];
                for (int i = 0; i < ref.length; i++) {
                    ref[i] = w0[i];
                }
                for (int t = 1; t <= grads.length; t++) {
                    float[] g = grads[t - 1];
                    synchronized (Gradients.ENGINE_LOCK) {
                        try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                            c.backward(w.mul(manager.create(g)).sum()); // d/dw sum(w * g) = g
                        }
                    }
                    adam.step(List.of(p), lr, wd);
                    for (int i = 0; i < ref.length; i++) {
                        if (decay) {
                            ref[i] *= 1 - lr * wd;
                        }
                        m[i] = 0.9 * m[i] + 0.1 * g[i];
                        v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                        double denom = Math.sqrt(v[i]) / Math.sqrt(1 - Math.pow(0.999, t)) + 1e-8;
                        ref[i] -= lr / (1 - Math.pow(0.9, t)) * m[i] / denom;
                    }
                    float[] got = w.toFloatArray();
                    for (int i = 0; i < ref.length; i++) {
                        assertEquals(ref[i], got[i], 1e-6, "step " + t + " entry " + i + " decay " + decay);
                    }
                    assertArrayEquals(new float[4], w.getGradient().toFloatArray(), "the step zeroes the gradient");
                }
                assertEquals(2 * 4 * Float.BYTES, adam.stateBytes());
            }
        }
    }

    @Test
    void theScheduleIsTimmsCosineWithLinearWarmup() {
        Recipe r = Recipe.vtab();
        // worked by hand: warm-up 1e-6 + e (1e-3 - 1e-6) / 10, then 1e-5 + 0.5 (1e-3 - 1e-5)(1 + cos(pi e / 100))
        assertEquals(1e-6, r.lr(0), 1e-15);
        assertEquals(5.005e-4, r.lr(5), 1e-15);
        assertEquals(1.009e-4, r.lr(1), 1e-15);
        assertEquals(9.7577297556610e-4, r.lr(10), 1e-15);
        assertEquals(5.05e-4, r.lr(50), 1e-15);
        assertEquals(1.024425e-5, r.lr(99), 1e-10);
        assertTrue(r.lr(11) < r.lr(10));
    }

    @Test
    void baselineLayoutsCountWhatThePapersCount() {
        ParameterSpace vitB = ParameterSpace.of(VitPresets.get("vit_base_patch16_224").withNumClasses(100));
        // LoRA r=8 on q, k, v, proj (8 * 1536 each) and fc1, fc2 (8 * 3840 each), 12 blocks, plus the class token
        assertEquals(12 * (4 * 8 * 1536 + 2 * 8 * 3840) + 768, TuningLayout.baseline(Method.LORA, vitB, 8).trainable());
        // Adapter r=8 after each: 2 r out + r + out
        long adapter = 12 * (4 * (2 * 8 * 768 + 8 + 768) + (2 * 8 * 3072 + 8 + 3072) + (2 * 8 * 768 + 8 + 768)) + 768;
        assertEquals(adapter, TuningLayout.baseline(Method.ADAPTER, vitB, 8).trainable());
        // BitFit: per block q, k, v, proj, fc2 and both norms 768 each, fc1 3072; patch embedding and final norm
        assertEquals(12 * (7 * 768 + 3072) + 768 + 768, TuningLayout.baseline(Method.BIAS, vitB, 0).trainable());
        assertEquals(0, TuningLayout.baseline(Method.LINEAR, vitB, 0).trainable());
        assertEquals(vitB.backboneSize(), TuningLayout.baseline(Method.FULL, vitB, 0).trainable());
        var e = assertThrows(IllegalArgumentException.class, () -> TuningLayout.baseline(Method.SPT_LORA, vitB, 8));
        assertTrue(e.getMessage().contains("needs a plan"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Method.parse("lora2"));
        assertTrue(e.getMessage().contains("spt-lora"), e.getMessage());
    }
}
