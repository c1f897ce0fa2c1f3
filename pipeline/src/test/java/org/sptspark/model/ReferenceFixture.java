package org.sptspark.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The committed output of {@code src/test/python/vit_reference.py}: a small ViT's weights in
 * several formats and PyTorch's float64 logits, loss and gradients for one batch.
 */
final class ReferenceFixture {

    static final Path DIR = Path.of("src/test/resources/fixtures/vit-reference");

    /** The architecture the script uses. */
    static final VitConfig CONFIG = VitReference.CONFIG;

    static Path file(String name) {
        return DIR.resolve(name);
    }

    /** Every array of {@code reference.npz} by name. */
    static Map<String, NDArray> reference(NDManager manager) {
        try {
            return VitReference.read(DIR, manager);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static double relativeError(double[] actual, double[] expected) {
        return VitReference.relativeError(actual, expected);
    }

    static double[] doubles(NDArray a) {
        return VitReference.doubles(a);
    }

    private ReferenceFixture() {}
}
