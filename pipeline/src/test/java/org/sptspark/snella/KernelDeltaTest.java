package org.sptspark.snella;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.sptspark.model.Gradients;
import org.sptspark.model.Tensors;
import org.sptspark.training.TaskTraining;
import org.sptspark.tuning.Recipe;

/**
 * SNELLA's kernelized delta against the formula computed in float64 here, its gradients (through
 * the recomputation) against float64 central differences, and the competition's schedule and
 * shares against values worked by hand.
 */
class KernelDeltaTest {

    static final int ROWS = 6;
    static final int COLS = 9;
    static final int RANK = 4;
    static final int HEADS = 2;

    /** The reference formula in float64: dW[o][i] for factors in/out {@code [h][n][w]}. */
    static double[][] dense(double[][][] in, double[][][] out, double alpha, double gamma, double beta) {
        double[][] k = new double[ROWS][COLS];
        for (int o = 0; o < ROWS; o++) {
            for (int i = 0; i < COLS; i++) {
                for (int h = 0; h < HEADS; h++) {
                    double d = 0;
                    for (int j = 0; j < in[h][i].length; j++) {
                        double diff = out[h][o][j] - in[h][i][j];
                        d += diff * diff;
                    }
                    k[o][i] += (h % 2 == 0 ? 0.1 : -0.1) * Math.sqrt(d);
                }
            }
        }
        double[][] w = new double[ROWS][COLS];
        for (int i = 0; i < COLS; i++) {
            // softmax over the outputs o of input i: the reference's dim=-1 of its (in, out) matrix
            double max = Double.NEGATIVE_INFINITY;
            for (int o = 0; o < ROWS; o++) {
                max = Math.max(max, k[o][i] / gamma);
            }
            double sum = 0;
            for (int o = 0; o < ROWS; o++) {
                sum += Math.exp(k[o][i] / gamma - max);
            }
            for (int o = 0; o < ROWS; o++) {
                w[o][i] = k[o][i] + alpha * Math.exp(k[o][i] / gamma - max) / sum + beta;
            }
        }
        return w;
    }

    static double[][][] unpack(float[] flat, int n) {
        int width = RANK / HEADS;
        double[][][] t = new double[HEADS][n][width];
        for (int h = 0; h < HEADS; h++) {
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < width; j++) {
                    t[h][i][j] = flat[(h * n + i) * width + j];
                }
            }
        }
        return t;
    }

    /** Flat indices of the {@code keep} largest |w|. */
    static int[] top(double[][] w, int keep) {
        return IntStream.range(0, ROWS * COLS).boxed()
                .sorted(Comparator.comparingDouble((Integer f) -> -Math.abs(w[f / COLS][f % COLS])))
                .limit(keep).mapToInt(Integer::intValue).sorted().toArray();
    }

    static KernelDelta kernel(NDManager manager) {
        var k = new KernelDelta("blocks.0.attn.q", ROWS, COLS, RANK, HEADS, 11, manager, Device.cpu());
        Tensors.assign(k.alpha, new float[] {1.3f});
        Tensors.assign(k.gamma, new float[] {0.05f});
        Tensors.assign(k.beta, new float[] {0.02f});
        return k;
    }

    @Test
    void theSparseDeltaIsTheFormulaOnTheLargestEntries() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            KernelDelta k = kernel(manager);
            k.setKeep(20);
            double[][] w = dense(unpack(k.in.toFloatArray(), COLS), unpack(k.out.toFloatArray(), ROWS), 1.3, 0.05, 0.02);
            int[] kept = top(w, 20);
            float[] delta = k.delta(manager).toFloatArray();
            long nonZero = 0;
            for (int f = 0; f < ROWS * COLS; f++) {
                double v = w[f / COLS][f % COLS];
                boolean selected = Arrays.binarySearch(kept, f) >= 0;
                double expected = selected ? v * Math.abs(v) : 0;
                assertEquals(expected, delta[f], 1e-6 * Math.max(1, Math.abs(expected)), "entry " + f);
                nonZero += delta[f] != 0 ? 1 : 0;
            }
            assertEquals(20, nonZero);
            float[] dense = k.dense(manager, false).toFloatArray();
            assertArrayEquals(Arrays.stream(kept).asLongStream().toArray(), k.indices(dense));
            // the forward pass's detached dW and the recomputation's are the same floats, so the
            // entries selected in the forward pass are the ones differentiated
            for (NDArray p : new NDArray[] {k.in, k.out, k.alpha, k.gamma, k.beta}) {
                p.setRequiresGradient(true);
            }
            float[] recomputed;
            synchronized (Gradients.ENGINE_LOCK) {
                try (NDManager step = manager.newSubManager();
                        GradientCollector c = Engine.getInstance().newGradientCollector()) {
                    recomputed = k.dense(step, true).toFloatArray();
                }
            }
            assertArrayEquals(bits(dense), bits(recomputed));
        }
    }

    @Test
    void gradientsThroughTheRecomputationMatchCentralDifferences() {
        synchronized (Gradients.ENGINE_LOCK) {
            try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
                KernelDelta k = kernel(manager);
                k.setKeep(30);
                for (NDArray p : new NDArray[] {k.in, k.out, k.alpha, k.gamma, k.beta}) {
                    p.setRequiresGradient(true);
                }
                var random = new SplittableRandom(5);
                double[] g = random.doubles(ROWS * COLS, -1, 1).toArray();
                float[] gf = new float[g.length];
                for (int i = 0; i < g.length; i++) {
                    gf[i] = (float) g[i];
                }
                // the network's pass: a loss linear in the proxy, sum(delta * G), so the proxy's gradient is G
                try (NDManager step = manager.newSubManager()) {
                    try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                        NDArray proxy = k.proxy(step);
                        c.backward(proxy.mul(step.create(gf, proxy.getShape())).sum());
                    }
                    try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                        k.backward(step, c, 0.85, 0.85);
                    }
                }
                float[] in = k.in.toFloatArray();
                float[] out = k.out.toFloatArray();
                double[] scalars = {1.3, 0.05, 0.02};
                double[][] w0 = dense(unpack(in, COLS), unpack(out, ROWS), 1.3, 0.05, 0.02);
                int[] kept = top(w0, 30);
                // |dW| and the selection are constants of the backward pass: the loss differentiated is
                // L(theta) = sum over kept f of dW_f(theta) |dW_f(theta0)| G_f
                java.util.function.Function<double[][], Double> loss = w -> {
                    double s = 0;
                    for (int f : kept) {
                        s += w[f / COLS][f % COLS] * Math.abs(w0[f / COLS][f % COLS]) * g[f];
                    }
                    return s;
                };
                double eps = 1e-6;
                float[] gin = k.in.getGradient().toFloatArray();
                for (int j = 0; j < in.length; j++) {
                    float[] plus = in.clone();
                    float[] minus = in.clone();
                    double[][][] p = unpack(plus, COLS);
                    double[][][] m = unpack(minus, COLS);
                    int width = RANK / HEADS;
                    int h = j / (COLS * width);
                    int i = (j / width) % COLS;
                    p[h][i][j % width] += eps;
                    m[h][i][j % width] -= eps;
                    double fd = (loss.apply(dense(p, unpack(out, ROWS), 1.3, 0.05, 0.02))
                            - loss.apply(dense(m, unpack(out, ROWS), 1.3, 0.05, 0.02))) / (2 * eps);
                    assertEquals(fd, gin[j], 1e-4 + 1e-3 * Math.abs(fd), "dL/dIn[" + j + "]");
                }
                float[] gout = k.out.getGradient().toFloatArray();
                for (int j = 0; j < out.length; j++) {
                    double[][][] p = unpack(out, ROWS);
                    double[][][] m = unpack(out, ROWS);
                    int width = RANK / HEADS;
                    int h = j / (ROWS * width);
                    int o = (j / width) % ROWS;
                    p[h][o][j % width] += eps;
                    m[h][o][j % width] -= eps;
                    double fd = (loss.apply(dense(unpack(in, COLS), p, 1.3, 0.05, 0.02))
                            - loss.apply(dense(unpack(in, COLS), m, 1.3, 0.05, 0.02))) / (2 * eps);
                    assertEquals(fd, gout[j], 1e-4 + 1e-3 * Math.abs(fd), "dL/dOut[" + j + "]");
                }
                NDArray[] params = {k.alpha, k.gamma, k.beta};
                for (int s = 0; s < 3; s++) {
                    double[] up = scalars.clone();
                    double[] down = scalars.clone();
                    up[s] += eps;
                    down[s] -= eps;
                    double fd = (loss.apply(dense(unpack(in, COLS), unpack(out, ROWS), up[0], up[1], up[2]))
                            - loss.apply(dense(unpack(in, COLS), unpack(out, ROWS), down[0], down[1], down[2]))) / (2 * eps);
                    assertEquals(fd, params[s].getGradient().getFloat(), 1e-4 + 1e-3 * Math.abs(fd), "scalar " + s);
                }
                // the importance moving averages saw this step: I_bar = 0.15 |p g|, U_bar = 0.15 |I - I_bar|
                double expected = 0;
                for (var pair : new float[][][] {{in, gin}, {out, gout}}) {
                    double sum = 0;
                    for (int j = 0; j < pair[0].length; j++) {
                        double ipt = Math.abs((double) pair[0][j] * pair[1][j]);
                        double avg = 0.15 * ipt;
                        sum += avg * 0.15 * Math.abs(ipt - avg);
                    }
                    expected += sum / pair[0].length;
                }
                assertEquals(expected, k.score(), 1e-6 * expected + 1e-12);
            }
        }
    }

    @Test
    void theThresholdIsTheKeepThLargestMagnitude() {
        var random = new SplittableRandom(3);
        float[] values = new float[1001];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextDouble();
        }
        float[] sorted = values.clone();
        Arrays.sort(sorted);
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            NDArray array = manager.create(values, new ai.djl.ndarray.types.Shape(7, 143));
            for (int keep : new int[] {1, 2, 500, 501, 502, 999, 1000}) {
                assertEquals(sorted[values.length - keep], KernelDelta.threshold(array, keep), "keep " + keep);
            }
            assertEquals(Float.POSITIVE_INFINITY, KernelDelta.threshold(array, 0));
            assertEquals(Float.NEGATIVE_INFINITY, KernelDelta.threshold(array, 1001));
        }
    }

    @Test
    void theScheduleFollowsTheCubicClosedForm() {
        // three matrices of 100, 400 and 250 entries; 10 epochs, 1 initial and 2 final warm-up epochs
        var a = new SparsityAllocator(new long[] {100, 400, 250}, 0.01, 0.8, 10, 1, 2, 1);
        // V_init = 99 + 396 + round(247.5) = 743; V_target = round(0.2 * 750) = 150; the decrease ends at E = 10 - 1 - 2 = 7
        assertEquals(743, a.initVolume());
        assertEquals(150, a.targetVolume());
        assertEquals(743, a.volume(0));
        assertEquals(743, a.volume(1));
        // t = 2: 150 + 593 (5/6)^3 = 493.17...; t = 4: 150 + 593 (1/2)^3 = 224.125; t = 6: 150 + 593 (1/6)^3 = 152.74...
        assertEquals(493, a.volume(2));
        assertEquals(224, a.volume(4));
        assertEquals(152, a.volume(6));
        assertEquals(150, a.volume(7));
        assertEquals(150, a.volume(9));
        assertEquals(false, a.reallocates(0));
        assertEquals(false, a.reallocates(1));
        assertEquals(true, a.reallocates(2));
        var every3 = new SparsityAllocator(new long[] {100, 400, 250}, 0.01, 0.8, 10, 1, 2, 3);
        assertEquals(java.util.List.of(3, 6, 7, 8, 9),
                IntStream.range(0, 10).filter(every3::reallocates).boxed().toList());
        assertThrows(IllegalArgumentException.class, () -> new SparsityAllocator(new long[] {10}, 0.01, 0.8, 3, 1, 1, 1));
        var tooShort = assertThrows(IllegalArgumentException.class, () -> SnellaOptions.defaults().checkEpochs(1));
        assertTrue(tooShort.getMessage().contains("raise --epochs"), tooShort.getMessage());
        SnellaOptions.defaults().checkEpochs(2);
        assertEquals(0.8, SnellaOptions.defaults().withTargets(SnellaOptions.parse("0.9, cifar=0.8")).target("cifar"));
        assertEquals("sparsity0.9", SnellaOptions.defaults().label("dtd"));
        assertThrows(IllegalArgumentException.class, () -> SnellaOptions.parse("0.9,cifar=high"));
        var perTask = new SnellaOptions(32, 2, 0.01, SnellaOptions.parse("0.9"), 0, 0, 1, 0.85, 0.85,
                SnellaOptions.parseMap("cifar=8"), SnellaOptions.parseMap("0.01,cifar=0.05"));
        Recipe cifar = TaskTraining.snellaRecipe(perTask, "cifar", Recipe.vtab());
        Recipe dtd = TaskTraining.snellaRecipe(perTask, "dtd", Recipe.vtab());
        assertEquals(8, cifar.batchSize());
        assertEquals(0.05, cifar.weightDecay());
        assertEquals(64, dtd.batchSize());
        assertEquals(0.01, dtd.weightDecay());
        assertEquals(Recipe.vtab().lr(), dtd.lr());
        assertThrows(IllegalArgumentException.class, () -> new SnellaOptions(32, 2, 0.01, SnellaOptions.parse("0.9"), 0, 0,
                1, 0.85, 0.85, SnellaOptions.parseMap("cifar=8.5"), java.util.Map.of()));
    }

    @Test
    void sharesFollowScoresUnderEachMatrixsSize() {
        var a = new SparsityAllocator(new long[] {10, 100, 100}, 0.01, 0.8, 10, 0, 0, 1);
        // 60 by scores 0.8/0.1/0.1 is 48, 6, 6; the first is capped at 10 and its overflow of 38 split evenly
        assertArrayEquals(new long[] {10, 25, 25}, a.allocate(60, new double[] {0.8, 0.1, 0.1}));
        // the same shares with unnormalised scores
        assertArrayEquals(new long[] {10, 25, 25}, a.allocate(60, new double[] {8, 1, 1}));
        // all-zero scores share equally; rounding gives the remainder to the largest fractions
        var b = new SparsityAllocator(new long[] {100, 100, 100}, 0.01, 0.8, 10, 0, 0, 1);
        long[] equal = b.allocate(100, new double[] {0, 0, 0});
        assertEquals(100, Arrays.stream(equal).sum());
        assertTrue(Arrays.stream(equal).allMatch(v -> v == 33 || v == 34), Arrays.toString(equal));
        assertArrayEquals(new long[] {100, 100, 100}, b.allocate(300, new double[] {1, 2, 3}));
        assertThrows(IllegalArgumentException.class, () -> b.allocate(301, new double[] {1, 1, 1}));
    }

    private static int[] bits(float[] values) {
        return java.util.stream.IntStream.range(0, values.length).map(i -> Float.floatToRawIntBits(values[i])).toArray();
    }
}
