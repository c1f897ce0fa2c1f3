package org.sptspark.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.google.gson.annotations.SerializedName;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The arithmetic a model computes in, with PyTorch's bf16 autocast semantics: under
 * {@link #BF16} the matrix products (every linear layer, the patch-embedding convolution, the
 * attention's two batched products) run in bfloat16, while parameters stay float32 (the master
 * weights, their gradients and the optimizer state), and LayerNorm, softmax, GELU, the residual
 * stream and the loss stay float32; sensitivity sums stay float64 either way.
 *
 * <p>DJL 0.35.1's own JNI (Maven's {@code pytorch-jni}, cpu and cu128 alike) has no mapping for
 * bfloat16 and aborts the JVM on the first bf16 tensor, so {@link #requireSupported} refuses bf16
 * up front unless the loaded JNI is one built by {@code conf/cluster/build-djl-jni.sh}, which
 * adds the mapping and says so in a {@code .features} file beside the library.
 */
public enum Precision {
    @SerializedName("fp32")
    FP32(DataType.FLOAT32),
    @SerializedName("bf16")
    BF16(DataType.BFLOAT16);

    private final DataType compute;

    Precision(DataType compute) {
        this.compute = compute;
    }

    /** {@code fp32} or {@code bf16}, as on the command line and in manifests. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    @Override
    public String toString() {
        return label();
    }

    /** Parses {@code fp32} or {@code bf16} (any case). */
    public static Precision parse(String s) {
        for (Precision p : values()) {
            if (p.label().equalsIgnoreCase(s == null ? "" : s.strip())) {
                return p;
            }
        }
        throw new IllegalArgumentException("precision '" + s + "': expected fp32 or bf16");
    }

    /** {@code x} in this precision's compute type: a differentiable cast, or {@code x} itself. */
    public NDArray compute(NDArray x) {
        return this == FP32 ? x : x.toType(compute, false);
    }

    /** {@code y} back in float32 for the float32 parts of the network (or {@code y} itself under fp32). */
    public NDArray result(NDArray y) {
        return this == FP32 ? y : y.toType(DataType.FLOAT32, false);
    }

    /**
     * Refuses a precision this JVM's natives cannot run, before any tensor of it exists.
     *
     * @param device where the model computes, named in the message
     * @throws IllegalArgumentException for bf16 with a JNI that has no bfloat16 mapping
     */
    public void requireSupported(Device device) {
        if (this == FP32 || JniFeatures.loaded().contains("bf16")) {
            return;
        }
        throw new IllegalArgumentException("--precision bf16 on " + device + ": the loaded PyTorch JNI ("
                + JniFeatures.loadedPath().map(Path::toString).orElse("DJL's own") + ") has no bfloat16 mapping and would abort"
                + " the JVM; DJL 0.35.1's Maven JNI (cpu and cu128) lacks it, a JNI built by conf/cluster/build-djl-jni.sh has it"
                + " (README: GPU routes); or use --precision fp32");
    }

    /** What the loaded DJL PyTorch JNI declares about itself (Linux: found through /proc/self/maps). */
    static final class JniFeatures {
        private JniFeatures() {}

        /** The JNI library this process has loaded, if any. */
        static java.util.Optional<Path> loadedPath() {
            ai.djl.engine.Engine.getEngine("PyTorch"); // loads the natives if not yet loaded
            try {
                return Files.readAllLines(Path.of("/proc/self/maps")).stream()
                        .map(l -> l.substring(l.indexOf('/') < 0 ? l.length() : l.indexOf('/')).strip())
                        .filter(p -> p.endsWith("djl_torch.so"))
                        .findFirst().map(Path::of);
            } catch (IOException | RuntimeException e) {
                return java.util.Optional.empty();
            }
        }

        /** The words of the {@code .features} file beside the loaded JNI (none for DJL's own JNI). */
        static java.util.Set<String> loaded() {
            return loadedPath().map(p -> p.resolveSibling(p.getFileName() + ".features")).filter(Files::isRegularFile)
                    .map(f -> {
                        try {
                            return java.util.Set.copyOf(java.util.Arrays.asList(Files.readString(f).strip().split("\\s+")));
                        } catch (IOException e) {
                            return java.util.Set.<String>of();
                        }
                    }).orElse(java.util.Set.of());
        }
    }
}
