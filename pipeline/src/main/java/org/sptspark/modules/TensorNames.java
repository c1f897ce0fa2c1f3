package org.sptspark.modules;

/**
 * The names of artifact tensors: a backbone tensor's or linear layer's timm name plus one suffix
 * per kind of trained tensor. Every module names what it exports with these, and readers
 * recognise a module by them.
 */
public final class TensorNames {

    /** Flat row-major positions of a sparse delta, int64, strictly increasing. */
    public static final String DELTA_INDEX = ".delta_index";
    /** The values of a sparse delta at its positions. */
    public static final String DELTA_VALUE = ".delta_value";
    /** LoRA's down factor {@code (r, in)}. */
    public static final String LORA_A = ".lora_A";
    /** LoRA's up factor {@code (out, r)}. */
    public static final String LORA_B = ".lora_B";
    /** An Adapter's down projection, followed by {@code weight} or {@code bias}. */
    public static final String ADAPTER_DOWN = ".adapter_down.";
    /** An Adapter's up projection, followed by {@code weight} or {@code bias}. */
    public static final String ADAPTER_UP = ".adapter_up.";
    /** The prefix of SNELLA's training-only factors; they are never exported. */
    public static final String SNELLA = ".snella_";

    private static final String WEIGHT = ".weight";

    private TensorNames() {}

    /** The linear layer a matrix belongs to: {@code blocks.0.attn.q.weight} gives {@code blocks.0.attn.q}. */
    public static String linearOf(String weightName) {
        if (!weightName.endsWith(WEIGHT)) {
            throw new IllegalArgumentException("structured modules go on matrices, not on '" + weightName + "'");
        }
        return weightName.substring(0, weightName.length() - WEIGHT.length());
    }

    /** {@link #linearOf} for a matrix, else the name itself. */
    public static String layerOf(String name) {
        return name.endsWith(WEIGHT) ? linearOf(name) : name;
    }
}
