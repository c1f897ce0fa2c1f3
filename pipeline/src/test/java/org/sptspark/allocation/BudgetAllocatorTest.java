package org.sptspark.allocation;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.VitConfig;
import org.sptspark.sensitivity.SensitivityScores;

class BudgetAllocatorTest {

    /**
     * One block, width 4, MLP 8: q/k/v/proj are 4x4 (LoRA r=1 costs 8), fc1 is 8x4 and fc2 4x8 (cost
     * 12), vectors have 4 or 8 entries; the class token adds 4 to every total.
     */
    static final VitConfig SMALL = new VitConfig("alloc_small", 4, 2, 1, 4, 1, 1, 8, 2, 1e-6, 0.0);
    static final ParameterSpace SPACE = ParameterSpace.of(SMALL);
    static final long CLS = 4;
    /**
     * The most a LoRA r=1 rule with alpha, beta >= 1 trains on SMALL: every matrix its module (q, k,
     * v, proj 4 x (4 + 4) = 32, fc1 and fc2 1 x (8 + 4) = 12 each), every vector whole (norm1, norm2
     * and the final norm 8 each, the biases 4 x 4 + 8 + 4 = 28) and the class token: 56 + 52 + 4.
     */
    static final long MAX = 112;

    /** Scores that are all zero but for the given {@code tensor -> {index, score, ...}}. */
    static SensitivityScores scores(ParameterSpace space, Map<String, float[]> sparse) {
        var map = new LinkedHashMap<String, float[]>();
        for (TensorSpec t : space.scored()) {
            float[] values = new float[(int) t.size()];
            float[] pairs = sparse.getOrDefault(t.name(), new float[0]);
            for (int i = 0; i < pairs.length; i += 2) {
                values[(int) pairs[i]] = pairs[i + 1];
            }
            map.put(t.name(), values);
        }
        return new SensitivityScores(space, map, "test");
    }

    static AllocationRule lora(int rank, double alpha, double beta, AllocationRule.Mode mode) {
        return new AllocationRule(AllocationRule.Module.LORA, rank, alpha, beta, mode, true);
    }

    @Test
    void tiesAtTheThresholdGoToTheLowerIndex() {
        // three equal scores; the top 2 must be the two earliest in parameter-space order
        var s = scores(SPACE, Map.of(
                "blocks.0.mlp.fc2.weight", new float[] {3, 5f},
                "blocks.0.attn.v.weight", new float[] {9, 5f, 2, 5f}));
        var allocator = new BudgetAllocator(s, lora(1, 1, 1, AllocationRule.Mode.UNSTRUCTURED_ONLY));
        TuningPlan plan = allocator.planAt(2, new Budget("k2", 6));
        assertArrayEquals(new int[] {2, 9}, sparse(plan, "blocks.0.attn.v.weight"));
        assertInstanceOf(TensorDecision.Frozen.class, plan.entry("blocks.0.mlp.fc2.weight").decision());
        assertEquals(CLS + 2, plan.totals().achieved());
    }

    @Test
    void aMatrixExactlyAtCostOverAlphaGetsItsModuleAndOneBelowStaysSparse() {
        // LoRA r=1 on q (4x4) costs 8; alpha 4 puts the boundary at exactly 2 entries
        var s = scores(SPACE, Map.of(
                "blocks.0.attn.q.weight", new float[] {0, 10f, 5, 9f},
                "blocks.0.norm2.bias", new float[] {1, 8f}));
        var allocator = new BudgetAllocator(s, lora(1, 4, 1, AllocationRule.Mode.MIXED));
        TuningPlan one = allocator.planAt(1, new Budget("k1", 5));
        assertArrayEquals(new int[] {0}, sparse(one, "blocks.0.attn.q.weight"));
        TuningPlan two = allocator.planAt(2, new Budget("k2", 12));
        var module = assertInstanceOf(TensorDecision.Structured.class, two.entry("blocks.0.attn.q.weight").decision());
        assertEquals(8, module.trainable());
        assertEquals(2, two.entry("blocks.0.attn.q.weight").countInTopK());
        assertEquals(new TuningPlan.Totals(0, 8, 0, CLS, 2 * 4 + 2, MAX), two.totals());
        TuningPlan three = allocator.planAt(3, new Budget("k3", 13));
        assertArrayEquals(new int[] {1}, sparse(three, "blocks.0.norm2.bias"));
        assertEquals(CLS + 8 + 1, three.totals().achieved());
    }

    @Test
    void wholeVectorsFromLengthOverBeta() {
        // fc1.bias has 8 entries; beta 4 means 2 selected entries tune it whole
        var s = scores(SPACE, Map.of("blocks.0.mlp.fc1.bias", new float[] {7, 3f, 2, 2f}));
        var allocator = new BudgetAllocator(s, lora(1, 4, 4, AllocationRule.Mode.MIXED));
        assertArrayEquals(new int[] {7}, sparse(allocator.planAt(1, new Budget("k1", 5)), "blocks.0.mlp.fc1.bias"));
        TuningPlan two = allocator.planAt(2, new Budget("k2", 12));
        assertEquals(new TensorDecision.Whole(8), two.entry("blocks.0.mlp.fc1.bias").decision());
        assertEquals(CLS + 8, two.totals().achieved());
        var noWhole = new BudgetAllocator(s, new AllocationRule(AllocationRule.Module.LORA, 1, 4, 4,
                AllocationRule.Mode.MIXED, false));
        assertArrayEquals(new int[] {2, 7}, sparse(noWhole.planAt(2, new Budget("k2", 6)), "blocks.0.mlp.fc1.bias"));
    }

    @Test
    void allOfTheTopKInsideOneMatrix() {
        float[] pairs = new float[2 * 6];
        for (int i = 0; i < 6; i++) {
            pairs[2 * i] = 31 - 5 * i; // 31, 26, 21, 16, 11, 6
            pairs[2 * i + 1] = 100 - i;
        }
        var s = scores(SPACE, Map.of("blocks.0.mlp.fc2.weight", pairs));
        // fc2 (4x8) LoRA r=1 costs 12; alpha 2 needs 6 entries
        var allocator = new BudgetAllocator(s, lora(1, 2, 1, AllocationRule.Mode.MIXED));
        TuningPlan five = allocator.allocate(List.of(new Budget("9", CLS + 5))).get(0);
        assertEquals(5, five.k());
        assertArrayEquals(new int[] {11, 16, 21, 26, 31}, sparse(five, "blocks.0.mlp.fc2.weight"));
        assertEquals(new TuningPlan.Totals(5, 0, 0, CLS, 10, MAX), five.totals());
        TuningPlan six = allocator.planAt(6, new Budget("k6", 16));
        assertEquals(new TuningPlan.Totals(0, 12, 0, CLS, 10, MAX), six.totals());
    }

    @Test
    void aBudgetBelowOneModuleGetsWhicheverReachableTotalIsClosest() {
        // with rank 1 and alpha 10 a single entry of q (cost 8) already buys the module: totals jump 4 -> 12
        var s = scores(SPACE, Map.of("blocks.0.attn.q.weight", new float[] {0, 1f}));
        var allocator = new BudgetAllocator(s, lora(1, 10, 1, AllocationRule.Mode.MIXED));
        List<TuningPlan> plans = allocator.allocate(List.of(new Budget("7", 7), new Budget("9", 9)));
        assertEquals(0, plans.get(0).k()); // |4 - 7| = 3 < |12 - 7| = 5: only the class token
        assertEquals(CLS, plans.get(0).totals().achieved());
        assertEquals(1, plans.get(1).k()); // |12 - 9| = 3 < |4 - 9| = 5: the module
        assertEquals(CLS + 8, plans.get(1).totals().achieved());
        // rank 8 on a 4x4 matrix costs 64, Adapter r=8 on it 2*8*4 + 8 + 4 = 76
        assertEquals(64, AllocationRule.Module.LORA.cost(8, 4, 4));
        assertEquals(76, AllocationRule.Module.ADAPTER.cost(8, 4, 4));
    }

    @Test
    void structuredOnlyFreezesWhatWouldHaveBeenSparse() {
        var s = scores(SPACE, Map.of(
                "blocks.0.attn.q.weight", new float[] {0, 10f, 5, 9f},
                "blocks.0.attn.k.weight", new float[] {3, 8f}));
        var allocator = new BudgetAllocator(s, lora(1, 4, 1, AllocationRule.Mode.STRUCTURED_ONLY));
        TuningPlan plan = allocator.planAt(3, new Budget("k3", 12));
        assertInstanceOf(TensorDecision.Structured.class, plan.entry("blocks.0.attn.q.weight").decision());
        assertInstanceOf(TensorDecision.Frozen.class, plan.entry("blocks.0.attn.k.weight").decision());
        assertEquals(new TuningPlan.Totals(0, 8, 0, CLS, 10, MAX), plan.totals());
    }

    @Test
    void impossibleBudgetsAreClearErrors() {
        long backbone = SPACE.totalSize() - 10;
        assertThrows(IllegalArgumentException.class, () -> Budget.parse("0", backbone));
        assertThrows(IllegalArgumentException.class, () -> Budget.parse("-5", backbone));
        assertThrows(IllegalArgumentException.class, () -> Budget.parse("lots", backbone));
        var e = assertThrows(IllegalArgumentException.class, () -> Budget.parse("1M", backbone));
        assertTrue(e.getMessage().contains("exceeds the backbone"), e.getMessage());
        assertEquals(400_000, Budget.parse("0.4M", 86_000_000).target());
        assertEquals(400_000, Budget.parse("400k", 86_000_000).target());
        assertEquals(430_000, Budget.parse("0.5%", 86_000_000).target());
        assertEquals(430_000, Budget.parse("0.005", 86_000_000).target());
        var s = scores(SPACE, Map.of());
        var allocator = new BudgetAllocator(s, AllocationRule.defaults(AllocationRule.Module.LORA));
        long reachable = SPACE.scoredSize() + CLS;
        // with entries only, the largest budget is every scored scalar plus the class token
        var entriesOnly = new BudgetAllocator(s, lora(1, 1, 1, AllocationRule.Mode.UNSTRUCTURED_ONLY));
        assertEquals(reachable, entriesOnly.allocate(List.of(new Budget("all", reachable))).get(0).totals().achieved());
        e = assertThrows(IllegalArgumentException.class,
                () -> allocator.allocate(List.of(new Budget("big", reachable + 1))));
        assertTrue(e.getMessage().contains("exceeds the " + SPACE.scoredSize() + " scored parameters"), e.getMessage());
    }

    @Test
    void budgetsAreWholeCountsSuffixedCountsPercentagesOrFractions() {
        long backbone = 691_000;
        assertEquals(400_000, Budget.parse("0.4M", backbone).target());
        assertEquals(20_000, Budget.parse("20k", backbone).target());
        assertEquals(1_500, Budget.parse("1.5k", backbone).target());
        assertEquals(200_000, Budget.parse("2e5", backbone).target());
        assertEquals(400_000, Budget.parse("400_000", backbone).target());
        assertEquals(3_248, Budget.parse("0.47%", backbone).target()); // 3247.7
        assertEquals(3_248, Budget.parse("0.0047", backbone).target());
        assertEquals(2, Budget.parse("2", backbone).target());
        assertEquals(1, Budget.parse("1.0", backbone).target());
        assertEquals("0.4M", Budget.parse(" 0.4M ", backbone).label());
        // a count with a fractional part is neither a count nor a fraction of the backbone
        var e = assertThrows(IllegalArgumentException.class, () -> Budget.parse("1.5", backbone));
        assertEquals("budget '1.5' is 1.5 parameters, not a whole count: expected a whole count (400000), a count with a"
                + " suffix (0.4M, 400k), a percentage (0.47%) or a fraction below 1 (0.0047) of the backbone", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Budget.parse("1.2345678M", backbone));
        assertTrue(e.getMessage().startsWith("budget '1.2345678M' is 1234567.8 parameters, not a whole count"),
                e.getMessage());
        for (String notANumber : new String[] {"NaN", "Infinity", "5f", "0x10", "1,5", "", "M", "%"}) {
            e = assertThrows(IllegalArgumentException.class, () -> Budget.parse(notANumber, backbone), notANumber);
            assertTrue(e.getMessage().startsWith("budget '" + notANumber + "' is not a number"), e.getMessage());
        }
        e = assertThrows(IllegalArgumentException.class, () -> Budget.parse("0.00001%", backbone));
        assertEquals("budget '0.00001%' comes to 0 of the backbone's 691000 parameters: it must be at least 1",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Budget.parse("1e400", backbone));
        assertEquals("budget '1e400' (1.00000E+400 parameters) exceeds the backbone's 691000 parameters", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Budget.parse("-0.5%", backbone));
    }

    @Test
    void theMostARuleSpendsIsComputedByHandAndRecordedInThePlan() {
        var lora = AllocationRule.defaults(AllocationRule.Module.LORA, 1);
        assertEquals(MAX, BudgetAllocator.maxReachable(SPACE, lora));
        // Adapter r=1 costs 2 out + 1 + out: q, k, v, proj 13 each, fc1 25, fc2 13, so 90 + 52 + 4
        assertEquals(146, BudgetAllocator.maxReachable(SPACE, AllocationRule.defaults(AllocationRule.Module.ADAPTER, 1)));
        // entries only: every scored scalar and the class token
        long everything = SPACE.scoredSize() + CLS;
        assertEquals(184, everything);
        assertEquals(everything, BudgetAllocator.maxReachable(SPACE, lora(1, 1, 1, AllocationRule.Mode.UNSTRUCTURED_ONLY)));
        // the demo backbone under the sweep's rule: the 90,720 of every matrix a LoRA r=8 module, every vector whole
        var demo = ParameterSpace.of(org.sptspark.model.VitPresets.get(org.sptspark.model.VitPresets.DEMO));
        assertEquals(90_720, BudgetAllocator.maxReachable(demo, AllocationRule.defaults(AllocationRule.Module.LORA)));

        var s = scores(SPACE, Map.of("blocks.0.attn.q.weight", new float[] {0, 1f}));
        var allocator = new BudgetAllocator(s, lora);
        assertEquals(MAX, allocator.maxReachable());
        var warnings = new ArrayList<String>();
        List<TuningPlan> plans = allocator.allocate(List.of(new Budget("50", 50), new Budget("150", 150)), false,
                warnings::add);
        assertEquals(List.of("budget 150 (150 parameters) cannot be reached on alloc_small: the lora rule (rank 1, alpha"
                + " 10, beta 5, mixed) trains at most 112 parameters, every matrix and vector it can tune included; its"
                + " plan trains 112 instead"), warnings);
        assertEquals(MAX, plans.get(1).totals().achieved());
        assertEquals(MAX, plans.get(1).totals().maxReachable());
        assertEquals(MAX, plans.get(0).totals().maxReachable());
        assertEquals(MAX, PlanJson.read(PlanJson.write(plans.get(1)), "p.json").totals().maxReachable());
        var e = assertThrows(IllegalArgumentException.class,
                () -> allocator.allocate(List.of(new Budget("50", 50), new Budget("150", 150)), true, warnings::add));
        assertTrue(e.getMessage().startsWith("budget 150 (150 parameters) cannot be reached on alloc_small: the lora rule"
                + " (rank 1, alpha 10, beta 5, mixed) trains at most 112 parameters"), e.getMessage());
        // at the maximum exactly, no word
        warnings.clear();
        allocator.allocate(List.of(new Budget("112", MAX)), true, warnings::add);
        assertEquals(List.of(), warnings);
        // the check a sweep makes before any scores
        BudgetAllocator.checkReachable(List.of(new Budget("150", 150)), SPACE, lora, false, warnings::add);
        assertEquals(1, warnings.size());
        e = assertThrows(IllegalArgumentException.class, () -> BudgetAllocator.checkReachable(
                List.of(new Budget("112", MAX), new Budget("113", MAX + 1)), SPACE, lora, true, w -> { }));
        assertTrue(e.getMessage().startsWith("budget 113 (113 parameters) cannot be reached"), e.getMessage());
    }

    /** Random scores on a two-block ViT: the plans against a brute-force ranking of every scalar. */
    @Test
    void randomScoresPlansAreTheTopKAndTheClosestReachableTotal() {
        var config = new VitConfig("alloc_random", 16, 4, 3, 32, 2, 4, 64, 5, 1e-6, 0.0);
        var space = ParameterSpace.of(config);
        var random = new SplittableRandom(5);
        for (AllocationRule.Module module : AllocationRule.Module.values()) {
            var map = new LinkedHashMap<String, float[]>();
            for (TensorSpec t : space.scored()) {
                float[] v = new float[(int) t.size()];
                double scale = Math.exp(random.nextDouble(-3, 3)); // tensors differ in sensitivity, as in real scores
                for (int i = 0; i < v.length; i++) {
                    double g = random.nextGaussian() * scale;
                    // a coarse grid makes ties common, so the index tie-break is exercised
                    v[i] = (float) (Math.round(g * g * 64) / 64.0);
                }
                map.put(t.name(), v);
            }
            var s = new SensitivityScores(space, map, "random");
            var rule = new AllocationRule(module, 2, 10, 5, AllocationRule.Mode.MIXED, true);
            var allocator = new BudgetAllocator(s, rule);
            // what an unlimited budget gets is the total with every scalar in, known from the space alone
            assertEquals(BudgetAllocator.maxReachable(space, rule), allocator.maxReachable(), module.toString());
            List<Budget> budgets = List.of(new Budget("a", 300), new Budget("b", 1_000), new Budget("c", 2_000));
            List<TuningPlan> plans = allocator.allocate(budgets);
            int[] order = bruteForceRanking(space, s);
            for (int b = 0; b < budgets.size(); b++) {
                TuningPlan plan = plans.get(b);
                checkTopK(space, plan, order);
                long sum = plan.entries().stream().mapToLong(e -> e.decision().trainable()).sum();
                assertEquals(plan.totals().achieved(), sum + plan.totals().clsToken(), "totals are the sum of their parts");
                long target = budgets.get(b).target();
                long diff = Math.abs(plan.totals().achieved() - target);
                for (long k : new long[] {plan.k() - 1, plan.k() + 1}) {
                    if (k >= 0 && k <= space.scoredSize()) {
                        long other = allocator.planAt(k, budgets.get(b)).totals().achieved();
                        assertTrue(diff <= Math.abs(other - target), module + " k=" + k + " would be closer to " + target);
                    }
                }
            }
            // the total never decreases with k, which is what makes the neighbours' check global
            long previous = 0;
            for (long k = 0; k <= space.scoredSize(); k += 997) {
                long total = allocator.planAt(k, budgets.get(0)).totals().achieved();
                assertTrue(total >= previous, "total decreased at k=" + k);
                previous = total;
            }
        }
    }

    /** The tensors not given a module hold exactly their own entries among the brute-force top k. */
    private static void checkTopK(ParameterSpace space, TuningPlan plan, int[] order) {
        List<TensorSpec> scored = space.scored();
        long[] starts = new long[scored.size() + 1];
        for (int t = 0; t < scored.size(); t++) {
            starts[t + 1] = starts[t] + scored.get(t).size();
        }
        Map<String, List<Integer>> expected = new LinkedHashMap<>();
        for (int i = 0; i < plan.k(); i++) {
            int global = order[i];
            int t = 0;
            while (starts[t + 1] <= global) {
                t++;
            }
            expected.computeIfAbsent(scored.get(t).name(), x -> new ArrayList<>()).add((int) (global - starts[t]));
        }
        for (TuningPlan.Entry e : plan.entries()) {
            List<Integer> mine = expected.getOrDefault(e.name(), List.of());
            assertEquals(mine.size(), e.countInTopK(), e.name());
            if (e.decision() instanceof TensorDecision.Sparse sparse) {
                int[] want = mine.stream().mapToInt(Integer::intValue).sorted().toArray();
                assertArrayEquals(want, sparse.indices(), e.name());
            }
        }
    }

    /** Every scored scalar's global index, by score descending then index ascending: a full sort. */
    private static int[] bruteForceRanking(ParameterSpace space, SensitivityScores s) {
        var all = new ArrayList<float[]>();
        for (TensorSpec t : space.scored()) {
            all.add(s.get(t.name()));
        }
        float[] flat = new float[(int) space.scoredSize()];
        int n = 0;
        for (float[] v : all) {
            System.arraycopy(v, 0, flat, n, v.length);
            n += v.length;
        }
        Integer[] idx = new Integer[flat.length];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        Arrays.sort(idx, (a, b) -> flat[a] != flat[b] ? Float.compare(flat[b], flat[a]) : Integer.compare(a, b));
        return Arrays.stream(idx).mapToInt(Integer::intValue).toArray();
    }

    private static int[] sparse(TuningPlan plan, String name) {
        return assertInstanceOf(TensorDecision.Sparse.class, plan.entry(name).decision()).indices();
    }
}
