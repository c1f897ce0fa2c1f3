package org.sptspark.data;

/**
 * Per-channel input normalisation {@code (x / 255 - mean) / std}, as the backbone was pretrained.
 */
public record Normalization(String name, float[] mean, float[] std) implements java.io.Serializable {

    /** timm's IMAGENET_DEFAULT_MEAN / STD: supervised ViT, MAE, MoCo v3 in the reference. */
    public static final Normalization IMAGENET = new Normalization("imagenet",
            new float[] {0.485f, 0.456f, 0.406f}, new float[] {0.229f, 0.224f, 0.225f});

    /** 0.5 / 0.5, the Inception-style normalisation of some Google checkpoints. */
    public static final Normalization HALF = new Normalization("half",
            new float[] {0.5f, 0.5f, 0.5f}, new float[] {0.5f, 0.5f, 0.5f});

    public static Normalization named(String name) {
        return switch (name) {
            case "imagenet" -> IMAGENET;
            case "half", "inception" -> HALF;
            default -> throw new IllegalArgumentException("unknown normalisation '" + name + "': expected imagenet or half");
        };
    }
}
