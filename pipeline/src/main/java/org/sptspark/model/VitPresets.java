package org.sptspark.model;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The named architectures. The standard sizes carry timm's names and shapes (so their parameter
 * counts equal timm's); the two {@code vit_demo_*} presets are ours, sized to pretrain and tune on two CPU
 * cores in minutes on 32x32 images.
 */
public final class VitPresets {

    /** A 32x32 ViT with 4x4 patches (65 tokens), for tests and benchmarks. */
    public static final String DEMO_FINE = "vit_demo_patch4_32";

    /**
     * The embedded default backbone's architecture: 32x32 images in 8x8 patches (17 tokens),
     * width 96, depth 6; about four times cheaper than {@link #DEMO_FINE}, so the demo's whole
     * sweep fits in minutes on two cores.
     */
    public static final String DEMO = "vit_demo_patch8_32";

    private static final double TIMM_EPS = 1e-6;
    private static final Map<String, VitConfig> PRESETS = new LinkedHashMap<>();

    static {
        add(new VitConfig(DEMO, 32, 8, 3, 96, 6, 3, 384, 10, TIMM_EPS, 0.0));
        add(new VitConfig(DEMO_FINE, 32, 4, 3, 96, 6, 3, 384, 10, TIMM_EPS, 0.0));
        add(new VitConfig("vit_tiny_patch16_224", 224, 16, 3, 192, 12, 3, 768, 1000, TIMM_EPS, 0.0));
        add(new VitConfig("vit_small_patch16_224", 224, 16, 3, 384, 12, 6, 1536, 1000, TIMM_EPS, 0.0));
        add(new VitConfig("vit_base_patch16_224", 224, 16, 3, 768, 12, 12, 3072, 1000, TIMM_EPS, 0.0));
        add(new VitConfig("vit_large_patch16_224", 224, 16, 3, 1024, 24, 16, 4096, 1000, TIMM_EPS, 0.0));
        add(new VitConfig("vit_huge_patch14_224", 224, 14, 3, 1280, 32, 16, 5120, 1000, TIMM_EPS, 0.0));
    }

    private VitPresets() {}

    private static void add(VitConfig config) {
        PRESETS.put(config.name(), config);
    }

    public static Optional<VitConfig> find(String name) {
        return Optional.ofNullable(PRESETS.get(name));
    }

    /** The preset, or an error that lists the known names (or says that a Swin or ConvNeXt preset is not a ViT). */
    public static VitConfig get(String name) {
        return find(name).orElseThrow(() -> BackbonePresets.find(name)
                .map(other -> new IllegalArgumentException("preset '" + name + "' is a " + other.family()
                        + " model; this command takes ViT presets only so far (" + String.join(", ", names())
                        + "); see README, Backbones, for what runs on every family"))
                .orElseGet(() -> new IllegalArgumentException(
                        "unknown ViT preset '" + name + "'; known presets: " + String.join(", ", names()))));
    }

    public static List<String> names() {
        return List.copyOf(PRESETS.keySet());
    }
}
