package org.sptspark.model;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The named architectures of every family: the ViT presets of {@link VitPresets}, and timm's Swin
 * Transformer and ConvNeXt sizes (tiny, small, base: their shapes, so their parameter counts equal
 * timm's), each with a 32x32 preset of ours for tests and CPU demos.
 */
public final class BackbonePresets {

    /** Our 32x32 Swin: 2x2 patches (a 16x16 grid), window 4, three stages of two blocks. */
    public static final String SWIN_DEMO = "swin_demo_patch2_window4_32";

    /** Our 32x32 ConvNeXt: a 2x2 stem (a 16x16 map), four stages of two blocks, widths 16 to 128. */
    public static final String CONVNEXT_DEMO = "convnext_demo_patch2_32";

    private static final double TORCH_EPS = 1e-5;
    private static final double CONVNEXT_EPS = 1e-6;
    private static final Map<String, BackboneConfig> PRESETS = new LinkedHashMap<>();

    static {
        VitPresets.names().forEach(n -> add(VitPresets.get(n)));
        add(swin(SWIN_DEMO, 32, 2, 32, List.of(2, 2, 2), List.of(2, 4, 8), 4, 10));
        add(swin("swin_tiny_patch4_window7_224", 224, 4, 96, List.of(2, 2, 6, 2), List.of(3, 6, 12, 24), 7, 1000));
        add(swin("swin_small_patch4_window7_224", 224, 4, 96, List.of(2, 2, 18, 2), List.of(3, 6, 12, 24), 7, 1000));
        add(swin("swin_base_patch4_window7_224", 224, 4, 128, List.of(2, 2, 18, 2), List.of(4, 8, 16, 32), 7, 1000));
        add(convnext(CONVNEXT_DEMO, 32, 2, List.of(2, 2, 2, 2), List.of(16, 32, 64, 128), 10));
        add(convnext("convnext_tiny", 224, 4, List.of(3, 3, 9, 3), List.of(96, 192, 384, 768), 1000));
        add(convnext("convnext_small", 224, 4, List.of(3, 3, 27, 3), List.of(96, 192, 384, 768), 1000));
        add(convnext("convnext_base", 224, 4, List.of(3, 3, 27, 3), List.of(128, 256, 512, 1024), 1000));
    }

    private BackbonePresets() {}

    private static SwinConfig swin(String name, int image, int patch, int dim, List<Integer> depths,
            List<Integer> heads, int window, int classes) {
        return new SwinConfig(name, image, patch, 3, dim, depths, heads, window, 4, classes, TORCH_EPS, 0.0);
    }

    private static ConvNextConfig convnext(String name, int image, int stem, List<Integer> depths, List<Integer> dims,
            int classes) {
        return new ConvNextConfig(name, image, stem, 3, depths, dims, 7, 4, classes, CONVNEXT_EPS, 0.0);
    }

    private static void add(BackboneConfig config) {
        PRESETS.put(config.name(), config);
    }

    public static Optional<BackboneConfig> find(String name) {
        return Optional.ofNullable(PRESETS.get(name));
    }

    /** The preset, or an error that lists the known names. */
    public static BackboneConfig get(String name) {
        return find(name).orElseThrow(() -> new IllegalArgumentException(
                "unknown preset '" + name + "'; known presets: " + String.join(", ", names())));
    }

    public static List<String> names() {
        return List.copyOf(PRESETS.keySet());
    }
}
