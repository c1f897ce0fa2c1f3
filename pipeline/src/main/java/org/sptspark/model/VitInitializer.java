package org.sptspark.model;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * timm's ViT initialisation, drawn in Java from a seed so that every executor, engine and device
 * produces the same weights: linear weights (head included) and the position embedding
 * truncated-normal with std 0.02 (cut at two standard deviations), linear biases zero, the class
 * token normal with std 1e-6, LayerNorm weight one and bias zero, the patch convolution PyTorch's
 * default uniform(+-1/sqrt(fan_in)). Each tensor draws from its own stream, keyed by the seed and
 * its name, so re-initialising one tensor (a fresh head) does not depend on the others.
 */
public final class VitInitializer {

    /** Standard deviation of timm's trunc-normal initialisation. */
    public static final double STD = 0.02;

    private VitInitializer() {}

    /** Overwrites every parameter of {@code model}. */
    public static void initialize(VisionTransformer model, long seed) {
        for (TensorSpec t : model.space().tensors()) {
            Tensors.assign(model.parameter(t.name()).getArray(), sample(model.config(), t, seed));
        }
    }

    /** Overwrites the head (weight trunc-normal 0.02, bias zero), as SPT does before scoring. */
    public static void reinitializeHead(Backbone model, long seed) {
        for (TensorSpec t : model.space().tensors()) {
            if (ParameterSpace.isHead(t.name())) {
                Tensors.assign(model.parameter(t.name()).getArray(), sample(model.config(), t, seed));
            }
        }
    }

    /**
     * The initial values of one tensor, row-major. A ViT's every tensor; of the other families'
     * models, the head's (their own classes initialise the rest).
     */
    public static float[] sample(BackboneConfig config, TensorSpec t, long seed) {
        var random = new SplittableRandom(seed ^ fnv1a(t.name()));
        float[] values = new float[Math.toIntExact(t.size())];
        String name = t.name();
        if (name.equals("cls_token")) {
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) (1e-6 * gaussian(random));
            }
        } else if (name.startsWith("patch_embed.") && config instanceof VitConfig c) {
            // weight and bias share the convolution's fan-in, channels * patch * patch
            double bound = 1.0 / Math.sqrt((double) c.inChannels() * c.patchSize() * c.patchSize());
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) random.nextDouble(-bound, bound);
            }
        } else if (name.equals("pos_embed") || (t.shape().dimension() == 2 && name.endsWith(".weight"))) {
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) truncatedGaussian(random, STD);
            }
        } else if (t.role() == TensorRole.VECTOR && isNormWeight(name)) {
            Arrays.fill(values, 1f);
        }
        // everything else (biases, LayerNorm biases) stays zero
        return values;
    }

    private static boolean isNormWeight(String name) {
        return name.endsWith(".weight") && name.contains("norm");
    }

    /** A normal sample with standard deviation {@code std}, redrawn until within two std. */
    static double truncatedGaussian(SplittableRandom random, double std) {
        while (true) {
            double g = gaussian(random);
            if (Math.abs(g) <= 2.0) {
                return g * std;
            }
        }
    }

    static double gaussian(SplittableRandom random) {
        // Box-Muller: SplittableRandom has no nextGaussian on Java 17
        double u1 = 1.0 - random.nextDouble();
        double u2 = random.nextDouble();
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
    }

    static long fnv1a(String s) {
        long h = 0xcbf29ce484222325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }
}
