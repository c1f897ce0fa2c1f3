package org.sptspark.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The committed ViT reference fixture ({@code pipeline/src/test/python/vit_reference.py}): a small
 * ViT's weights and PyTorch's float64 logits, loss and gradients for one batch. Read by the
 * reference test and by the device check ({@code spt bench gpu}), which compares a device with it.
 */
public final class VitReference {

    /** The architecture the script uses. */
    public static final VitConfig CONFIG = new VitConfig("vit_reference", 16, 4, 3, 32, 2, 4, 64, 5, 1e-6, 0.0);

    private VitReference() {}

    /** Every array of the folder's {@code reference.npz} by name ({@code x}, {@code labels}, {@code logits}, {@code grad/<name>}, ...). */
    public static Map<String, NDArray> read(Path dir, NDManager manager) throws IOException {
        try (InputStream in = Files.newInputStream(dir.resolve("reference.npz"))) {
            var out = new LinkedHashMap<String, NDArray>();
            for (NDArray a : NDList.decode(manager, in)) {
                out.put(a.getName(), a);
            }
            return out;
        }
    }

    /** max |actual - expected| / max |expected|: the error relative to the tensor's scale. */
    public static double relativeError(double[] actual, double[] expected) {
        if (actual.length != expected.length) {
            throw new IllegalArgumentException("length " + actual.length + " != " + expected.length);
        }
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < actual.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }

    /** The array's values as float64, copied to the host. */
    public static double[] doubles(NDArray a) {
        return a.toType(DataType.FLOAT64, false).toDoubleArray();
    }
}
