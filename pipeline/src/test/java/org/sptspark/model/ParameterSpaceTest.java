package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ParameterSpaceTest {

    /** Totals with a 1000-class head as timm reports them ({@code sum(p.numel())}). */
    @ParameterizedTest
    @CsvSource({
        "vit_tiny_patch16_224, 5717416",
        "vit_small_patch16_224, 22050664",
        "vit_base_patch16_224, 86567656",
        "vit_large_patch16_224, 304326632",
        "vit_huge_patch14_224, 632045800",
    })
    void presetTotalsEqualTimms(String preset, long total) {
        assertEquals(total, ParameterSpace.of(VitPresets.get(preset)).totalSize());
    }

    @Test
    void vitBaseHasTheSeventyTwoScoredMatricesAndEightyFiveMillionScoredScalars() {
        var space = ParameterSpace.of(VitPresets.get("vit_base_patch16_224"));
        assertEquals(72, space.tensors().stream().filter(t -> t.role() == TensorRole.MATRIX).count());
        // 12 blocks x (4 x 768^2 + 2 x 768 x 3072) matrix entries, 12 x (9 x 768 + 3072) block vectors, final norm 2 x 768
        long expected = 12L * (4 * 768 * 768 + 2 * 768 * 3072) + 12L * (9 * 768 + 3072) + 2 * 768;
        assertEquals(expected, space.scoredSize());
        assertEquals(85_056_000L, space.scoredSize());
    }

    @Test
    void offsetsAreContiguousAndRolesFollowSptsSkipList() {
        var space = ParameterSpace.of(VitPresets.get("vit_small_patch16_224").withNumClasses(37));
        long offset = 0;
        for (TensorSpec t : space.tensors()) {
            assertEquals(offset, t.offset(), t.name());
            offset += t.size();
            boolean skipped = t.name().startsWith("head.") || t.name().equals("cls_token")
                    || t.name().equals("pos_embed") || t.name().startsWith("patch_embed.");
            assertEquals(skipped, t.role() == TensorRole.SKIPPED, t.name());
        }
        assertEquals(offset, space.totalSize());
        TensorSpec fc1 = space.get("blocks.11.mlp.fc1.weight");
        assertEquals(new Shape(1536, 384), fc1.shape());
        assertEquals(11, fc1.block());
        assertEquals("fc1", fc1.operation());
        assertEquals(TensorRole.MATRIX, fc1.role());
        assertEquals(TensorRole.VECTOR, space.get("blocks.0.attn.q.bias").role());
        assertEquals(new Shape(37, 384), space.get("head.weight").shape());
    }

    @Test
    void unknownPresetsAndTensorsAreNamedInTheError() {
        var e = assertThrows(IllegalArgumentException.class, () -> VitPresets.get("vit_gigantic"));
        assertTrue(e.getMessage().contains("vit_gigantic") && e.getMessage().contains("vit_base_patch16_224"));
        var space = ParameterSpace.of(VitPresets.get(VitPresets.DEMO));
        assertThrows(IllegalArgumentException.class, () -> space.get("blocks.0.attn.qkv.weight"));
        assertThrows(IllegalArgumentException.class,
                () -> new VitConfig("bad", 30, 4, 3, 96, 6, 3, 384, 10, 1e-6, 0.0));
    }

    @Test
    void flopCountOfVitBaseIsTwiceTheUsualSeventeenPointSixGigaMultiplyAdds() {
        // ViT-B/16 at 224 is quoted at 17.6 G (fvcore counts one multiply-add as one); we count it as two
        double gflops = VitPresets.get("vit_base_patch16_224").forwardFlopsPerImage() / 1e9;
        assertEquals(2 * 17.6, gflops, 0.2);
    }
}
