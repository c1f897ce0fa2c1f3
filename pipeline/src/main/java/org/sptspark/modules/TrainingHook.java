package org.sptspark.modules;

/** Work a method does across its modules while training, beyond what the optimizer does. */
public interface TrainingHook {

    /** Before each epoch, counted from 0. */
    void startEpoch(int epoch);

    /** After the network's backward pass, before the optimizer's step. */
    void afterBackward();

    /**
     * With activation checkpointing, right after the backward pass went through block {@code
     * block} and before that block's recomputed arrays are freed (blocks come last first); {@link
     * #afterBackward} still follows the whole pass. By default nothing happens here.
     */
    default void afterBlockBackward(int block) {}
}
