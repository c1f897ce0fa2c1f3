package org.sptspark.snella;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import java.util.ArrayList;
import java.util.List;
import org.sptspark.modules.TrainingHook;

/**
 * SNELLA's matrices of one model competing for a shrinking non-zero volume: at the schedule's
 * epochs the {@link SparsityAllocator} shares the volume out by the matrices' importance scores,
 * and after every backward pass each kernel back-propagates into its factors and updates its
 * importance. {@link #start} sets the competition's terms before training.
 */
public final class Competition implements TrainingHook {

    /** The reference's EMA factors of the importance, used until {@link #start} gives others. */
    private static final double DEFAULT_BETA = 0.85;

    /**
     * One matrix as it stands.
     *
     * @param tensor the weight's name
     * @param entries the matrix's entries
     * @param kept entries kept now
     * @param score the importance at the last re-allocation (NaN before the first)
     */
    public record MatrixState(String tensor, long entries, long kept, double score) {}

    private final List<Kernel> kernels;
    private final NDManager manager;
    private SnellaOptions options;
    private SparsityAllocator allocator;
    private double[] lastScores;

    Competition(List<Kernel> kernels, NDManager manager) {
        this.kernels = List.copyOf(kernels);
        this.manager = manager;
    }

    /**
     * Starts the competition for a training of {@code epochs} epochs on a task whose target
     * sparsity is {@code targetSparsity}; every matrix starts at the initial sparsity.
     */
    public void start(SnellaOptions options, double targetSparsity, int epochs) {
        long[] sizes = kernels.stream().mapToLong(k -> k.kernel.size()).toArray();
        this.options = options;
        allocator = new SparsityAllocator(sizes, options.initSparsity(), targetSparsity, epochs, options.initWarmup(),
                options.finalWarmup(), options.maskInterval());
        long[] initial = allocator.initial();
        for (int m = 0; m < kernels.size(); m++) {
            kernels.get(m).kernel.setKeep(initial[m]);
        }
    }

    /** The allocator, once {@link #start} was called. */
    public SparsityAllocator allocator() {
        return allocator;
    }

    /** Re-allocates the matrices when the schedule says so. */
    @Override
    public void startEpoch(int epoch) {
        if (allocator == null) {
            throw new IllegalStateException("SNELLA needs its competition settings: call Competition.start before training");
        }
        if (!allocator.reallocates(epoch)) {
            return;
        }
        double[] scores = kernels.stream().mapToDouble(k -> k.kernel.score()).toArray();
        long[] counts = allocator.allocate(allocator.volume(epoch), scores);
        for (int m = 0; m < kernels.size(); m++) {
            kernels.get(m).kernel.setKeep(counts[m]);
        }
        lastScores = scores;
    }

    /**
     * Back-propagates into the factors, one matrix at a time, and updates their importance. (The
     * reference updates the importance after the optimizer's step, with the updated factors; the
     * trainer clears gradients as it steps, so the importance uses the factors before it: one
     * step's difference in an average over many.)
     */
    @Override
    public void afterBackward() {
        backPropagate(-1);
    }

    /**
     * With activation checkpointing, the kernels of the block just back-propagated (the only ones
     * whose forward copy exists now) take their gradient here, so that a block's dense deltas exist
     * only while that block is recomputed.
     */
    @Override
    public void afterBlockBackward(int block) {
        backPropagate(block);
    }

    /**
     * Each kernel of {@code block} (every block: -1) used since its last back-propagation takes its
     * gradient; the others do nothing.
     */
    private void backPropagate(int block) {
        double b1 = options == null ? DEFAULT_BETA : options.beta1();
        double b2 = options == null ? DEFAULT_BETA : options.beta2();
        try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            for (Kernel k : kernels) {
                if (block < 0 || k.block == block) {
                    k.kernel.backward(manager, collector, b1, b2);
                }
            }
        }
    }

    /** The matrices as they stand, in the model's order. */
    public List<MatrixState> states() {
        var out = new ArrayList<MatrixState>();
        for (int m = 0; m < kernels.size(); m++) {
            KernelDelta k = kernels.get(m).kernel;
            out.add(new MatrixState(kernels.get(m).tensor(), k.size(), k.keep(),
                    lastScores == null ? Double.NaN : lastScores[m]));
        }
        return out;
    }

    /** Non-zero entries of the deltas now. */
    public long nonZeros() {
        return kernels.stream().mapToLong(k -> k.kernel.keep()).sum();
    }
}
