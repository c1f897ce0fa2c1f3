package org.sptspark.allocation;

/** What the plan does with one tensor. */
public interface TensorDecision {

    /** Trainable parameters this decision adds. */
    long trainable();

    /** The decision's name in plans and tables. */
    String kind();

    /** Not trained. */
    record Frozen() implements TensorDecision {
        @Override
        public long trainable() {
            return 0;
        }

        @Override
        public String kind() {
            return "frozen";
        }
    }

    /**
     * A trainable delta at these flat (row-major) positions of the tensor, zero elsewhere.
     *
     * @param indices strictly increasing
     */
    record Sparse(int[] indices) implements TensorDecision {
        public Sparse {
            for (int i = 1; i < indices.length; i++) {
                if (indices[i] <= indices[i - 1]) {
                    throw new IllegalArgumentException("sparse indices must be strictly increasing at " + i);
                }
            }
        }

        @Override
        public long trainable() {
            return indices.length;
        }

        @Override
        public String kind() {
            return "unstructured";
        }
    }

    /** A LoRA or Adapter module of this rank on a matrix. */
    record Structured(AllocationRule.Module module, int rank, long cost) implements TensorDecision {
        @Override
        public long trainable() {
            return cost;
        }

        @Override
        public String kind() {
            return module.id();
        }
    }

    /** The whole vector is trained. */
    record Whole(long length) implements TensorDecision {
        @Override
        public long trainable() {
            return length;
        }

        @Override
        public String kind() {
            return "whole";
        }
    }

    /**
     * SNELLA's kernelized sparse delta on a matrix: low-rank factors of this rank (plus three
     * scalars) that generate a dense update, sparsified during training.
     */
    record Kernelized(int rank, long cost) implements TensorDecision {
        @Override
        public long trainable() {
            return cost;
        }

        @Override
        public String kind() {
            return "snella";
        }
    }
}
