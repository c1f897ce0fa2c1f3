package org.sptspark.allocation;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
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
 *
 * <p>A rule cannot spend more than {@link #maxReachable()}: with every scalar selected, each matrix
 * costs at most its module (or its entries), each vector at most its length. A budget above that is
 * planned at the maximum with a warning naming it, or refused when the caller asks for strictness;
 * every plan records the maximum in its totals.
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
    /** What the rule spends given an unlimited budget; computed on first use. */
    private long maxReachable = -1;
    /** Per tensor, its scalars per high-16-bit key bin; built on first use. */
    private int[][] histogram;
    /** {@code above[b]}: scalars in bins above b; {@code above[BINS - 1] = 0}. */
    private long[] above;
    /** The plan total at every bin boundary; built on first use. */
    private long[] binTotals;

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
        this.clsToken = clsTokenSize(space);
    }

    /**
     * The most {@code rule} trains on {@code space}'s backbone, whatever the budget: the plan's
     * total (class token included) when every scored scalar is among the top k. Known before any
     * scores, it is what the allocator spends given an unlimited budget whenever the total grows
     * with k, which it does for {@code alpha >= 1} and {@code beta >= 1} (the defaults are 10 and 5):
     * a matrix then costs its module from the moment it gets one, never less than the entries it
     * had, and a vector its length.
     */
    public static long maxReachable(ParameterSpace space, AllocationRule rule) {
        long total = clsTokenSize(space);
        for (TensorSpec t : space.scored()) {
            long cost = t.role() == TensorRole.MATRIX ? rule.module().cost(rule.rank(), t.rows(), t.cols()) : 0;
            total += trainable(rule, t, cost, t.size());
        }
        return total;
    }

    /** The class token's size, trained by every SPT plan; Swin and ConvNeXt have none. */
    private static long clsTokenSize(ParameterSpace space) {
        return space.find("cls_token").map(TensorSpec::size).orElse(0L);
    }

    /**
     * The most this allocator's rule trains on these scores' backbone: the total of the plan
     * {@link #allocate} makes for an unlimited budget (equal to
     * {@link #maxReachable(ParameterSpace, AllocationRule)} when the total grows with k).
     */
    public long maxReachable() {
        if (maxReachable < 0) {
            buildHistogram();
            maxReachable = closest(Long.MAX_VALUE, binTotals())[1];
        }
        return maxReachable;
    }

    /**
     * The warning (or, strict, the error) for a budget above what a rule can spend.
     *
     * @param max the rule's {@link #maxReachable}
     */
    public static String unreachable(Budget budget, long max, ParameterSpace space, AllocationRule rule) {
        return String.format(Locale.ROOT, "budget %s (%,d parameters) cannot be reached on %s: the %s rule (rank %d,"
                + " alpha %s, beta %s, %s) trains at most %,d parameters, every matrix and vector it can tune included",
                budget.label(), budget.target(), space.config().name(), rule.module().id(), rule.rank(),
                number(rule.alpha()), number(rule.beta()), rule.mode().name().toLowerCase(Locale.ROOT), max);
    }

    /**
     * Refuses ({@code strict}) or warns about every budget above what {@code rule} can spend on
     * {@code space}: the check a sweep makes before any scores exist.
     *
     * @param warnings receives one line per unreachable budget when not strict
     * @throws IllegalArgumentException for the first unreachable budget when strict
     */
    public static void checkReachable(List<Budget> budgets, ParameterSpace space, AllocationRule rule, boolean strict,
            Consumer<String> warnings) {
        checkReachable(budgets, maxReachable(space, rule), space, rule, strict, warnings);
    }

    private static void checkReachable(List<Budget> budgets, long max, ParameterSpace space, AllocationRule rule,
            boolean strict, Consumer<String> warnings) {
        for (Budget b : budgets) {
            if (b.target() > max) {
                String message = unreachable(b, max, space, rule);
                if (strict) {
                    throw new IllegalArgumentException(message);
                }
                warnings.accept(message + "; its plan trains " + String.format(Locale.ROOT, "%,d", max) + " instead");
            }
        }
    }

    /** One plan per budget, in the budgets' order; an unreachable budget is planned at the maximum, with a logged warning. */
    public List<TuningPlan> allocate(List<Budget> budgets) {
        return allocate(budgets, false, LOG::warn);
    }

    /**
     * One plan per budget, in the budgets' order.
     *
     * @param strict refuse a budget above {@link #maxReachable()} instead of planning it at the maximum
     * @param warnings receives one line per budget above the maximum when not strict
     * @throws IllegalArgumentException for no budget, a budget above every scored parameter, or (strict)
     *     one above what the rule can spend
     */
    public List<TuningPlan> allocate(List<Budget> budgets, boolean strict, Consumer<String> warnings) {
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
        checkReachable(budgets, maxReachable(), space, rule, strict, warnings);
        var plans = new ArrayList<TuningPlan>();
        for (Budget budget : budgets) {
            plans.add(planAt(closest(budget.target(), binTotals)[0], budget));
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
        if (binTotals != null) {
            return binTotals;
        }
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
        binTotals = totals;
        return totals;
    }

    /**
     * The k whose total is closest to {@code target} (the smaller k on a tie), and that total. The
     * total never decreases with k, so it lies in the bin where the total first reaches the target,
     * and a sweep over that bin's sorted scalars finds it.
     */
    private long[] closest(long target, long[] binTotals) {
        if (binTotals[BINS] >= target) {
            return new long[] {0, binTotals[BINS]};
        }
        int b = BINS - 1;
        while (b > 0 && binTotals[b] < target) {
            b--;
        }
        long[] counts = countsAbove(b);
        long total = binTotals[b + 1];
        long k = above[b];
        long bestK = k;
        long bestTotal = total;
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
                bestTotal = total;
            }
            if (total > target) {
                break;
            }
        }
        return new long[] {bestK, bestTotal};
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
        return kind(rule, tensors.get(t), moduleCost[t], count);
    }

    private static Kind kind(AllocationRule rule, TensorSpec spec, long moduleCost, long count) {
        if (count == 0) {
            return Kind.FROZEN;
        }
        boolean structuredAllowed = rule.mode() != AllocationRule.Mode.UNSTRUCTURED_ONLY;
        if (spec.role() == TensorRole.MATRIX && structuredAllowed && count * rule.alpha() >= moduleCost) {
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
        return trainable(rule, tensors.get(t), moduleCost[t], count);
    }

    private static long trainable(AllocationRule rule, TensorSpec spec, long moduleCost, long count) {
        return switch (kind(rule, spec, moduleCost, count)) {
            case FROZEN -> 0;
            case SPARSE -> count;
            case STRUCTURED -> moduleCost;
            case WHOLE -> spec.size();
        };
    }

    /** A rule's coefficient as the user wrote it: 10, not 10.0. */
    private static String number(double value) {
        return value == Math.rint(value) && Math.abs(value) < 1e15 ? Long.toString((long) value) : Double.toString(value);
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
            entries.add(new TuningPlan.Entry(spec.name(), spec.stage(), spec.block(), spec.operation(), spec.role(), counts[t], decision));
        }
        var totals = new TuningPlan.Totals(unstructured, structured, whole, clsToken, space.headSize(), maxReachable());
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
