package org.sptspark.snella;

import java.util.Arrays;

/**
 * SNELLA's competition across matrices (the paper's bi-level competition, upper level): a global
 * number of non-zero delta entries that shrinks on a cubic schedule, shared among the matrices in
 * proportion to their importance scores. Pure arithmetic, per epoch as the reference steps it.
 *
 * <p>Schedule over epochs {@code t = 0..T-1} with {@code E = T - 1 - finalWarmup}:
 * {@code V(t) = V_init} while {@code t <= initWarmup};
 * {@code V(t) = floor(V_target + (V_init - V_target)(1 - (t - initWarmup)/(E - initWarmup))^3)}
 * for {@code initWarmup < t < E}; {@code V(t) = V_target} from {@code E} on. The matrices are
 * re-allocated at every epoch {@code t > initWarmup} that is a multiple of the mask interval, and
 * at every epoch from {@code E} on, so that training always ends exactly at the target. (The
 * reference's decrease ends one epoch later, at {@code T - finalWarmup}; with its 100 epochs and
 * no final warm-up its last epoch sits {@code (1/100)^3} of the way from the target, ours on it.)
 *
 * <p>{@code V_init} keeps {@code round((1 - initSparsity) n)} entries of each matrix of
 * {@code n} entries; {@code V_target = round((1 - targetSparsity) sum n)}.
 */
public final class SparsityAllocator {

    private final long[] sizes;
    private final long[] initial;
    private final long initVolume;
    private final long targetVolume;
    private final int epochs;
    private final int initWarmup;
    private final int finalWarmup;
    private final int interval;

    /**
     * @param sizes entries of each competing matrix
     * @param initSparsity the fraction of each matrix's entries zeroed before the first re-allocation
     * @param targetSparsity the fraction of all entries zeroed at the end
     */
    public SparsityAllocator(long[] sizes, double initSparsity, double targetSparsity, int epochs, int initWarmup,
            int finalWarmup, int interval) {
        if (sizes.length == 0) {
            throw new IllegalArgumentException("no matrices compete");
        }
        if (!(initSparsity >= 0 && initSparsity < 1) || !(targetSparsity >= 0 && targetSparsity < 1)) {
            throw new IllegalArgumentException("sparsity ratios must be in [0, 1), not " + initSparsity + " and " + targetSparsity);
        }
        if (initWarmup < 0 || finalWarmup < 0 || interval < 1) {
            throw new IllegalArgumentException("warm-ups must be non-negative and the mask interval positive");
        }
        if (epochs - 1 - finalWarmup <= initWarmup) {
            throw new IllegalArgumentException("SNELLA's schedule needs more than initWarmup + finalWarmup + 1 = "
                    + (initWarmup + finalWarmup + 1) + " epochs, not " + epochs);
        }
        this.sizes = sizes.clone();
        this.initial = new long[sizes.length];
        long init = 0;
        long total = 0;
        for (int m = 0; m < sizes.length; m++) {
            initial[m] = Math.round((1 - initSparsity) * sizes[m]);
            init += initial[m];
            total += sizes[m];
        }
        this.initVolume = init;
        this.targetVolume = Math.round((1 - targetSparsity) * total);
        this.epochs = epochs;
        this.initWarmup = initWarmup;
        this.finalWarmup = finalWarmup;
        this.interval = interval;
    }

    public long initVolume() {
        return initVolume;
    }

    public long targetVolume() {
        return targetVolume;
    }

    /** Entries of every matrix. */
    public long totalEntries() {
        return Arrays.stream(sizes).sum();
    }

    /** Each matrix's entries before the first re-allocation. */
    public long[] initial() {
        return initial.clone();
    }

    /** The global non-zero volume of an epoch. */
    public long volume(int epoch) {
        int end = epochs - 1 - finalWarmup;
        if (epoch <= initWarmup) {
            return initVolume;
        }
        if (epoch >= end) {
            return targetVolume;
        }
        double remaining = 1 - (double) (epoch - initWarmup) / (end - initWarmup);
        return (long) Math.floor(targetVolume + (initVolume - targetVolume) * remaining * remaining * remaining);
    }

    /** Whether the matrices' shares are re-allocated at the start of this epoch. */
    public boolean reallocates(int epoch) {
        return epoch > initWarmup && (epoch % interval == 0 || epoch >= epochs - 1 - finalWarmup);
    }

    /**
     * Shares {@code volume} entries in proportion to {@code scores}, no matrix above its size: the
     * shares of capped matrices' overflow go to the others in proportion to their scores again
     * (water-filling), then the real shares are rounded down and the remaining entries given to
     * the largest fractional parts, so that the counts sum to {@code volume} exactly. All-zero or
     * non-finite scores share equally.
     */
    public long[] allocate(long volume, double[] scores) {
        int n = sizes.length;
        if (scores.length != n) {
            throw new IllegalArgumentException(n + " matrices but " + scores.length + " scores");
        }
        if (volume < 0 || volume > totalEntries()) {
            throw new IllegalArgumentException("volume " + volume + " is outside 0.." + totalEntries());
        }
        double[] s = new double[n];
        boolean usable = true;
        for (int m = 0; m < n; m++) {
            usable &= Double.isFinite(scores[m]) && scores[m] >= 0;
            s[m] = scores[m];
        }
        if (!usable || Arrays.stream(s).sum() <= 0) {
            Arrays.fill(s, 1.0);
        }
        double[] share = new double[n];
        boolean[] full = new boolean[n];
        double rest = volume;
        while (rest > 0) {
            double weight = 0;
            int active = 0;
            for (int m = 0; m < n; m++) {
                if (!full[m]) {
                    weight += s[m];
                    active++;
                }
            }
            if (active == 0) {
                break;
            }
            boolean equal = weight <= 0;
            boolean capped = false;
            for (int m = 0; m < n; m++) {
                if (!full[m] && share[m] + rest * (equal ? 1.0 / active : s[m] / weight) >= sizes[m]) {
                    rest -= sizes[m] - share[m];
                    share[m] = sizes[m];
                    full[m] = true;
                    capped = true;
                }
            }
            if (!capped) {
                for (int m = 0; m < n; m++) {
                    if (!full[m]) {
                        share[m] += rest * (equal ? 1.0 / active : s[m] / weight);
                    }
                }
                rest = 0;
            }
        }
        long[] counts = new long[n];
        long given = 0;
        Integer[] order = new Integer[n];
        for (int m = 0; m < n; m++) {
            counts[m] = Math.min(sizes[m], (long) Math.floor(share[m]));
            given += counts[m];
            order[m] = m;
        }
        Arrays.sort(order, (a, b) -> Double.compare(share[b] - Math.floor(share[b]), share[a] - Math.floor(share[a])));
        for (int i = 0; given < volume; i = (i + 1) % n) {
            int m = order[i];
            if (counts[m] < sizes[m]) {
                counts[m]++;
                given++;
            }
        }
        return counts;
    }
}
