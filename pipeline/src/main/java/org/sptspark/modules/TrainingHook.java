package org.sptspark.modules;

/** Work a method does across its modules while training, beyond what the optimizer does. */
public interface TrainingHook {

    /** Before each epoch, counted from 0. */
    void startEpoch(int epoch);

    /** After the network's backward pass, before the optimizer's step. */
    void afterBackward();
}
