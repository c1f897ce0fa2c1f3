package org.sptspark.tuning;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.allocation.TuningPlan;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorSpec;

/**
 * What one training run trains of the backbone, tensor by tensor: the plan's decisions for SPT,
 * or a baseline's fixed rule. The head is always trained and is not part of the layout.
 *
 * @param method the method
 * @param decisions one per backbone tensor (every tensor but the head), in parameter-space order
 * @param rank the structured modules' rank (0 when there are none)
 * @param planId the plan's id for SPT, else {@code null}
 * @param budgetLabel the budget as the user wrote it for SPT and for a baseline sized to one, else {@code null}
 * @param budgetTarget the budget's parameter count for those, else 0
 */
public record TuningLayout(Method method, Map<String, TensorDecision> decisions, int rank, String planId,
        String budgetLabel, long budgetTarget) {

    private static final TensorDecision FROZEN = new TensorDecision.Frozen();

    public TuningLayout {
        decisions = Collections.unmodifiableMap(new LinkedHashMap<>(decisions));
    }

    /** Backbone parameters trained (the budget's count: everything but the head). */
    public long trainable() {
        return decisions.values().stream().mapToLong(TensorDecision::trainable).sum();
    }

    /** The decision for a backbone tensor. */
    public TensorDecision decision(String name) {
        TensorDecision d = decisions.get(name);
        if (d == null) {
            throw new IllegalArgumentException("the layout has no tensor '" + name + "'");
        }
        return d;
    }

    /**
     * SPT's layout: the plan's decisions for the scored tensors, the class token whole, the patch
     * and position embeddings frozen.
     */
    public static TuningLayout fromPlan(Method method, TuningPlan plan, String planId, ParameterSpace space) {
        if (!method.needsPlan()) {
            throw new IllegalArgumentException("method " + method.id() + " does not take a plan");
        }
        AllocationRule.Module expected = method.planModule();
        if (plan.rule().module() != expected) {
            throw new IllegalArgumentException("method " + method.id() + " needs a plan made with module "
                    + expected.id() + ", but this plan uses " + plan.rule().module().id());
        }
        if (!plan.backbone().equals(space.config().name())) {
            throw new IllegalArgumentException("the plan is for backbone " + plan.backbone() + ", not "
                    + space.config().name());
        }
        if (plan.numClasses() != space.config().numClasses()) {
            throw new IllegalArgumentException("the plan is for a task with " + plan.numClasses()
                    + " classes, but the model has " + space.config().numClasses());
        }
        var map = new LinkedHashMap<String, TensorDecision>();
        for (TensorSpec t : space.backbone()) {
            if (t.name().equals("cls_token")) {
                map.put(t.name(), new TensorDecision.Whole(t.size()));
            } else if (t.isScored()) {
                map.put(t.name(), plan.entry(t.name()).decision());
            } else {
                map.put(t.name(), FROZEN);
            }
        }
        return new TuningLayout(method, map, plan.rule().rank(), planId, plan.budget().label(), plan.budget().target());
    }

    /** A baseline's layout; {@code rank} sizes the LoRA and Adapter modules, or SNELLA's factors. */
    public static TuningLayout baseline(Method method, ParameterSpace space, int rank) {
        if (method.needsPlan()) {
            throw new IllegalArgumentException("method " + method.id() + " needs a plan (--plan)");
        }
        if (method.ranked() && rank < 1) {
            throw new IllegalArgumentException("rank must be positive, not " + rank);
        }
        var map = new LinkedHashMap<String, TensorDecision>();
        for (TensorSpec t : space.backbone()) {
            map.put(t.name(), method.rule().decide(t, rank));
        }
        return new TuningLayout(method, map, method.ranked() ? rank : 0, null, null, 0);
    }

    /**
     * A baseline sized to a budget: its modules at {@code matched}'s rank on the first
     * {@code matched.matrices()} block matrices, the other matrices frozen, the class token whole.
     */
    public static TuningLayout matched(Method method, ParameterSpace space, org.sptspark.allocation.MatchedBudget matched) {
        if (!method.takesBudget()) {
            throw new IllegalArgumentException("method " + method.id() + " takes no budget");
        }
        var chosen = new java.util.HashSet<String>();
        org.sptspark.allocation.MatchedBudget.matricesOf(space).stream().limit(matched.matrices())
                .forEach(t -> chosen.add(t.name()));
        var map = new LinkedHashMap<String, TensorDecision>();
        for (TensorSpec t : space.backbone()) {
            boolean left = t.role() == org.sptspark.model.TensorRole.MATRIX && !chosen.contains(t.name());
            map.put(t.name(), left ? FROZEN : method.rule().decide(t, matched.rank()));
        }
        return new TuningLayout(method, map, matched.rank(), null, matched.budget().label(), matched.budget().target());
    }

    /**
     * The layout an artifact's tensors describe: each backbone tensor's decision read from the
     * names present (sparse indices, LoRA or Adapter factors, a whole tensor, or nothing).
     */
    public static TuningLayout fromArtifact(Method method, int rank, ParameterSpace space,
            java.util.Map<String, ai.djl.ndarray.NDArray> tensors, String source) {
        var decisions = new LinkedHashMap<String, TensorDecision>();
        for (TensorSpec t : space.backbone()) {
            decisions.put(t.name(), ModuleTypes.recognize(t, tensors, rank, source));
        }
        return new TuningLayout(method, decisions, rank, null, null, 0);
    }
}
