package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

/** {@link Tensors#assign} copies bit for bit, signed zeros, subnormals and infinities included. */
class TensorsTest {

    @Test
    void assignCopiesEveryFloatExactly() {
        float[] values = {-0.0f, 0.0f, Float.MIN_VALUE, -Float.MIN_VALUE, 1e-40f, Float.MAX_VALUE, -Float.MAX_VALUE,
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1.1f, -3.7e-8f, 12345.678f};
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray target = manager.randomNormal(new Shape(3, 4)).toType(DataType.FLOAT32, false);
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
}
