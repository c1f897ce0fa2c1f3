package org.sptspark.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;

/**
 * Gradient bookkeeping shared by every job that back-propagates.
 *
 * <p>DJL's PyTorch engine allows one {@code GradientCollector} per JVM at a time (a second one
 * throws), so all gradient work in a JVM synchronises on {@link #ENGINE_LOCK}. On a cluster, run one
 * gradient task per executor JVM ({@code spark.executor.cores} = {@code spark.task.cpus}); in
 * {@code local[*]} mode the lock serialises them.
 */
public final class Gradients {

    /** Held for the whole forward-backward-read of one batch. */
    public static final Object ENGINE_LOCK = new Object();

    private Gradients() {}

    /** Zeroes the accumulated gradient of every trainable parameter (PyTorch accumulates across backward calls). */
    public static void zero(Backbone model) {
        for (Parameter p : model.namedParameters().values()) {
            if (p.requiresGradient() && p.getArray().hasGradient()) {
                try (NDArray g = p.getArray().getGradient()) {
                    Tensors.zero(g);
                }
            }
        }
    }
}
