package org.sptspark.allocation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import org.junit.jupiter.api.Test;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.VitConfig;
import org.sptspark.model.VitPresets;

/**
 * A baseline's rank and matrices for a budget, against counts worked by hand from the shapes.
 *
 * <p>Demo backbone (width 96, MLP 384, 6 blocks, 36 matrices, class token 96). LoRA, r (in + out):
 * q, k, v, proj 192r each, fc1 and fc2 480r each, 1,728r a block, 10,368r in all. Adapter,
 * 2 r out + r + out: q, k, v, proj, fc2 193r + 96, fc1 769r + 384, 1,734r + 864 a block,
 * 10,404r + 5,184 in all.
 *
 * <p>ViT-B (width 768, MLP 3072, 12 blocks, 72 matrices, class token 768). LoRA: 1,536r for each
 * attention matrix, 3,840r for fc1 and fc2, 13,824r a block, 165,888r in all. Adapter: 1,537r + 768
 * for an attention matrix or fc2, 6,145r + 3,072 for fc1, 13,830r + 6,912 a block, 165,960r + 82,944
 * in all.
 */
class MatchedBudgetTest {

    static final ParameterSpace DEMO = ParameterSpace.of(VitPresets.get(VitPresets.DEMO));
    static final ParameterSpace VIT_B = ParameterSpace.of(VitPresets.get("vit_base_patch16_224"));

    static MatchedBudget lora(String budget, ParameterSpace space) {
        return MatchedBudget.choose("lora", AllocationRule.Module.LORA, Budget.parse(budget, space.backboneSize()), space,
                false, w -> { throw new AssertionError("no warning expected: " + w); });
    }

    static MatchedBudget adapter(String budget, ParameterSpace space) {
        return MatchedBudget.choose("adapter", AllocationRule.Module.ADAPTER, Budget.parse(budget, space.backboneSize()),
                space, false, w -> { throw new AssertionError("no warning expected: " + w); });
    }

    static void assertChoice(int rank, int matrices, long trainable, MatchedBudget m) {
        assertEquals(rank, m.rank(), m.describe());
        assertEquals(matrices, m.matrices(), m.describe());
        assertEquals(trainable, m.trainable(), m.describe());
    }

    @Test
    void onTheDemoBackboneLoraAt20kIsRank2OnEveryMatrix() {
        // r = 1: 10,464 (9,536 short); r = 2: 20,832 (832 over); r = 3: 31,200
        var m = lora("20k", DEMO);
        assertChoice(2, 36, 20_832, m);
        assertEquals(36, m.ofMatrices());
        assertEquals(20_736, m.modules());
        assertEquals(96, m.clsToken());
        assertEquals("lora@20k: rank 2 on all 36 matrices, 20,832 trainable (20,736 in modules + 96 class token)",
                m.describe());
    }

    @Test
    void onTheDemoBackboneAdapterAt20kIsRank1OnEveryMatrix() {
        // r = 1: 15,588 + 96 = 15,684 (4,316 short); r = 2: 25,992 + 96 = 26,088 (6,088 over)
        assertChoice(1, 36, 15_684, adapter("20k", DEMO));
        // 0.1M: r = 9 gives 93,636 + 5,184 + 96 = 98,916 (1,084 short), r = 10 gives 109,320
        assertChoice(9, 36, 98_916, adapter("0.1M", DEMO));
    }

    @Test
    void aTieGoesToTheSmallerRank() {
        // halfway between 10,464 and 20,832
        assertChoice(1, 36, 10_464, lora("15648", DEMO));
        assertChoice(2, 36, 20_832, lora("15649", DEMO));
    }

    @Test
    void belowRank1OnEveryMatrixTheFirstMatricesInParameterSpaceOrderGetRank1() {
        // 5k - 96 = 4,904 for modules: two blocks 3,456, + q k v proj 4,224, + fc1 4,704 (17 matrices,
        // 4,800 with the class token, 200 short), + fc2 5,184 (18, 5,280, 280 over)
        var m = lora("5k", DEMO);
        assertChoice(1, 17, 4_800, m);
        assertEquals("lora@5k: rank 1 on the first 17 of 36 matrices (parameter-space order), 4,800 trainable"
                + " (4,704 in modules + 96 class token)", m.describe());
        // the smallest: q of block 0 alone, 192 + 96
        assertChoice(1, 1, 288, lora("288", DEMO));
        var e = assertThrows(IllegalArgumentException.class, () -> lora("287", DEMO));
        assertEquals("lora@287: budget 287 is below the smallest lora: rank 1 on blocks.0.attn.q.weight alone trains 288"
                + " with the class token", e.getMessage());
        // Adapter's smallest: 193 + 96 on q, and the class token
        assertChoice(1, 1, 385, adapter("385", DEMO));
        assertThrows(IllegalArgumentException.class, () -> adapter("384", DEMO));
    }

    @Test
    void onVitBTheBudgetsOfThePaperGetTheirRanks() {
        // 0.4M: r = 2 is 331,776 + 768 = 332,544 (67,456 short), r = 3 is 498,432 (98,432 over)
        assertChoice(2, 72, 332_544, lora("0.4M", VIT_B));
        // 0.8M: r = 5 is 829,440 + 768 = 830,208 (30,208 over), r = 4 is 664,320 (135,680 short)
        assertChoice(5, 72, 830_208, lora("0.8M", VIT_B));
        // 0.1M, below r = 1 on all (166,656): 7 blocks 96,768, + q 98,304 (43 matrices, 99,072: 928 short),
        // + k 99,840 (44, 100,608: 608 over)
        assertChoice(1, 44, 100_608, lora("0.1M", VIT_B));
        // Adapter 0.4M: r = 2 is 331,920 + 82,944 + 768 = 415,632 (15,632 over), r = 1 is 249,672
        assertChoice(2, 72, 415_632, adapter("0.4M", VIT_B));
    }

    @Test
    void aBudgetAboveTheLargestRankIsTrainedThereWithAWarningOrRefusedWhenStrict() {
        // width 8, one block, 64x64 images in patches of 1 (a large position embedding, so that the
        // backbone holds more than LoRA can train): rank 8 on the 6 matrices of 8 x 8 is 6 * 8 * 16 = 768, + 8
        var tiny = ParameterSpace.of(new VitConfig("tiny", 64, 1, 3, 8, 1, 2, 8, 10, 1e-6, 0.0));
        var budget = Budget.parse("1000", tiny.backboneSize());
        var warnings = new ArrayList<String>();
        var m = MatchedBudget.choose("lora", AllocationRule.Module.LORA, budget, tiny, false, warnings::add);
        assertChoice(8, 6, 776, m);
        assertEquals(776, m.maximum());
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).startsWith("lora@1000: budget 1,000 is above what lora can train on tiny: rank 8"
                + " (the smallest matrix side) on all 6 matrices trains 776 with the class token"), warnings.get(0));
        var e = assertThrows(IllegalArgumentException.class,
                () -> MatchedBudget.choose("lora", AllocationRule.Module.LORA, budget, tiny, true, w -> { }));
        assertFalse(e.getMessage().contains("\n"));
    }
}
