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
 * decreases, so for each budget the k whose total is closest to the target lies where the total
 * crosses the target.
 *
 * <p>No full sort. One pass over the scores builds, per tensor, a histogram of the top 16 bits of
 * an order-preserving integer key (sign, exponent and 7 mantissa bits: bins 1/128 wide in
 * relative terms). From these histograms alone the total is known at every bin boundary; only the
 * one bin in which a budget's target is crossed is collected, sorted and swept scalar by scalar.
 * Extra memory: the histograms (256 KiB per tensor) and the crossing bin's entries.
 */
public final class BudgetAllocator {

    private static final Logger LOG = LoggerFactory.getLogger(BudgetAllocator.class);
    private static final int BINS = 1 << 16;

    private final SensitivityScores scores;
    private final AllocationRule rule;
    private final ParameterSpace space;
    private final List<TensorSpec> tensors;
    private final long[] starts;
    private final long size;
    private final long[] moduleCost;
    private final long clsToken;
    /** Per tensor, its scalars per high-16-bit key bin; built on first use. */
    private int[][] histogram;
    /** {@code above[b]}: scalars in bins above b; {@code above[BINS - 1] = 0}. */
    private long[] above;

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
        if (size >= Integer.MAX_VALUE) {
            throw new IllegalArgumentException("more than 2^31 scored parameters (" + size + ") are not supported");
        }
        this.moduleCost = new long[tensors.size()];
        for (int t = 0; t < tensors.size(); t++) {
            TensorSpec spec = tensors.get(t);
            if (spec.role() == TensorRole.MATRIX) {
                moduleCost[t] = rule.module().cost(rule.rank(), spec.rows(), spec.cols());
            }
        }
        this.clsToken = space.get("cls_token").size();
    }

    /** One plan per budget, in the budgets' order. */
    public List<TuningPlan> allocate(List<Budget> budgets) {
        if (budgets.isEmpty()) {
            throw new IllegalArgumentException("no budget given");
        }
        // the most any plan trains: every scored scalar (whole or entry-wise) and the class token
        long reachable = size + clsToken;
        for (Budget b : budgets) {
            if (b.target() > reachable) {
                throw new IllegalArgumentException("budget " + b.label() + " (" + b.target() + ") exceeds the " + size
                        + " scored parameters (plus the class token's " + clsToken + ") of " + space.config().name());
            }
        }
        long start = System.nanoTime();
        buildHistogram();
        long[] binTotals = binTotals();
        var plans = new ArrayList<TuningPlan>();
        for (Budget budget : budgets) {
            plans.add(planAt(closestK(budget.target(), binTotals), budget));
        }
        LOG.info("allocated {} budget(s) over {} scores in {} ms", budgets.size(), size,
                (System.nanoTime() - start) / 1_000_000);
        return plans;
    }

    /** One pass over every score: the per-tensor bin histograms and the counts above each bin. */
    private void buildHistogram() {
        if (histogram != null) {
            return;
        }
        int[][] h = new int[tensors.size()][];
        long[] perBin = new long[BINS];
        for (int t = 0; t < tensors.size(); t++) {
            int[] bins = new int[BINS];
            for (float f : scores.get(tensors.get(t).name())) {
                bins[key(f) >>> 16]++;
            }
            for (int b = 0; b < BINS; b++) {
                perBin[b] += bins[b];
            }
            h[t] = bins;
        }
        long[] a = new long[BINS];
        for (int b = BINS - 2; b >= 0; b--) {
            a[b] = a[b + 1] + perBin[b + 1];
        }
        above = a;
        histogram = h;
    }

    /** {@code totals[b]}: the plan total once every scalar of bins >= b is in; {@code totals[BINS]} is k = 0. */
    private long[] binTotals() {
        long[] counts = new long[tensors.size()];
        long[] totals = new long[BINS + 1];
        long total = clsToken;
        totals[BINS] = total;
        for (int b = BINS - 1; b >= 0; b--) {
            for (int t = 0; t < tensors.size(); t++) {
                int n = histogram[t][b];
                if (n != 0) {
                    total -= trainable(t, counts[t]);
                    counts[t] += n;
                    total += trainable(t, counts[t]);
                }
            }
            totals[b] = total;
        }
        return totals;
    }

    /**
     * The k whose total is closest to {@code target} (the smaller k on a tie). The total never
     * decreases with k, so it lies in the bin where the total first reaches the target, and a
     * sweep over that bin's sorted scalars finds it.
     */
    private long closestK(long target, long[] binTotals) {
        if (binTotals[BINS] >= target) {
            return 0;
        }
        int b = BINS - 1;
        while (b > 0 && binTotals[b] < target) {
            b--;
        }
        long[] counts = countsAbove(b);
        long total = binTotals[b + 1];
        long k = above[b];
        long bestK = k;
        long bestDiff = Math.abs(total - target);
        for (long packed : binEntries(b)) {
            int t = tensorOf(index(packed));
            total -= trainable(t, counts[t]);
            counts[t]++;
            total += trainable(t, counts[t]);
            k++;
            long diff = Math.abs(total - target);
            if (diff < bestDiff) {
                bestDiff = diff;
                bestK = k;
            }
            if (total > target) {
                break;
            }
        }
        return bestK;
    }

    /** Per tensor, its scalars in bins above {@code b}. */
    private long[] countsAbove(int b) {
        long[] counts = new long[tensors.size()];
        for (int t = 0; t < tensors.size(); t++) {
            int[] h = histogram[t];
            long c = 0;
            for (int i = b + 1; i < BINS; i++) {
                c += h[i];
            }
            counts[t] = c;
        }
        return counts;
    }

    /**
     * The scalars of bin {@code b}, each packed as {@code (inverted key << 32) | index} and sorted
     * ascending: best score first, lower index first among equal scores.
     */
    private long[] binEntries(int b) {
        int n = 0;
        for (int[] h : histogram) {
            n += h[b];
        }
        long[] out = new long[n];
        int filled = 0;
        for (int t = 0; t < tensors.size(); t++) {
            if (histogram[t][b] == 0) {
                continue;
            }
            float[] values = scores.get(tensors.get(t).name());
            long base = starts[t];
            for (int i = 0; i < values.length; i++) {
                int key = key(values[i]);
                if (key >>> 16 == b) {
                    out[filled++] = (0xffffffffL - (key & 0xffffffffL)) << 32 | (base + i);
                }
            }
        }
        Arrays.sort(out);
        return out;
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

    /**
     * The plan of exactly the top {@code k} scalars. The k-th scalar's (key, index) is the cut: a
     * scalar is in the top k when its key is greater, or equal with an index not after the cut's.
     */
    TuningPlan planAt(long k, Budget budget) {
        if (k < 0 || k > size) {
            throw new IllegalArgumentException("k = " + k + " outside 0.." + size);
        }
        buildHistogram();
        long[] counts = new long[tensors.size()];
        long cutKey = 1L << 32; // above every key: nothing selected
        long cutIndex = -1;
        if (k > 0) {
            int b = BINS - 1;
            while (above[b] + binSize(b) < k) {
                b--;
            }
            long[] entries = binEntries(b);
            int within = (int) (k - above[b]);
            long packed = entries[within - 1];
            cutKey = 0xffffffffL - (packed >>> 32);
            cutIndex = index(packed);
            counts = countsAbove(b);
            for (int i = 0; i < within; i++) {
                counts[tensorOf(index(entries[i]))]++;
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
                    unstructured += counts[t];
                    yield new TensorDecision.Sparse(selected(t, (int) counts[t], cutKey, cutIndex));
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
        var totals = new TuningPlan.Totals(unstructured, structured, whole, clsToken, space.headSize());
        return new TuningPlan(space.config().name(), space.config().numClasses(), scores.id(), rule, budget, k, entries,
                totals);
    }

    private long binSize(int b) {
        long n = 0;
        for (int[] h : histogram) {
            n += h[b];
        }
        return n;
    }

    /** The flat indices of tensor {@code t}'s scalars at or above the cut, increasing. */
    private int[] selected(int t, int count, long cutKey, long cutIndex) {
        int[] out = new int[count];
        int n = 0;
        float[] values = scores.get(tensors.get(t).name());
        long base = starts[t];
        for (int i = 0; i < values.length; i++) {
            long key = key(values[i]) & 0xffffffffL;
            if (key > cutKey || (key == cutKey && base + i <= cutIndex)) {
                out[n++] = i;
            }
        }
        if (n != count) {
            throw new IllegalStateException("tensor " + tensors.get(t).name() + ": " + n + " scalars at the cut, expected "
                    + count);
        }
        return out;
    }

    /** The tensor (in scored order) that holds global scored index {@code index}. */
    private int tensorOf(long index) {
        int t = Arrays.binarySearch(starts, index);
        return t >= 0 ? t : -t - 2;
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
