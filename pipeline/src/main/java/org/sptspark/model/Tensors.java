package org.sptspark.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * Tensor operations that keep every tensor's storage owned by libtorch.
 *
 * <p>On the CPU, DJL 0.35.1 builds a tensor from Java values ({@code NDManager.create}) on the
 * memory of a Java direct buffer, which only its Java wrapper keeps alive. Its arithmetic with a
 * Java number ({@code mul(Number)}, {@code div}, {@code maximum}, {@code pow}, ...) creates such a
 * scalar tensor and closes it as soon as the operation returns. Under a gradient collector,
 * libtorch's graph has saved that scalar for the backward pass, and once the collector of Java
 * garbage frees the buffer, the backward pass reads freed memory: the gradient through the
 * operation is garbage or NaN, depending on when the collector ran. The attention's scaling of the
 * query by {@code 1/sqrt(headDim)} is such an operation. Inside a differentiated computation, use
 * these methods instead of DJL's number overloads, and build constants with {@link #constant}.
 */
public final class Tensors {

    private Tensors() {}

    /** {@code x * s}, with {@code s} held in libtorch's memory. */
    public static NDArray mul(NDArray x, float s) {
        try (NDArray k = scalar(x, s)) {
            return x.mul(k);
        }
    }

    /** {@code max(x, s)} element-wise, with {@code s} held in libtorch's memory. */
    public static NDArray maximum(NDArray x, float s) {
        try (NDArray k = scalar(x, s)) {
            return x.maximum(k);
        }
    }

    /** A 0-d tensor of {@code x}'s type on {@code x}'s device, allocated by libtorch. */
    private static NDArray scalar(NDArray x, float s) {
        NDArray k = x.getManager().full(new Shape(), s, x.getDataType());
        if (k.getDevice().equals(x.getDevice())) {
            return k;
        }
        try (k) {
            return k.toDevice(x.getDevice(), true);
        }
    }

    /** {@code values} as a tensor of {@code shape} on {@code device}, in {@code manager}, allocated by libtorch. */
    public static NDArray constant(NDManager manager, float[] values, Shape shape, Device device) {
        try (NDArray java = manager.create(values, shape)) {
            return libtorchCopy(java, device);
        }
    }

    /** {@code values} as a 1-d int64 tensor on {@code device}, in {@code manager}, allocated by libtorch. */
    public static NDArray constant(NDManager manager, long[] values, Device device) {
        try (NDArray java = manager.create(values)) {
            return libtorchCopy(java, device);
        }
    }

    private static NDArray libtorchCopy(NDArray java, Device device) {
        // toDevice(copy) to another device already allocates in libtorch; on the same device, clone
        return java.getDevice().equals(device) ? java.duplicate() : java.toDevice(device, true);
    }

    /**
     * Sets every element of {@code target} to zero in place (a fill: unlike {@code x - x}, an
     * infinite or NaN element becomes zero too).
     */
    public static void zero(NDArray target) {
        NDArray view = target.stopGradient();
        try (view) {
            view.set(new NDIndex("..."), 0f);
        }
    }

    /**
     * Copies {@code values} into {@code target} in place, bit for bit, leaving its storage where
     * libtorch allocated it.
     *
     * <p>DJL's {@code NDArray.set(Buffer)} is not used for this: on the CPU it makes a Java direct
     * buffer the tensor's storage (see the class comment). The copy is libtorch's slice assignment
     * on a detached view sharing the target's storage (no arithmetic, so whatever the target held
     * before, NaN and infinities included, does not leak into the result).
     */
    public static void assign(NDArray target, float[] values) {
        if (values.length != target.size()) {
            throw new IllegalArgumentException(values.length + " values for an array of " + target.getShape());
        }
        try (NDManager tmp = target.getManager().newSubManager()) {
            NDArray source = tmp.create(values, target.getShape()).toDevice(target.getDevice(), false);
            NDArray view = target.stopGradient();
            view.attach(tmp);
            view.set(new NDIndex("..."), source);
        }
    }
}
