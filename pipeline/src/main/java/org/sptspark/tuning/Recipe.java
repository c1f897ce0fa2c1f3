package org.sptspark.tuning;

import org.sptspark.model.Precision;

/**
 * How a task is trained. {@link #vtab()} is the reference's VTAB-1k recipe; {@link #builder()}
 * starts from it and sets fields by name ({@code Recipe.builder().epochs(5).warmupEpochs(0).build()}).
 *
 * @param epochs passes over the training split
 * @param batchSize images per optimisation step (the last step of an epoch may be smaller)
 * @param lr peak learning rate
 * @param weightDecay AdamW's decoupled decay, applied to matrices only (never to 1-D tensors, the
 *     class and position tokens, or sparse deltas)
 * @param warmupEpochs linear warm-up epochs from {@code warmupLr}
 * @param warmupLr learning rate of epoch 0
 * @param minLr the cosine schedule's floor
 * @param dropPath the backbone's stochastic-depth rate while training
 * @param evalEvery evaluate on the monitoring split every this many epochs (0: never)
 * @param seed seeds the head, the modules' initialisation, the shuffling and every random mask
 * @param precision the arithmetic of the forward and backward passes (parameters and AdamW stay float32)
 * @param checkpointActivations keep only each block's input in the forward pass and run the blocks
 *     but the last again in the backward pass ({@link TunedModel#setActivationCheckpointing}): the same
 *     gradients in less memory, for one more forward pass
 */
public record Recipe(int epochs, int batchSize, double lr, double weightDecay, int warmupEpochs, double warmupLr,
        double minLr, double dropPath, int evalEvery, long seed, Precision precision, boolean checkpointActivations)
        implements java.io.Serializable {

    /** A recipe without activation checkpointing. */
    public Recipe(int epochs, int batchSize, double lr, double weightDecay, int warmupEpochs, double warmupLr,
            double minLr, double dropPath, int evalEvery, long seed, Precision precision) {
        this(epochs, batchSize, lr, weightDecay, warmupEpochs, warmupLr, minLr, dropPath, evalEvery, seed, precision, false);
    }

    /** A float32 recipe. */
    public Recipe(int epochs, int batchSize, double lr, double weightDecay, int warmupEpochs, double warmupLr,
            double minLr, double dropPath, int evalEvery, long seed) {
        this(epochs, batchSize, lr, weightDecay, warmupEpochs, warmupLr, minLr, dropPath, evalEvery, seed, Precision.FP32);
    }

    public Recipe {
        if (precision == null) {
            throw new IllegalArgumentException("a recipe needs a precision (fp32 or bf16)");
        }
        if (epochs < 1 || batchSize < 1) {
            throw new IllegalArgumentException("epochs and batch size must be positive, not " + epochs + " and " + batchSize);
        }
        if (warmupEpochs < 0 || warmupEpochs > epochs) {
            throw new IllegalArgumentException("warm-up epochs must be in 0.." + epochs + ", not " + warmupEpochs);
        }
        if (!(lr > 0) || weightDecay < 0 || warmupLr < 0 || minLr < 0) {
            throw new IllegalArgumentException("learning rates must be positive and decay non-negative");
        }
        if (dropPath < 0 || dropPath >= 1) {
            throw new IllegalArgumentException("drop-path must be in [0, 1), not " + dropPath);
        }
    }

    /** SPT's VTAB-1k recipe: AdamW 1e-3, decay 1e-4, batch 64, 100 epochs, 10 warm-up from 1e-6, floor 1e-5, drop-path 0.1. */
    public static Recipe vtab() {
        return new Recipe(100, 64, 1e-3, 1e-4, 10, 1e-6, 1e-5, 0.1, 10, 0);
    }

    /** A builder holding {@link #vtab()}'s values. */
    public static Builder builder() {
        return vtab().toBuilder();
    }

    /** A builder holding this recipe's values. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    public Recipe withEpochs(int e, int warmup) {
        return toBuilder().epochs(e).warmupEpochs(warmup).build();
    }

    public Recipe withSeed(long s) {
        return toBuilder().seed(s).build();
    }

    public Recipe withPrecision(Precision p) {
        return toBuilder().precision(p).build();
    }

    public Recipe withCheckpointActivations(boolean on) {
        return toBuilder().checkpointActivations(on).build();
    }

    /**
     * A recipe's fields set by name; each setter's parameter is the record component of the same
     * name. {@link #build} checks them together, so the order of the setters does not matter (a
     * 5-epoch recipe from {@link #builder()} needs {@code warmupEpochs} of at most 5, set before or
     * after {@code epochs}).
     */
    public static final class Builder {

        private int epochs;
        private int batchSize;
        private double lr;
        private double weightDecay;
        private int warmupEpochs;
        private double warmupLr;
        private double minLr;
        private double dropPath;
        private int evalEvery;
        private long seed;
        private Precision precision;
        private boolean checkpointActivations;

        private Builder(Recipe from) {
            epochs = from.epochs;
            batchSize = from.batchSize;
            lr = from.lr;
            weightDecay = from.weightDecay;
            warmupEpochs = from.warmupEpochs;
            warmupLr = from.warmupLr;
            minLr = from.minLr;
            dropPath = from.dropPath;
            evalEvery = from.evalEvery;
            seed = from.seed;
            precision = from.precision;
            checkpointActivations = from.checkpointActivations;
        }

        public Builder epochs(int value) {
            epochs = value;
            return this;
        }

        public Builder batchSize(int value) {
            batchSize = value;
            return this;
        }

        public Builder lr(double value) {
            lr = value;
            return this;
        }

        public Builder weightDecay(double value) {
            weightDecay = value;
            return this;
        }

        public Builder warmupEpochs(int value) {
            warmupEpochs = value;
            return this;
        }

        public Builder warmupLr(double value) {
            warmupLr = value;
            return this;
        }

        public Builder minLr(double value) {
            minLr = value;
            return this;
        }

        public Builder dropPath(double value) {
            dropPath = value;
            return this;
        }

        public Builder evalEvery(int value) {
            evalEvery = value;
            return this;
        }

        public Builder seed(long value) {
            seed = value;
            return this;
        }

        public Builder precision(Precision value) {
            precision = value;
            return this;
        }

        public Builder checkpointActivations(boolean value) {
            checkpointActivations = value;
            return this;
        }

        /** The recipe; throws {@link IllegalArgumentException} as the record's constructor does. */
        public Recipe build() {
            return new Recipe(epochs, batchSize, lr, weightDecay, warmupEpochs, warmupLr, minLr, dropPath, evalEvery, seed,
                    precision, checkpointActivations);
        }
    }

    /**
     * The learning rate of an epoch, as timm's {@code CosineLRScheduler} stepped per epoch:
     * linear warm-up {@code warmupLr + e (lr - warmupLr) / warmupEpochs} for the first epochs, then
     * {@code minLr + (lr - minLr)(1 + cos(pi e / epochs)) / 2}; the cosine's clock counts the
     * warm-up epochs too.
     */
    public double lr(int epoch) {
        if (epoch < warmupEpochs) {
            return warmupLr + epoch * (lr - warmupLr) / warmupEpochs;
        }
        return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * epoch / epochs));
    }
}
