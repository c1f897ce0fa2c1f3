package org.sptspark.snella;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.sptspark.model.Gradients;
import org.sptspark.model.Tensors;
import org.sptspark.tuning.GarbageCollectorTest;

/** SNELLA's kernel under the garbage collector, as {@link GarbageCollectorTest} puts whole training steps. */
class KernelGarbageCollectorTest {

    /**
     * SNELLA's recomputation builds its graph and back-propagates at once, inside the trainer's
     * step; here the garbage collector is made to run between the two, on the kernel itself.
     */
    @Test
    void theKernelsGradientsDoNotDependOnWhenTheGarbageCollectorRuns() throws Exception {
        synchronized (Gradients.ENGINE_LOCK) {
            try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
                KernelDelta k = KernelDeltaTest.kernel(manager);
                NDArray[] factors = {k.in, k.out, k.alpha, k.gamma, k.beta};
                for (NDArray p : factors) {
                    p.setRequiresGradient(true);
                }
                float[][] calm = kernelGradients(k, manager, false);
                float[][] pressed = kernelGradients(k, manager, true);
                for (int f = 0; f < factors.length; f++) {
                    for (int i = 0; i < calm[f].length; i++) {
                        assertTrue(Float.isFinite(pressed[f][i]), "factor " + f + "[" + i + "] = " + pressed[f][i]);
                        assertEquals(calm[f][i], pressed[f][i], 1e-5 * Math.abs(calm[f][i]) + 1e-9, "factor " + f);
                    }
                }
            }
        }
    }

    private static float[][] kernelGradients(KernelDelta k, NDManager manager, boolean pressure)
            throws InterruptedException {
        NDArray[] factors = {k.in, k.out, k.alpha, k.gamma, k.beta};
        List<ByteBuffer> held = List.of();
        try (NDManager step = manager.newSubManager()) {
            try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                NDArray dense = k.dense(step, true);
                var random = new SplittableRandom(9);
                float[] w = new float[(int) dense.size()];
                for (int i = 0; i < w.length; i++) {
                    w[i] = (float) random.nextDouble(-1, 1);
                }
                NDArray weight = Tensors.constant(step, w, dense.getShape(), Device.cpu());
                NDArray loss = dense.mul(weight).sum();
                if (pressure) {
                    held = GarbageCollectorTest.freeAndOverwrite();
                }
                c.backward(loss);
            }
        }
        float[][] out = new float[factors.length][];
        for (int f = 0; f < factors.length; f++) {
            try (NDArray g = factors[f].getGradient()) {
                out[f] = g.toFloatArray();
                Tensors.zero(g);
            }
        }
        java.lang.ref.Reference.reachabilityFence(held);
        return out;
    }
}
