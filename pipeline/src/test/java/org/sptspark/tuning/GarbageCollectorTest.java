package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.loss.Loss;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.model.Gradients;
import org.sptspark.model.Tensors;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.modules.Trainable;
import org.sptspark.modules.Unstructured;
import org.sptspark.snella.Competition;
import org.sptspark.snella.SnellaOptions;

/**
 * Gradients must not depend on when Java's garbage collector runs. Between the forward and the
 * backward pass this test collects garbage, waits for direct buffers to be freed and fills fresh
 * small direct buffers with NaN, so that a tensor whose storage is a freed Java buffer (the
 * hazard {@link Tensors} describes) is read back as NaN or garbage. Every method's gradients must
 * be finite and equal those of the same step taken without that pressure. Before the fix, the
 * scaled query's gradient (and with it the class token's) came back NaN here, the README's former
 * known bug.
 */
public class GarbageCollectorTest {

    static final VitConfig TINY = new VitConfig("vit_gc_test", 16, 4, 3, 32, 2, 4, 64, 5, 1e-6, 0.1);
    static final int BATCH = 6;

    @Test
    void gradientsDoNotDependOnWhenTheGarbageCollectorRuns() throws Exception {
        for (String method : List.of("full", "bias", "lora", "adapter", "spt-lora", "spt-adapter", "snella")) {
            try (NDManager manager = NDManager.newBaseManager()) {
                var model = VisionTransformer.create(manager, TINY, 7);
                TuningLayout layout = switch (method) {
                    case "spt-lora" -> TuningFixtures.mixed(model.space(), AllocationRule.Module.LORA, 4);
                    case "spt-adapter" -> TuningFixtures.mixed(model.space(), AllocationRule.Module.ADAPTER, 4);
                    default -> TuningLayout.baseline(Method.parse(method), model.space(), 4);
                };
                try (var tuned = TunedModel.forTraining(model, layout, 3, Unstructured.DELTA)) {
                    if (tuned.hook(Competition.class) != null) {
                        tuned.hook(Competition.class).start(SnellaOptions.defaults().withRank(4), 0.9, 2);
                    }
                    tuned.startEpoch(0);
                    Map<String, float[]> calm = gradients(tuned, manager, false);
                    Map<String, float[]> pressed = gradients(tuned, manager, true);
                    assertEquals(calm.keySet(), pressed.keySet());
                    assertTrue(calm.size() > 0, method);
                    for (String name : calm.keySet()) {
                        float[] a = calm.get(name);
                        float[] b = pressed.get(name);
                        double maxRef = 0;
                        double maxDiff = 0;
                        for (int i = 0; i < a.length; i++) {
                            assertTrue(Float.isFinite(b[i]), method + ": " + name + "[" + i + "] = " + b[i]);
                            maxRef = Math.max(maxRef, Math.abs(a[i]));
                            maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
                        }
                        assertTrue(maxDiff <= 1e-5 * maxRef + 1e-12,
                                method + ": " + name + " differs by " + maxDiff + " (largest " + maxRef + ")");
                    }
                }
            }
        }
    }

    /** One training step's gradients, by trainable name; then zeroes them. */
    private static Map<String, float[]> gradients(TunedModel tuned, NDManager manager, boolean pressure)
            throws InterruptedException {
        var random = new SplittableRandom(5);
        float[] pixels = new float[BATCH * 3 * TINY.imageSize() * TINY.imageSize()];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (float) random.nextGaussian();
        }
        long[] labels = new long[BATCH];
        for (int i = 0; i < BATCH; i++) {
            labels[i] = i % TINY.numClasses();
        }
        var out = new TreeMap<String, float[]>();
        synchronized (Gradients.ENGINE_LOCK) {
            try (NDManager scope = manager.newSubManager()) {
                Device cpu = Device.cpu();
                NDArray x = Tensors.constant(scope, pixels, new Shape(BATCH, 3, TINY.imageSize(), TINY.imageSize()), cpu);
                NDArray y = Tensors.constant(scope, labels, cpu);
                List<ByteBuffer> held = List.of();
                Engine.getInstance().setRandomSeed(17);
                try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                    NDArray logits = tuned.forward(x, true, 23);
                    NDArray loss = Loss.softmaxCrossEntropyLoss().evaluate(new NDList(y), new NDList(logits));
                    if (pressure) {
                        held = freeAndOverwrite();
                    }
                    collector.backward(loss);
                }
                if (pressure) {
                    held = freeAndOverwrite();
                }
                tuned.afterBackward();
                for (Trainable t : tuned.trainables()) {
                    try (NDArray g = t.value().getGradient()) {
                        out.put(t.name(), g.toFloatArray());
                        Tensors.zero(g);
                    }
                }
                java.lang.ref.Reference.reachabilityFence(held);
            }
        }
        return out;
    }

    /** Collects garbage, gives the cleaner time to free direct buffers, and refills small blocks with NaN. */
    public static List<ByteBuffer> freeAndOverwrite() throws InterruptedException {
        for (int i = 0; i < 2; i++) {
            System.gc();
            Thread.sleep(150);
        }
        var held = new ArrayList<ByteBuffer>();
        for (int size : new int[] {4, 8, 16, 24, 32, 48, 64, 128}) {
            for (int i = 0; i < 2_000; i++) {
                ByteBuffer b = ByteBuffer.allocateDirect(size).order(ByteOrder.nativeOrder());
                for (int at = 0; at + 4 <= size; at += 4) {
                    b.putFloat(at, Float.NaN);
                }
                held.add(b);
            }
        }
        return held;
    }
}
