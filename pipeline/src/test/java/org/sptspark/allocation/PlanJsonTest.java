package org.sptspark.allocation;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PlanJsonTest {

    private static TuningPlan samplePlan() {
        var s = BudgetAllocatorTest.scores(BudgetAllocatorTest.SPACE, Map.of(
                "blocks.0.attn.q.weight", new float[] {0, 10f, 5, 9f, 7, 8.5f},
                "blocks.0.mlp.fc2.weight", new float[] {31, 8f, 0, 7f},
                "blocks.0.norm1.bias", new float[] {2, 6f}));
        var rule = new AllocationRule(AllocationRule.Module.ADAPTER, 1, 6, 1, AllocationRule.Mode.MIXED, true);
        return new BudgetAllocator(s, rule).planAt(6, new Budget("0.1k", 100));
    }

    @Test
    void aPlanSurvivesTheRoundTripWithItsIdAndIndices() {
        TuningPlan plan = samplePlan();
        String json = PlanJson.write(plan);
        assertTrue(json.contains("\"format\": \"spt-plan\"") && json.contains("\"version\": 1"), json);
        TuningPlan back = PlanJson.read(json, "plan.json");
        assertEquals(json, PlanJson.write(back));
        assertEquals(PlanJson.id(plan), PlanJson.id(back));
        assertEquals(plan.totals(), back.totals());
        var sparse = (TensorDecision.Sparse) back.entry("blocks.0.mlp.fc2.weight").decision();
        assertArrayEquals(new int[] {0, 31}, sparse.indices());
        // adapter r=1 on q (4x4): 2*1*4 + 1 + 4 = 13, and 3 entries reach 13/6
        assertEquals(new TensorDecision.Structured(AllocationRule.Module.ADAPTER, 1, 13),
                back.entry("blocks.0.attn.q.weight").decision());
    }

    @Test
    void anEditedPlanIsRefused() {
        String json = PlanJson.write(samplePlan()).replace("\"target\": 100", "\"target\": 101");
        var e = assertThrows(IllegalArgumentException.class, () -> PlanJson.read(json, "plan.json"));
        assertTrue(e.getMessage().contains("does not match its id"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PlanJson.read("{\"format\": \"other\"}", "x.json"));
        assertThrows(IllegalArgumentException.class, () -> PlanJson.read("not json at all {", "y.json"));
    }

    @Test
    void indexCodecKeepsLargeGapsAndEmptyLists() {
        for (int[] indices : List.of(new int[0], new int[] {0}, new int[] {0, 1, 2}, new int[] {127, 128, 16_511, 16_512,
                2_000_000_000})) {
            assertArrayEquals(indices, PlanJson.decodeIndices(PlanJson.encodeIndices(indices)));
        }
        // consecutive indices cost one byte each
        assertEquals(java.util.Base64.getEncoder().encodeToString(new byte[1000]),
                PlanJson.encodeIndices(java.util.stream.IntStream.range(0, 1000).toArray()));
    }
}
