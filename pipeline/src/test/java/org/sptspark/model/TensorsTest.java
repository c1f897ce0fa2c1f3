package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

/** {@link Tensors#assign} copies bit for bit, signed zeros, subnormals and infinities included, whatever the target held. */
class TensorsTest {

    @Test
    void assignCopiesEveryFloatExactly() {
        float[] values = {-0.0f, 0.0f, Float.MIN_VALUE, -Float.MIN_VALUE, 1e-40f, Float.MAX_VALUE, -Float.MAX_VALUE,
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1.1f, -3.7e-8f, 12345.678f};
        try (NDManager manager = NDManager.newBaseManager()) {
            // what the target held must not matter, non-finite values included
            float[] before = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0, -0.0f, 1, 2, 3, 4, 5, 6, 7};
            NDArray target = manager.create(before, new Shape(3, 4));
            target.setRequiresGradient(true);
            Tensors.assign(target, values);
            float[] got = target.toFloatArray();
            int[] expected = new int[values.length];
            int[] actual = new int[values.length];
            for (int i = 0; i < values.length; i++) {
                expected[i] = Float.floatToRawIntBits(values[i]);
                actual[i] = Float.floatToRawIntBits(got[i]);
            }
            assertArrayEquals(expected, actual);
            assertThrows(IllegalArgumentException.class, () -> Tensors.assign(target, new float[5]));
        }
    }

    @Test
    void zeroClearsNonFiniteElementsAndScalarOpsComputeTheirFormula() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray g = manager.create(new float[] {Float.NaN, Float.POSITIVE_INFINITY, -2.5f, 0f});
            Tensors.zero(g);
            assertArrayEquals(new float[] {0, 0, 0, 0}, g.toFloatArray());
            NDArray x = manager.create(new float[] {-3f, 0.5f, 2f});
            assertArrayEquals(new float[] {-0.75f, 0.125f, 0.5f}, Tensors.mul(x, 0.25f).toFloatArray());
            assertArrayEquals(new float[] {0.75f, 0.75f, 2f}, Tensors.maximum(x, 0.75f).toFloatArray());
            NDArray c = Tensors.constant(manager, new float[] {1, 2, 3, 4}, new Shape(2, 2), ai.djl.Device.cpu());
            assertEquals(new Shape(2, 2), c.getShape());
            assertArrayEquals(new float[] {1, 2, 3, 4}, c.toFloatArray());
            assertArrayEquals(new long[] {7, -1}, Tensors.constant(manager, new long[] {7, -1}, ai.djl.Device.cpu())
                    .toLongArray());
        }
    }
}
