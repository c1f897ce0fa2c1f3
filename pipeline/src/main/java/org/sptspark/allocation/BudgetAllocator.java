package org.sptspark.allocation;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorRole;
import org.sptspark.model.TensorSpec;
import org.sptspark.sensitivity.SensitivityScores;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SPT's driver-side allocation: from sensitivity scores and budgets to tuning plans.
 *
 * <p>All scored scalars are ranked by score, descending, ties broken by their position in the
 * scored parameter space (earlier first), so plans are deterministic. For a given k, each tensor
 * counts its scalars among the top k and the rule decides: a matrix gets a structured module when
 * {@code count >= cost / alpha}, a vector is tuned whole when {@code count >= length / beta}, and
 * otherwise exactly its own top-k scalars are tuned. The plan's total, as a function of k, never
 * decreases, so for each budget the k whose total is closest to the target is found in one sweep.
 *
 * <p>No full sort: two radix-histogram passes find the score threshold of the top M scalars, only
 * those M are sorted, and one incremental sweep over them evaluates the total for every k up to M
 * (M grows fourfold in the rare case that the budgets are not reached).
 */
public final class BudgetAllocator {

    private static final Logger LOG = LoggerFactory.getLogger(BudgetAllocator.class);

    private final SensitivityScores scores;
    private final AllocationRule rule;
    private final ParameterSpace space;
    private final List<TensorSpec> tensors;
    private final long[] starts;
    private final long size;
    private final long[] moduleCost;

    public BudgetAllocator(SensitivityScores scores, AllocationRule rule) {
        this.scores = scores;
        this.rule = rule;
        this.space = scores.space();
        this.tensors = space.scored();
        this.starts = new long[tensors.size() + 1];
        for (int t = 0; t < tensors.size(); t++) {
            starts[t + 1] = starts[t] + tensors.get(t).size();
        }
        this.size = starts[tensors.size()];
        this.moduleCost = new long[tensors.size()];
        for (int t = 0; t < tensors.size(); t++) {
            TensorSpec spec = tensors.get(t);
            if (spec.role() == TensorRole.MATRIX) {
                moduleCost[t] = rule.module().cost(rule.rank(), spec.rows(), spec.cols());
            }
        }
        if (size >= Integer.MAX_VALUE) {
            throw new IllegalArgumentException("more than 2^31 scored parameters (" + size + ") are not supported");
        }
    }

    /** One plan per budget, in the budgets' order. */
    public List<TuningPlan> allocate(List<Budget> budgets) {
        if (budgets.isEmpty()) {
            throw new IllegalArgumentException("no budget given");
        }
        long clsToken = space.get("cls_token").size();
        long maxTarget = budgets.stream().mapToLong(Budget::target).max().orElseThrow();
        long backbone = space.totalSize() - headSize();
        for (Budget b : budgets) {
            if (b.target() > backbone) {
                throw new IllegalArgumentException("budget " + b.label() + " (" + b.target() + ") exceeds the backbone's "
                        + backbone + " parameters");
            }
        }
        long m = Math.min(size, Math.max(1L << 16, 4 * maxTarget));
        while (true) {
            long start = System.nanoTime();
            long[] ranked = topCandidates(m);
            long[] bestK = new long[budgets.size()];
            boolean reached = sweep(ranked, clsToken, budgets, bestK);
            LOG.info("ranked the top {} of {} scores in {} ms", ranked.length, size, (System.nanoTime() - start) / 1_000_000);
            if (reached || ranked.length >= size) {
                var plans = new ArrayList<TuningPlan>();
                for (int b = 0; b < budgets.size(); b++) {
                    plans.add(plan(ranked, (int) bestK[b], budgets.get(b), clsToken));
                }
                return plans;
            }
            m = Math.min(size, 4 * m);
        }
    }

    private long headSize() {
        return space.get("head.weight").size() + space.get("head.bias").size();
    }

    /**
     * Evaluates the total for k = 1, 2, ... over the ranked prefix and records, per budget, the k
     * whose total is closest to its target (the smaller k on a tie). Returns whether every target
     * was passed (so no longer prefix could be closer).
     */
    private boolean sweep(long[] ranked, long clsToken, List<Budget> budgets, long[] bestK) {
        long[] counts = new long[tensors.size()];
        long[] bestDiff = new long[budgets.size()];
        long maxTarget = budgets.stream().mapToLong(Budget::target).max().orElseThrow();
        long total = clsToken;
        for (int b = 0; b < bestK.length; b++) {
            // k = 0 (nothing but the class token) is reachable too, and closest for budgets below the first step
            bestDiff[b] = Math.abs(total - budgets.get(b).target());
            bestK[b] = 0;
        }
        for (int k = 1; k <= ranked.length; k++) {
            int t = tensorOf(index(ranked[k - 1]));
            long before = trainable(t, counts[t]);
            counts[t]++;
            total += trainable(t, counts[t]) - before;
            for (int b = 0; b < bestK.length; b++) {
                long diff = Math.abs(total - budgets.get(b).target());
                if (diff < bestDiff[b]) {
                    bestDiff[b] = diff;
                    bestK[b] = k;
                }
            }
            if (total > maxTarget) {
                return true;
            }
        }
        return false;
    }

    /** The rule's choice for a tensor, before sparse indices are known. */
    private enum Kind { FROZEN, SPARSE, STRUCTURED, WHOLE }

    private Kind kind(int t, long count) {
        if (count == 0) {
            return Kind.FROZEN;
        }
        TensorSpec spec = tensors.get(t);
        boolean structuredAllowed = rule.mode() != AllocationRule.Mode.UNSTRUCTURED_ONLY;
        if (spec.role() == TensorRole.MATRIX && structuredAllowed && count * rule.alpha() >= moduleCost[t]) {
            return Kind.STRUCTURED;
        }
        if (spec.role() == TensorRole.VECTOR && structuredAllowed && rule.structuredVectors()
                && count * rule.beta() >= spec.size()) {
            return Kind.WHOLE;
        }
        return rule.mode() == AllocationRule.Mode.STRUCTURED_ONLY ? Kind.FROZEN : Kind.SPARSE;
    }

    /** Trainable parameters tensor {@code t} gets when {@code count} of its scalars are in the top k. */
    private long trainable(int t, long count) {
        return switch (kind(t, count)) {
            case FROZEN -> 0;
            case SPARSE -> count;
            case STRUCTURED -> moduleCost[t];
            case WHOLE -> tensors.get(t).size();
        };
    }

    /** The plan of exactly the top {@code k} scalars, ranking all of them (for tests and analysis). */
    TuningPlan planAt(long k, Budget label) {
        return plan(topCandidates(size), Math.toIntExact(k), label, space.get("cls_token").size());
    }

    private TuningPlan plan(long[] ranked, int k, Budget budget, long clsToken) {
        long[] counts = new long[tensors.size()];
        for (int i = 0; i < k; i++) {
            counts[tensorOf(index(ranked[i]))]++;
        }
        int[][] sparse = new int[tensors.size()][];
        int[] filled = new int[tensors.size()];
        for (int t = 0; t < tensors.size(); t++) {
            if (kind(t, counts[t]) == Kind.SPARSE) {
                sparse[t] = new int[(int) counts[t]];
            }
        }
        for (int i = 0; i < k; i++) {
            int index = index(ranked[i]);
            int t = tensorOf(index);
            if (sparse[t] != null) {
                sparse[t][filled[t]++] = (int) (index - starts[t]);
            }
        }
        var entries = new ArrayList<TuningPlan.Entry>();
        long unstructured = 0;
        long structured = 0;
        long whole = 0;
        for (int t = 0; t < tensors.size(); t++) {
            TensorSpec spec = tensors.get(t);
            TensorDecision decision = switch (kind(t, counts[t])) {
                case FROZEN -> new TensorDecision.Frozen();
                case SPARSE -> {
                    Arrays.sort(sparse[t]);
                    unstructured += counts[t];
                    yield new TensorDecision.Sparse(sparse[t]);
                }
                case STRUCTURED -> {
                    structured += moduleCost[t];
                    yield new TensorDecision.Structured(rule.module(), rule.rank(), moduleCost[t]);
                }
                case WHOLE -> {
                    whole += spec.size();
                    yield new TensorDecision.Whole(spec.size());
                }
            };
            entries.add(new TuningPlan.Entry(spec.name(), spec.block(), spec.operation(), spec.role(), counts[t], decision));
        }
        var totals = new TuningPlan.Totals(unstructured, structured, whole, clsToken, headSize());
        return new TuningPlan(space.config().name(), space.config().numClasses(), scores.id(), rule, budget, k, entries,
                totals);
    }

    /** The tensor (in scored order) that holds global scored index {@code index}. */
    private int tensorOf(long index) {
        int t = Arrays.binarySearch(starts, index);
        return t >= 0 ? t : -t - 2;
    }

    /**
     * The scalars of the top {@code m} scores (and any that tie with the m-th), each packed as
     * {@code (inverted sortable key << 32) | index}, sorted ascending: best score first, lower
     * index first among equal scores.
     */
    long[] topCandidates(long m) {
        // pass 1: histogram of the high 16 bits of the order-preserving key
        long[] high = new long[1 << 16];
        for (TensorSpec t : tensors) {
            for (float f : scores.get(t.name())) {
                high[key(f) >>> 16]++;
            }
        }
        int hb = (1 << 16) - 1;
        long above = 0;
        while (above + high[hb] < m && hb > 0) {
            above += high[hb];
            hb--;
        }
        // pass 2: within that bin, histogram of the low 16 bits
        long[] low = new long[1 << 16];
        for (TensorSpec t : tensors) {
            for (float f : scores.get(t.name())) {
                int key = key(f);
                if (key >>> 16 == hb) {
                    low[key & 0xffff]++;
                }
            }
        }
        int lb = (1 << 16) - 1;
        long taken = above;
        while (taken + low[lb] < m && lb > 0) {
            taken += low[lb];
            lb--;
        }
        taken += low[lb];
        long threshold = ((long) hb << 16 | lb) & 0xffffffffL;
        // pass 3: collect everything at or above the threshold, then sort only those
        long[] out = new long[Math.toIntExact(taken)];
        int n = 0;
        for (int t = 0; t < tensors.size(); t++) {
            float[] values = scores.get(tensors.get(t).name());
            long base = starts[t];
            for (int i = 0; i < values.length; i++) {
                long key = key(values[i]) & 0xffffffffL;
                if (key >= threshold) {
                    out[n++] = (0xffffffffL - key) << 32 | (base + i);
                }
            }
        }
        Arrays.sort(out);
        return out;
    }

    private static int index(long packed) {
        return (int) (packed & 0xffffffffL);
    }

    /** An int whose unsigned order is the float's numeric order (-0.0 taken as 0.0). */
    static int key(float f) {
        int bits = Float.floatToRawIntBits(f == 0f ? 0f : f);
        return bits < 0 ? ~bits : bits | 0x80000000;
    }
}
