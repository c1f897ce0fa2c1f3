package org.sptspark.modules;

import ai.djl.ndarray.NDArray;

/**
 * One tensor the optimizer updates.
 *
 * @param name its name in artifacts
 * @param value the array the optimizer updates
 * @param decay whether AdamW's weight decay applies
 * @param mask the 0/1 gradient mask ({@link Unstructured#MASKED_FULL}), else {@code null}
 */
public record Trainable(String name, NDArray value, boolean decay, NDArray mask) {

    /** A trainable without a gradient mask. */
    public static Trainable of(String name, NDArray value, boolean decay) {
        return new Trainable(name, value, decay, null);
    }
}
