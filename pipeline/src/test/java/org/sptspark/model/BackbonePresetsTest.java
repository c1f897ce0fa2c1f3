package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The Swin and ConvNeXt presets against timm's published parameter counts (its model cards and
 * torchvision's, whose Swin V1 and ConvNeXt have the same tensors), with 1000 classes.
 */
class BackbonePresetsTest {

    @Test
    void parameterCountsEqualTimms() {
        Map<String, Long> timm = Map.of(
                "swin_tiny_patch4_window7_224", 28_288_354L,
                "swin_small_patch4_window7_224", 49_606_258L,
                "swin_base_patch4_window7_224", 87_768_224L,
                "convnext_tiny", 28_589_128L,
                "convnext_small", 50_223_688L,
                "convnext_base", 88_591_464L,
                "vit_base_patch16_224", 86_567_656L);
        timm.forEach((name, count) -> assertEquals(count, BackbonePresets.get(name).space().totalSize(), name));
    }

    @Test
    void swinBaseHasTimmsShapesAndRoles() {
        var space = BackbonePresets.get("swin_base_patch4_window7_224").space();
        // stage 0: 56x56 tokens, window 7; stage 3: 7x7 tokens, one window, no shift
        assertEquals(List.of(169L, 4L), shape(space, "layers.0.blocks.1.attn.relative_position_bias_table"));
        assertEquals(List.of(169L, 32L), shape(space, "layers.3.blocks.1.attn.relative_position_bias_table"));
        assertEquals(List.of(256L, 512L), shape(space, "layers.1.downsample.reduction.weight"));
        assertTrue(space.find("layers.1.downsample.reduction.bias").isEmpty(), "patch merging has no bias");
        assertEquals(List.of(1000L, 1024L), shape(space, "head.fc.weight"));
        assertEquals(TensorRole.MATRIX, space.get("layers.2.blocks.17.attn.v.weight").role());
        assertEquals(TensorRole.SKIPPED, space.get("layers.2.blocks.17.attn.relative_position_bias_table").role());
        assertEquals(TensorRole.SKIPPED, space.get("patch_embed.norm.weight").role());
        assertEquals(21, space.get("layers.2.blocks.17.mlp.fc1.weight").block());
        // stages and blocks: depths 2, 2, 18, 2, so stage 2's block 5 is the model's 2 + 2 + 5 = 9th;
        // patch merging counts as its stage's first block; the stem and final norm are outside
        assertStageAndBlock(space, "layers.2.blocks.5.attn.q.weight", 2, 9);
        assertStageAndBlock(space, "layers.1.downsample.reduction.weight", 1, 2);
        assertStageAndBlock(space, "layers.3.blocks.1.mlp.fc2.bias", 3, 23);
        assertStageAndBlock(space, "layers.0.blocks.0.norm1.weight", 0, 0);
        assertStageAndBlock(space, "patch_embed.proj.weight", -1, -1);
        assertStageAndBlock(space, "norm.weight", -1, -1);
        assertEquals(1000 * 1024 + 1000, space.headSize());
        var swin = (SwinConfig) BackbonePresets.get("swin_base_patch4_window7_224");
        assertEquals(3, swin.shift(0, 1));
        assertEquals(0, swin.shift(0, 0));
        assertEquals(0, swin.shift(3, 1));
        assertEquals(7, swin.window(3));
    }

    @Test
    void convnextHeadNormIsBackboneAndKernelsAreNotMatrices() {
        var space = BackbonePresets.get("convnext_base").space();
        assertEquals(List.of(128L, 1L, 7L, 7L), shape(space, "stages.0.blocks.0.conv_dw.weight"));
        assertEquals(TensorRole.KERNEL, space.get("stages.0.blocks.0.conv_dw.weight").role());
        assertEquals(TensorRole.KERNEL, space.get("stages.3.downsample.1.weight").role());
        assertEquals(List.of(1024L, 512L, 2L, 2L), shape(space, "stages.3.downsample.1.weight"));
        assertEquals(TensorRole.VECTOR, space.get("stages.2.blocks.26.gamma").role());
        assertEquals(TensorRole.VECTOR, space.get("head.norm.weight").role());
        assertTrue(!ParameterSpace.isHead("head.norm.weight"));
        assertEquals(1000 * 1024 + 1000, space.headSize());
        assertEquals(TensorRole.SKIPPED, space.get("stem.1.weight").role());
        // depths 3, 3, 27, 3: stage 3's downsampling is block 33, its last block 35
        assertStageAndBlock(space, "stages.3.downsample.1.weight", 3, 33);
        assertStageAndBlock(space, "stages.3.blocks.2.gamma", 3, 35);
        assertStageAndBlock(space, "stages.2.blocks.0.conv_dw.weight", 2, 6);
        assertStageAndBlock(space, "head.norm.weight", -1, -1);
        // a ViT has one stage: its blocks are stage 0
        var vit = BackbonePresets.get("vit_base_patch16_224").space();
        assertStageAndBlock(vit, "blocks.11.mlp.fc2.weight", 0, 11);
        assertStageAndBlock(vit, "norm.weight", -1, -1);
    }

    private static void assertStageAndBlock(ParameterSpace space, String name, int stage, int block) {
        assertEquals(List.of(stage, block), List.of(space.get(name).stage(), space.get(name).block()), name);
    }

    @Test
    void forwardFlopsAreTwiceTimmsMacs() {
        // timm's model cards: GMACs 4.5 (Swin-T), 15.5 (Swin-B), 4.5 (ConvNeXt-T), 15.4 (ConvNeXt-B);
        // the cards count element-wise work too, so ours may be a few percent lower, never higher
        Map<String, Double> gmacs = Map.of("swin_tiny_patch4_window7_224", 4.5, "swin_base_patch4_window7_224", 15.5,
                "convnext_tiny", 4.5, "convnext_base", 15.4);
        gmacs.forEach((name, macs) -> {
            double ours = BackbonePresets.get(name).forwardFlopsPerImage() / 2e9;
            assertTrue(ours > macs * 0.93 && ours < macs * 1.02, name + ": " + ours + " GMACs against timm's " + macs);
        });
    }

    @Test
    void unknownPresetListsTheKnownOnes() {
        var e = assertThrows(IllegalArgumentException.class, () -> BackbonePresets.get("swin_huge"));
        assertTrue(e.getMessage().contains("convnext_base") && e.getMessage().contains("vit_base_patch16_224"),
                e.getMessage());
    }

    private static List<Long> shape(ParameterSpace space, String name) {
        var s = space.get(name).shape();
        return java.util.stream.LongStream.of(s.getShape()).boxed().toList();
    }
}
