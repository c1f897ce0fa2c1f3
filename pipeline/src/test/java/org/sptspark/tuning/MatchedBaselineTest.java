package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorRole;
import org.sptspark.model.VitPresets;

/** {@code lora@20k} as a sweep names it, and the layout a budget gives a baseline. */
class MatchedBaselineTest {

    static final ParameterSpace DEMO = ParameterSpace.of(VitPresets.get(VitPresets.DEMO));

    static TuningLayout layout(String spec) {
        var at = Method.AtBudget.parse(spec);
        return TuningLayout.matched(at.method(), DEMO, at.method().match(at.parseBudget(DEMO), DEMO, false, w -> { }));
    }

    @Test
    void aMethodIsNamedAloneOrAtABudget() {
        var at = Method.AtBudget.parse("lora@20k");
        assertEquals(Method.LORA, at.method());
        assertEquals("20k", at.budget());
        assertEquals("lora@20k", at.name());
        assertEquals("adapter@0.4M", Method.AtBudget.parse(" Adapter@0.4M ").name());
        var alone = Method.AtBudget.parse("spt-lora");
        assertNull(alone.budget());
        assertEquals("spt-lora", alone.name());
    }

    @Test
    void badMethodBudgetPairsAreRefusedInOneLine() {
        var e = assertThrows(IllegalArgumentException.class, () -> Method.AtBudget.parse("lora@abc").parseBudget(DEMO));
        assertTrue(e.getMessage().startsWith("lora@abc: budget 'abc' is not a number: expected a whole count"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Method.AtBudget.parse("linear@20k"));
        assertEquals("method linear takes no budget ('linear@20k'): its trainable count is fixed by what it trains;"
                + " only lora and adapter do", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Method.AtBudget.parse("snella@20k"));
        assertTrue(e.getMessage().startsWith("method snella takes no budget ('snella@20k'): SNELLA's budget is its"
                + " target sparsity"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Method.AtBudget.parse("spt-lora@20k"));
        assertTrue(e.getMessage().contains("takes its budgets from --budgets"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Method.AtBudget.parse("lora@"));
        assertEquals("method 'lora@' has no budget after '@': write e.g. lora@20k", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> layout("lora@100"));
        assertTrue(e.getMessage().startsWith("lora@100: budget 100 is below the smallest lora"), e.getMessage());
    }

    @Test
    void aBudgetOnEveryMatrixGivesEachTheRankAndTrainsTheClassToken() {
        TuningLayout l = layout("lora@20k");
        assertEquals(20_832, l.trainable(), "10,368 r at r = 2, and the class token's 96");
        assertEquals(2, l.rank());
        assertEquals("20k", l.budgetLabel());
        assertEquals(20_000, l.budgetTarget());
        for (var t : DEMO.backbone()) {
            TensorDecision d = l.decision(t.name());
            if (t.role() == TensorRole.MATRIX) {
                var s = assertInstanceOf(TensorDecision.Structured.class, d, t.name());
                assertEquals(AllocationRule.Module.LORA, s.module());
                assertEquals(2, s.rank());
            } else if (t.name().equals("cls_token")) {
                assertEquals(new TensorDecision.Whole(96), d);
            } else {
                assertEquals(new TensorDecision.Frozen(), d, t.name());
            }
        }
        // the same as the all-matrices baseline at that rank
        assertEquals(TuningLayout.baseline(Method.LORA, DEMO, 2).decisions(), l.decisions());
    }

    @Test
    void aBudgetBelowRank1OnEveryMatrixGivesModulesToTheFirstMatricesOnly() {
        TuningLayout l = layout("adapter@5k");
        // Adapter at rank 1: q, k, v, proj, fc2 289 each, fc1 1,153: 2,598 a block; 5k - 96 = 4,904:
        // one block 2,598, + q k v proj 3,754 (10 matrices, 3,850), + fc1 4,907 (11, 5,003: 3 over)
        assertEquals(5_003, l.trainable());
        int modules = 0;
        for (var t : DEMO.backbone()) {
            if (l.decision(t.name()) instanceof TensorDecision.Structured s) {
                assertEquals(AllocationRule.Module.ADAPTER, s.module());
                assertTrue(t.block() == 0 || t.block() == 1 && !t.operation().equals("fc2"), t.name());
                modules++;
            }
        }
        assertEquals(11, modules);
        assertEquals(new TensorDecision.Frozen(), l.decision("blocks.1.mlp.fc2.weight"));
        assertEquals(new TensorDecision.Whole(96), l.decision("cls_token"));
    }
}
