package org.sptspark.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.Budget;
import org.sptspark.allocation.BudgetAllocator;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.allocation.TuningPlan;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorRole;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.VitConfig;
import org.sptspark.sensitivity.SensitivityScores;

class StabilityTest {

    static final VitConfig TINY = new VitConfig("stability_tiny", 32, 8, 3, 32, 2, 2, 64, 16, 1e-6, 0.1);
    static final ParameterSpace SPACE = ParameterSpace.of(TINY);

    /** Scores that are zero except at the given flat positions of the scored space. */
    static SensitivityScores scores(String id, long[] positions, float[] values) {
        var flat = new float[(int) SPACE.scoredSize()];
        for (int i = 0; i < positions.length; i++) {
            flat[(int) positions[i]] = values[i];
        }
        return split(id, flat);
    }

    static SensitivityScores split(String id, float[] flat) {
        var byName = new LinkedHashMap<String, float[]>();
        int at = 0;
        for (TensorSpec t : SPACE.scored()) {
            float[] v = new float[(int) t.size()];
            System.arraycopy(flat, at, v, 0, v.length);
            byName.put(t.name(), v);
            at += v.length;
        }
        return new SensitivityScores(SPACE, byName, id);
    }

    @Test
    void topKOverlapOfAHandWorkedPair() {
        // A's best three: 500 (9), 20 (8), 7 (7); B's: 20 (5), 900 (4), 500 (3). Shared: 20 and 500.
        var a = scores("a", new long[] {7, 20, 500, 900}, new float[] {7, 8, 9, 1});
        var b = scores("b", new long[] {7, 20, 500, 900}, new float[] {2, 5, 3, 4});
        BitSet ta = Stability.topK(a, 3);
        BitSet tb = Stability.topK(b, 3);
        assertEquals(List.of(7, 20, 500), ta.stream().boxed().toList());
        assertEquals(List.of(20, 500, 900), tb.stream().boxed().toList());
        assertEquals(2.0 / 3, Stability.overlap(ta, tb, 3), 1e-15);
        // k = 5 reaches the zeros: ties go to the earliest positions, 0 first (as the allocator breaks them)
        assertEquals(List.of(0, 7, 20, 500, 900), Stability.topK(a, 5).stream().boxed().toList());
        assertEquals(List.of(0, 1, 2), Stability.topK(scores("zero", new long[0], new float[0]), 3).stream().boxed().toList());
        assertThrows(IllegalArgumentException.class, () -> Stability.topK(a, 0));
        assertThrows(IllegalArgumentException.class, () -> Stability.topK(a, SPACE.scoredSize() + 1));
    }

    @Test
    void topKEqualsASortByScoreThenPositionAndTheAllocatorsCounts() {
        var random = new Random(3);
        float[] flat = new float[(int) SPACE.scoredSize()];
        for (int i = 0; i < flat.length; i++) {
            flat[i] = random.nextInt(50) / 7f; // many ties
        }
        var s = split("random", flat);
        var order = new ArrayList<Integer>();
        for (int i = 0; i < flat.length; i++) {
            order.add(i);
        }
        order.sort((x, y) -> flat[x] != flat[y] ? Float.compare(flat[y], flat[x]) : Integer.compare(x, y));
        for (int k : new int[] {1, 97, 5_000, flat.length}) {
            var expected = new BitSet();
            order.subList(0, k).forEach(expected::set);
            assertEquals(expected, Stability.topK(s, k), "k = " + k);
        }
        // the plan's k scalars are the top k: each tensor's count in the plan is its count in our top k
        TuningPlan plan = new BudgetAllocator(s, AllocationRule.defaults(AllocationRule.Module.LORA))
                .allocate(List.of(Budget.parse("3k", SPACE.backboneSize()))).get(0);
        BitSet top = Stability.topK(s, plan.k());
        long start = 0;
        for (TuningPlan.Entry e : plan.entries()) {
            long size = SPACE.get(e.name()).size();
            assertEquals(e.countInTopK(), top.get((int) start, (int) (start + size)).cardinality(), e.name());
            start += size;
        }
    }

    @Test
    void spearmanOfAHandWorkedPairWithTies() {
        // ranks of b: 5 -> 1, 6 -> 2, the two 7s -> 3.5, 8 -> 5; rho = 8 / sqrt(10 * 9.5)
        float[] a = {1, 2, 3, 4, 5};
        float[] b = {5, 6, 7, 8, 7};
        assertArrayEquals(new int[] {2, 4, 7, 10, 7}, Stability.doubledRanks(b));
        assertEquals(8 / Math.sqrt(95), Stability.spearman(a, b), 1e-12);
        assertEquals(-1, Stability.spearman(a, new float[] {9, 8, 7, 6, 5}), 1e-12);
        var s = scores("s", new long[] {3, 40, 41}, new float[] {1, 2, 3});
        assertEquals(1, Stability.spearman(s, s), 1e-12);
    }

    @Test
    void structuredJaccardAndDecisionAgreementOfHandMadePlans() {
        var lora = new TensorDecision.Structured(AllocationRule.Module.LORA, 8, 512);
        TuningPlan a = plan(List.of(new TensorDecision.Frozen(), new TensorDecision.Sparse(new int[] {1, 4}), lora,
                new TensorDecision.Whole(32)));
        TuningPlan b = plan(List.of(new TensorDecision.Frozen(), lora, lora, new TensorDecision.Sparse(new int[] {0})));
        assertEquals(Set.of("m2"), Stability.structured(a));
        assertEquals(Set.of("m1", "m2"), Stability.structured(b));
        assertEquals(0.5, Stability.jaccard(Stability.structured(a), Stability.structured(b)), 1e-15);
        assertEquals(1, Stability.jaccard(Set.of(), Set.of()), 1e-15);
        assertEquals(0.0, Stability.jaccard(Set.of("x"), Set.of("y")), 1e-15);
        // same decision for m0 (frozen) and m2 (lora) only
        assertEquals(0.5, Stability.decisionAgreement(a, b), 1e-15);
    }

    @Test
    void comparesThePairsThatShareASeedOrABatchCount() {
        var rule = AllocationRule.defaults(AllocationRule.Module.LORA);
        var budget = Budget.parse("3k", SPACE.backboneSize());
        var random = new Random(5);
        var sets = new ArrayList<Stability.Scored>();
        for (long seed : new long[] {1, 0}) {
            for (int batches : new int[] {8, 4}) {
                float[] flat = new float[(int) SPACE.scoredSize()];
                for (int i = 0; i < flat.length; i++) {
                    flat[i] = random.nextFloat();
                }
                var s = split(batches + "/" + seed, flat);
                sets.add(new Stability.Scored(new Stability.Setting(batches, seed), s,
                        new BudgetAllocator(s, rule).allocate(List.of(budget)).get(0)));
            }
        }
        // the two 8-batch sets agree entirely: seed 0's is seed 1's scores and plan
        sets.set(2, new Stability.Scored(new Stability.Setting(8, 0), sets.get(0).scores(), sets.get(0).plan()));
        List<Stability.Comparison> c = Stability.compare(sets, 1_000);
        assertEquals(4, c.size(), c.toString());
        assertEquals(List.of("4/0-8/0 batches", "4/1-8/1 batches", "4/0-4/1 seed", "8/0-8/1 seed"), c.stream()
                .map(x -> x.batchesA() + "/" + x.seedA() + "-" + x.batchesB() + "/" + x.seedB() + " " + x.varies()).toList());
        Stability.Comparison same = c.get(3);
        assertEquals(1.0, same.topKOverlap(), 1e-15);
        assertEquals(1.0, same.spearman(), 1e-12);
        assertEquals(1.0, same.structuredJaccard(), 1e-15);
        assertEquals(1.0, same.decisionAgreement(), 1e-15);
        // independent uniform scores: the top 1,000 of 17,152 overlap by about k/n, far below 1
        assertTrue(c.get(0).topKOverlap() < 0.2 && Math.abs(c.get(0).spearman()) < 0.05, c.get(0).toString());
    }

    private static TuningPlan plan(List<TensorDecision> decisions) {
        var entries = new ArrayList<TuningPlan.Entry>();
        for (int i = 0; i < decisions.size(); i++) {
            entries.add(new TuningPlan.Entry("m" + i, 0, 0, "q", TensorRole.MATRIX, 0, decisions.get(i)));
        }
        return new TuningPlan("x", 2, "s", AllocationRule.defaults(AllocationRule.Module.LORA), new Budget("1k", 1000), 0,
                entries, new TuningPlan.Totals(0, 0, 0, 0, 0));
    }
}
