package org.sptspark.modules;

/** How unstructured (sparse) entries are trained. */
public enum Unstructured {
    /** Our way: a sparse delta of the budget's size. */
    DELTA,
    /**
     * The reference's way, for benchmarks only: the whole tensor is trainable and its gradient is
     * multiplied by a 0/1 mask, so gradients and optimizer state are the size of the tensor.
     */
    MASKED_FULL
}
