package org.sptspark.modules;

import java.util.SplittableRandom;

/** Seeded initial values of module parameters, each drawn from the seed and the tensor's name. */
public final class Initializers {

    private Initializers() {}

    /**
     * PyTorch's {@code kaiming_uniform_(w, a=sqrt(5))} for a {@code (rows, fanIn)} weight, which is
     * also {@code nn.Linear}'s default bias bound: U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
     */
    public static float[] kaimingUniform(int rows, int fanIn, long seed, String name) {
        double bound = 1.0 / Math.sqrt(fanIn);
        var random = new SplittableRandom(seed ^ fnv1a(name));
        float[] out = new float[rows * fanIn];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return out;
    }

    private static long fnv1a(String s) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < s.length(); i++) {
            h ^= s.charAt(i);
            h *= 0x100000001b3L;
        }
        return h;
    }
}
