package org.sptspark.allocation;

import java.util.Locale;

/**
 * SPT's allocation rules (DESIGN.md, "Allocation").
 *
 * @param module the structured module a matrix gets when enough of its entries are sensitive
 * @param rank the module's rank r
 * @param alpha a matrix gets a module when its count in the top-k is at least cost/alpha
 * @param beta a vector is tuned whole when its count in the top-k is at least length/beta
 * @param mode which kinds of tuning are allowed
 * @param structuredVectors whether vectors may be tuned whole (otherwise only entry-wise)
 */
public record AllocationRule(Module module, int rank, double alpha, double beta, Mode mode, boolean structuredVectors) {

    /** Structured module kinds and their trainable-parameter cost for a matrix {@code (out, in)}. */
    public enum Module {
        /** Parallel low-rank branch B(A x): r*(in + out). */
        LORA,
        /** Sequential bottleneck up(GELU(down(y))) with biases: 2*r*out + r + out. */
        ADAPTER;

        public long cost(int rank, int out, int in) {
            return switch (this) {
                case LORA -> (long) rank * (in + out);
                case ADAPTER -> 2L * rank * out + rank + out;
            };
        }

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Which decisions the allocator may make. */
    public enum Mode {
        /** SPT: structured modules and whole vectors where sensitive entries cluster, sparse entries elsewhere. */
        MIXED,
        /** Only modules and whole vectors; entries outside them stay frozen. */
        STRUCTURED_ONLY,
        /** Only sparse entries: the plain global top-k. */
        UNSTRUCTURED_ONLY
    }

    public AllocationRule {
        if (module == null || mode == null) {
            throw new IllegalArgumentException("allocation rule needs a module and a mode");
        }
        if (rank < 1) {
            throw new IllegalArgumentException("allocation rank must be at least 1, got " + rank);
        }
        if (!(alpha > 0) || !(beta > 0)) {
            throw new IllegalArgumentException("alpha and beta must be positive, got " + alpha + " and " + beta);
        }
    }

    /** The reference defaults: rank 8, alpha 10, beta 5, mixed, whole vectors on. */
    public static AllocationRule defaults(Module module) {
        return defaults(module, 8);
    }

    /** The reference defaults at another rank: what sweeps and the training benchmark plan with. */
    public static AllocationRule defaults(Module module, int rank) {
        return new AllocationRule(module, rank, 10, 5, Mode.MIXED, true);
    }
}
