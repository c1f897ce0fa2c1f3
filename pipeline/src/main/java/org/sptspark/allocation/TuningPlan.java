package org.sptspark.allocation;

import java.util.List;
import org.sptspark.model.TensorRole;

/**
 * Which backbone parameters one task trains, under one budget: SPT's stage-2 output, consumed by
 * the trainer. The head and the class token are always trained; the budget counts the class
 * token but not the head, as the reference does.
 *
 * @param backbone the backbone preset the plan is for
 * @param numClasses the task's head outputs
 * @param scoresId the sensitivity scores the plan was made from
 * @param rule the allocation rule
 * @param budget the target
 * @param k the number of top-ranked scalars whose distribution gave this plan
 * @param entries one per scored tensor, in parameter-space order
 * @param totals the trainable parameters by kind
 */
public record TuningPlan(String backbone, int numClasses, String scoresId, AllocationRule rule, Budget budget, long k,
        List<Entry> entries, Totals totals) {

    public TuningPlan {
        entries = List.copyOf(entries);
    }

    /**
     * One tensor's decision.
     *
     * @param stage and {@code block}: as in {@link org.sptspark.model.TensorSpec}
     * @param countInTopK how many of its scalars are among the top k
     */
    public record Entry(String name, int stage, int block, String operation, TensorRole role, long countInTopK,
            TensorDecision decision) {}

    /** Whether the plan's backbone has more than one stage (Swin, ConvNeXt), whose plans record them. */
    public boolean hierarchical() {
        return entries.stream().anyMatch(e -> e.stage() > 0);
    }

    /**
     * Trainable parameters by kind.
     *
     * @param unstructured sparse entries
     * @param structured LoRA/Adapter parameters
     * @param whole whole-vector parameters
     * @param clsToken the class token, always trained
     * @param head the classification head, always trained, outside the budget
     * @param maxReachable the most the plan's rule trains on its backbone, whatever the budget (what
     *     the allocator spends given an unlimited one); null in plans written before it was recorded
     */
    public record Totals(long unstructured, long structured, long whole, long clsToken, long head, Long maxReachable) {

        /** Totals without the maximum, as plans before spt-plan version 2 hold them. */
        public Totals(long unstructured, long structured, long whole, long clsToken, long head) {
            this(unstructured, structured, whole, clsToken, head, null);
        }

        /** What the budget counts: everything but the head. */
        public long achieved() {
            return unstructured + structured + whole + clsToken;
        }
    }

    public Entry entry(String name) {
        return entries.stream().filter(e -> e.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("plan has no tensor '" + name + "'"));
    }
}
