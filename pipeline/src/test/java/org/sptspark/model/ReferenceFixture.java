package org.sptspark.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The committed output of {@code src/test/python/vit_reference.py}: a small ViT's weights in
 * several formats and PyTorch's float64 logits, loss and gradients for one batch.
 */
final class ReferenceFixture {

    static final Path DIR = Path.of("src/test/resources/fixtures/vit-reference");

    /** The architecture the script uses. */
    static final VitConfig CONFIG = new VitConfig("vit_reference", 16, 4, 3, 32, 2, 4, 64, 5, 1e-6, 0.0);

    static Path file(String name) {
        return DIR.resolve(name);
    }

    /** Every array of {@code reference.npz} by name. */
    static Map<String, NDArray> reference(NDManager manager) {
        try (InputStream in = Files.newInputStream(file("reference.npz"))) {
            var out = new LinkedHashMap<String, NDArray>();
            for (NDArray a : NDList.decode(manager, in)) {
                out.put(a.getName(), a);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** max |actual - expected| / max |expected|: the error relative to the tensor's scale. */
    static double relativeError(double[] actual, double[] expected) {
        if (actual.length != expected.length) {
            throw new AssertionError("length " + actual.length + " != " + expected.length);
        }
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < actual.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }

    static double[] doubles(NDArray a) {
        return a.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).toDoubleArray();
    }

    private ReferenceFixture() {}
}
