package org.sptspark.data;

import java.util.SplittableRandom;

/** Seeded Fisher-Yates permutations, the same on every JVM. */
final class Permutations {

    private Permutations() {}

    static int[] of(int n, long seed) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        var random = new SplittableRandom(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
