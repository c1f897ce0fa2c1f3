package org.sptspark.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/** Writing values into existing arrays without handing their storage to Java. */
public final class Tensors {

    private Tensors() {}

    /**
     * Copies {@code values} into {@code target} in place, bit for bit, leaving its storage where
     * libtorch allocated it.
     *
     * <p>DJL's {@code NDArray.set(Buffer)} is not used for this: on the CPU it makes a Java direct
     * buffer the tensor's storage, kept alive only by a field of that one Java wrapper, which is a
     * suspect of the README's known bug (a NaN loss whose occurrence depends on when the garbage
     * collector runs). Writing through libtorch's own operations removes that suspect; it has not
     * been shown to fix the bug.
     *
     * <p>The arithmetic is exact: {@code target * 0 - 1} is exactly -1, times 0 is -0 everywhere,
     * and {@code -0 + v} is {@code v} for every float, signed zeros included.
     */
    public static void assign(NDArray target, float[] values) {
        if (values.length != target.size()) {
            throw new IllegalArgumentException(values.length + " values for an array of " + target.getShape());
        }
        try (NDManager tmp = target.getManager().newSubManager()) {
            NDArray source = tmp.create(values, target.getShape()).toDevice(target.getDevice(), false);
            NDArray view = target.stopGradient();
            view.attach(tmp);
            view.muli(0).subi(1).muli(0).addi(source);
        }
    }
}
