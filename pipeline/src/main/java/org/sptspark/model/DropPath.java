package org.sptspark.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import java.util.SplittableRandom;

/**
 * Stochastic depth on a residual branch, shared by every family: in training, whole samples are
 * zeroed with probability {@code rate} and the survivors scaled by {@code 1/(1-rate)}, the masks
 * drawn from a block's own generator so that they depend on the forward's seed and the block's index
 * alone (a block run again draws the masks it drew the first time).
 */
final class DropPath {

    private DropPath() {}

    /** The branch, its samples dropped in training; unchanged in inference or at rate 0 ({@code random} unused). */
    static NDArray apply(NDArray branch, double rate, boolean training, SplittableRandom random) {
        if (!training || rate <= 0) {
            return branch;
        }
        int batch = (int) branch.getShape().get(0);
        double keep = 1.0 - rate;
        float[] mask = new float[batch];
        for (int i = 0; i < batch; i++) {
            mask[i] = random.nextDouble() < keep ? (float) (1.0 / keep) : 0f;
        }
        long[] dims = new long[branch.getShape().dimension()];
        java.util.Arrays.fill(dims, 1);
        dims[0] = batch;
        NDArray m = Tensors.constant(branch.getManager(), mask, new Shape(dims), branch.getDevice());
        return branch.mul(m);
    }

    /** Block {@code index}'s generator: the {@code index}-th split of the forward's seed, as one pass splits them in turn. */
    static SplittableRandom blockRandom(long seed, int index) {
        var random = new SplittableRandom(seed);
        SplittableRandom split = null;
        for (int i = 0; i <= index; i++) {
            split = random.split();
        }
        return split;
    }
}
