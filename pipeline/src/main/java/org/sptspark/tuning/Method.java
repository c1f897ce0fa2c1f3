package org.sptspark.tuning;

import java.util.Arrays;
import java.util.Locale;
import java.util.function.BiFunction;
import java.util.stream.Collectors;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.TensorRole;
import org.sptspark.model.TensorSpec;
import org.sptspark.modules.Adapter;
import org.sptspark.modules.Lora;
import org.sptspark.snella.Kernel;

/**
 * A tuning method: SPT under a plan, or one of the baselines the comparison tables need. A
 * baseline is its rule for each backbone tensor; the decisions' {@link ModuleTypes} do the rest.
 */
public enum Method {
    /** Head only. */
    LINEAR("linear", null, (t, rank) -> frozen()),
    /** Every backbone tensor, the head and the class token. */
    FULL("full", null, (t, rank) -> new TensorDecision.Whole(t.size())),
    /** Every bias (BitFit), and the head. */
    BIAS("bias", null, (t, rank) -> t.name().endsWith(".bias") ? new TensorDecision.Whole(t.size()) : frozen()),
    /** LoRA of the configured rank on every block matrix, plus the class token and head. */
    LORA("lora", null, onMatrices(Lora::decision)),
    /** An Adapter of the configured rank after every block matrix, plus the class token and head. */
    ADAPTER("adapter", null, onMatrices(Adapter::decision)),
    /** SPT with LoRA as the structured module, under a plan. */
    SPT_LORA("spt-lora", AllocationRule.Module.LORA, null),
    /** SPT with Adapter as the structured module, under a plan. */
    SPT_ADAPTER("spt-adapter", AllocationRule.Module.ADAPTER, null),
    /**
     * SNELLA: a kernelized sparse delta on every block matrix, the matrices competing for a
     * shrinking non-zero volume; plus the class token and head.
     */
    SNELLA("snella", null, onMatrices(Kernel::decision));

    /** A baseline's decision for one backbone tensor, given the configured rank. */
    @FunctionalInterface
    public interface Rule {
        TensorDecision decide(TensorSpec tensor, int rank);
    }

    private final String id;
    private final AllocationRule.Module planModule;
    private final Rule rule;
    private final boolean ranked;

    Method(String id, AllocationRule.Module planModule, Rule rule) {
        this.id = id;
        this.planModule = planModule;
        this.rule = rule;
        this.ranked = rule instanceof RankedRule;
    }

    /** The name in CLIs, folders and tables. */
    public String id() {
        return id;
    }

    /** Whether the method trains what an SPT plan says. */
    public boolean needsPlan() {
        return planModule != null;
    }

    /** The structured module the method's plans must use; {@code null} for baselines. */
    public AllocationRule.Module planModule() {
        return planModule;
    }

    /** A baseline's rule; {@code null} for methods under a plan. */
    public Rule rule() {
        return rule;
    }

    /** Whether the baseline's modules take a rank (which must then be positive). */
    public boolean ranked() {
        return ranked;
    }

    /** The method with this id, or an error listing the choices. */
    public static Method parse(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        for (Method m : values()) {
            if (m.id.equals(t)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown method '" + text + "': choose one of "
                + Arrays.stream(values()).map(Method::id).collect(Collectors.joining(", ")));
    }

    private static TensorDecision frozen() {
        return new TensorDecision.Frozen();
    }

    /** A module of the configured rank on every block matrix, the class token whole, the rest frozen. */
    private static Rule onMatrices(BiFunction<TensorSpec, Integer, TensorDecision> module) {
        return (RankedRule) (t, rank) -> {
            if (t.name().equals("cls_token")) {
                return new TensorDecision.Whole(t.size());
            }
            return t.role() == TensorRole.MATRIX ? module.apply(t, rank) : frozen();
        };
    }

    /** A rule whose modules take the configured rank. */
    private interface RankedRule extends Rule {}
}
