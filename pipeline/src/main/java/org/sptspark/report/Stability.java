package org.sptspark.report;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.allocation.TuningPlan;
import org.sptspark.model.TensorSpec;
import org.sptspark.sensitivity.SensitivityScores;

/**
 * How much SPT's sensitivity ranking and the plan made from it depend on the number of batches
 * scored and on the seed (the fresh head and the drop-path masks; the batches themselves are the
 * first ones of {@code train800} in file order whatever the seed). Pure: score sets and plans in,
 * comparisons out.
 *
 * <p>Per pair of score sets A and B:
 * <ul>
 *   <li><b>top-k overlap</b> {@code |A_k ∩ B_k| / k}, A_k the k best-scored scalars of A ranked as the
 *       allocator ranks them (score descending, the earlier scalar first among equal scores);
 *   <li><b>Spearman</b>'s rank correlation over every scored scalar (tied scores share their mean rank);
 *   <li><b>structured Jaccard</b> {@code |S_A ∩ S_B| / |S_A ∪ S_B|} of the matrices each plan gives a
 *       LoRA/Adapter module (1 when neither gives any);
 *   <li><b>decision agreement</b>: the share of scored tensors whose decision (frozen, unstructured,
 *       lora/adapter, whole) is the same in both plans.
 * </ul>
 */
public final class Stability {

    /** Which batches and seed a score set came from. */
    public record Setting(int batches, long seed) {
        public String label() {
            return batches + " batches, seed " + seed;
        }
    }

    /** A score set and the plan made from it. */
    public record Scored(Setting setting, SensitivityScores scores, TuningPlan plan) {}

    /**
     * One pair's agreement.
     *
     * @param varies {@code batches} (same seed) or {@code seed} (same batch count)
     * @param k the size of the top-k sets compared
     * @param structuredA and {@code structuredB}: how many matrices each plan gives a module
     */
    public record Comparison(int batchesA, long seedA, int batchesB, long seedB, String varies, long k, double topKOverlap,
            double spearman, int structuredA, int structuredB, double structuredJaccard, double decisionAgreement) {}

    private Stability() {}

    /**
     * Compares every pair of score sets that share their seed (varying the batches) or their batch
     * count (varying the seed), the smaller batch count and seed first.
     *
     * @param k the top-k size; at least 1, at most the scored scalars
     */
    public static List<Comparison> compare(List<Scored> sets, long k) {
        var sorted = new ArrayList<>(sets);
        sorted.sort((a, b) -> a.setting().seed() != b.setting().seed()
                ? Long.compare(a.setting().seed(), b.setting().seed())
                : Integer.compare(a.setting().batches(), b.setting().batches()));
        var top = new ArrayList<BitSet>();
        var ranks = new ArrayList<int[]>();
        for (Scored s : sorted) {
            top.add(topK(s.scores(), k));
            ranks.add(doubledRanks(s.scores()));
        }
        var out = new ArrayList<Comparison>();
        for (String varies : List.of("batches", "seed")) {
            for (int i = 0; i < sorted.size(); i++) {
                for (int j = 0; j < sorted.size(); j++) {
                    Setting a = sorted.get(i).setting();
                    Setting b = sorted.get(j).setting();
                    boolean pair = varies.equals("batches")
                            ? a.seed() == b.seed() && a.batches() < b.batches()
                            : a.batches() == b.batches() && a.seed() < b.seed();
                    if (!pair) {
                        continue;
                    }
                    TuningPlan pa = sorted.get(i).plan();
                    TuningPlan pb = sorted.get(j).plan();
                    Set<String> sa = structured(pa);
                    Set<String> sb = structured(pb);
                    out.add(new Comparison(a.batches(), a.seed(), b.batches(), b.seed(), varies, k,
                            overlap(top.get(i), top.get(j), k), spearman(ranks.get(i), ranks.get(j)), sa.size(), sb.size(),
                            jaccard(sa, sb), decisionAgreement(pa, pb)));
                }
            }
        }
        return out;
    }

    /**
     * The k best-scored scalars, as bits of their position in the scored parameter space (tensors in
     * its order, each row-major): the allocator's ranking, score descending, the earlier position
     * first among equal scores. Two 16-bit histogram passes find the k-th key; no sort.
     */
    public static BitSet topK(SensitivityScores scores, long k) {
        long size = scores.space().scoredSize();
        if (k < 1 || k > size) {
            throw new IllegalArgumentException("top-k size " + k + " outside 1.." + size + " (the scored parameters of "
                    + scores.space().config().name() + ")");
        }
        long[] high = new long[1 << 16];
        for (TensorSpec t : scores.space().scored()) {
            for (float f : scores.get(t.name())) {
                high[key(f) >>> 16]++;
            }
        }
        int hb = (1 << 16) - 1;
        long above = 0;
        while (above + high[hb] < k) {
            above += high[hb--];
        }
        long[] low = new long[1 << 16];
        for (TensorSpec t : scores.space().scored()) {
            for (float f : scores.get(t.name())) {
                int key = key(f);
                if (key >>> 16 == hb) {
                    low[key & 0xffff]++;
                }
            }
        }
        int lb = (1 << 16) - 1;
        while (above + low[lb] < k) {
            above += low[lb--];
        }
        long cut = ((long) hb << 16 | lb) & 0xffffffffL;
        long tiesTaken = k - above; // scalars with the cut's key, taken in position order
        var bits = new BitSet(Math.toIntExact(size));
        int position = 0;
        for (TensorSpec t : scores.space().scored()) {
            for (float f : scores.get(t.name())) {
                long key = key(f) & 0xffffffffL;
                if (key > cut || (key == cut && tiesTaken-- > 0)) {
                    bits.set(position);
                }
                position++;
            }
        }
        return bits;
    }

    /** {@code |a ∩ b| / k}. */
    public static double overlap(BitSet a, BitSet b, long k) {
        BitSet both = (BitSet) a.clone();
        both.and(b);
        return both.cardinality() / (double) k;
    }

    /**
     * Spearman's rho of two score sets of one space: Pearson's correlation of their ranks, tied
     * scores given their mean rank; 1 (or NaN for a constant set) when the rankings agree entirely.
     */
    public static double spearman(SensitivityScores a, SensitivityScores b) {
        return spearman(doubledRanks(a), doubledRanks(b));
    }

    private static double spearman(int[] a, int[] b) {
        double n = a.length;
        double meanA = 0;
        double meanB = 0;
        for (int i = 0; i < a.length; i++) {
            meanA += a[i];
            meanB += b[i];
        }
        meanA /= n;
        meanB /= n;
        double cov = 0;
        double varA = 0;
        double varB = 0;
        for (int i = 0; i < a.length; i++) {
            double da = a[i] - meanA;
            double db = b[i] - meanB;
            cov += da * db;
            varA += da * da;
            varB += db * db;
        }
        return cov / Math.sqrt(varA * varB);
    }

    /** Spearman's rho of two equally long arrays (see {@link #spearman(SensitivityScores, SensitivityScores)}). */
    static double spearman(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("Spearman's rho needs equally long arrays, got " + a.length + " and " + b.length);
        }
        return spearman(doubledRanks(a), doubledRanks(b));
    }

    private static int[] doubledRanks(SensitivityScores scores) {
        long size = scores.space().scoredSize();
        if (size >= 1L << 30) {
            throw new IllegalArgumentException("ranks of more than 2^30 scalars (" + size + ") are not supported");
        }
        float[] flat = new float[(int) size];
        int position = 0;
        for (TensorSpec t : scores.space().scored()) {
            float[] values = scores.get(t.name());
            System.arraycopy(values, 0, flat, position, values.length);
            position += values.length;
        }
        return doubledRanks(flat);
    }

    /**
     * Twice each value's rank (1 = the smallest), tied values sharing their mean rank: twice it is a
     * whole number, below 2^31 for fewer than 2^30 values.
     */
    static int[] doubledRanks(float[] values) {
        if (values.length >= 1 << 30) {
            throw new IllegalArgumentException("ranks of more than 2^30 values (" + values.length + ") are not supported");
        }
        long[] packed = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            packed[i] = (key(values[i]) & 0xffffffffL) << 32 | i;
        }
        Arrays.sort(packed);
        int[] ranks = new int[packed.length];
        for (int i = 0; i < packed.length;) {
            int j = i;
            while (j + 1 < packed.length && packed[j + 1] >>> 32 == packed[i] >>> 32) {
                j++;
            }
            int doubled = i + j + 2; // ranks i+1 .. j+1: their mean is (i + j + 2) / 2
            for (int m = i; m <= j; m++) {
                ranks[(int) packed[m]] = doubled;
            }
            i = j + 1;
        }
        return ranks;
    }

    /** The matrices a plan gives a LoRA or Adapter module. */
    public static Set<String> structured(TuningPlan plan) {
        var out = new TreeSet<String>();
        for (TuningPlan.Entry e : plan.entries()) {
            if (e.decision() instanceof TensorDecision.Structured) {
                out.add(e.name());
            }
        }
        return out;
    }

    /** {@code |a ∩ b| / |a ∪ b|}, 1 for two empty sets. */
    public static double jaccard(Set<String> a, Set<String> b) {
        var union = new TreeSet<>(a);
        union.addAll(b);
        if (union.isEmpty()) {
            return 1;
        }
        long both = a.stream().filter(b::contains).count();
        return both / (double) union.size();
    }

    /** The share of the plans' tensors that get the same decision kind in both. */
    public static double decisionAgreement(TuningPlan a, TuningPlan b) {
        if (a.entries().size() != b.entries().size()) {
            throw new IllegalArgumentException("plans of " + a.entries().size() + " and " + b.entries().size()
                    + " tensors cannot be compared: they are not of one backbone");
        }
        int same = 0;
        for (int i = 0; i < a.entries().size(); i++) {
            TuningPlan.Entry ea = a.entries().get(i);
            TuningPlan.Entry eb = b.entries().get(i);
            if (!ea.name().equals(eb.name())) {
                throw new IllegalArgumentException("plans differ in their tensor " + i + ": '" + ea.name() + "' and '"
                        + eb.name() + "'");
            }
            if (ea.decision().kind().equals(eb.decision().kind())) {
                same++;
            }
        }
        return same / (double) a.entries().size();
    }

    /** An int whose unsigned order is the float's numeric order (-0.0 taken as 0.0), as the allocator orders scores. */
    private static int key(float f) {
        int bits = Float.floatToRawIntBits(f == 0f ? 0f : f);
        return bits < 0 ? ~bits : bits | 0x80000000;
    }
}
