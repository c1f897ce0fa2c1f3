package org.sptspark.tuning;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.Budget;
import org.sptspark.allocation.MatchedBudget;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.ParameterSpace;
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
    /**
     * LoRA of the configured rank on every block matrix, plus the class token and head; or, given a
     * budget ({@code lora@20k}), of the rank and on the matrices {@link MatchedBudget} picks for it.
     */
    LORA("lora", null, onMatrices(Lora::decision)),
    /** An Adapter of the configured rank after every block matrix, plus the class token and head; or at a budget, as LoRA. */
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

    /** Whether the baseline can be sized to a budget ({@code lora@20k}): LoRA and Adapter. */
    public boolean takesBudget() {
        return this == LORA || this == ADAPTER;
    }

    /**
     * The rank and matrices that bring this baseline's count closest to {@code budget} on {@code space}
     * ({@link MatchedBudget} has the rule).
     *
     * @throws IllegalArgumentException for a method that takes no budget, a budget below its smallest
     *     module, or (strict) one above its maximum
     */
    public MatchedBudget match(Budget budget, ParameterSpace space, boolean strict, Consumer<String> warnings) {
        AllocationRule.Module module = switch (this) {
            case LORA -> AllocationRule.Module.LORA;
            case ADAPTER -> AllocationRule.Module.ADAPTER;
            default -> throw new IllegalArgumentException(noBudget(this, budget.label()));
        };
        return MatchedBudget.choose(id, module, budget, space, strict, warnings);
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

    /**
     * A method as a sweep names it: alone ({@code lora}: SPT at the sweep's budgets, a baseline once),
     * or a baseline at a budget ({@code lora@20k}, written so in tables and summaries).
     *
     * @param budget the budget as written ({@code 20k}), or {@code null}
     */
    public record AtBudget(Method method, String budget) implements java.io.Serializable {

        public AtBudget {
            if (method == null) {
                throw new IllegalArgumentException("a method is needed");
            }
            if (budget != null && !method.takesBudget()) {
                throw new IllegalArgumentException(noBudget(method, budget));
            }
        }

        /** {@code lora@20k}, or the method's id alone. */
        public String name() {
            return budget == null ? method.id() : method.id() + "@" + budget;
        }

        /** {@code lora}, {@code lora@20k}: the budget is checked when the backbone is known ({@link Budget#parse}). */
        public static AtBudget parse(String text) {
            int at = text.indexOf('@');
            if (at < 0) {
                return new AtBudget(Method.parse(text), null);
            }
            String budget = text.substring(at + 1).trim();
            if (budget.isEmpty()) {
                throw new IllegalArgumentException("method '" + text.trim() + "' has no budget after '@': write e.g. lora@20k");
            }
            return new AtBudget(Method.parse(text.substring(0, at)), budget);
        }

        /** Every method alone. */
        public static List<AtBudget> each(List<Method> methods) {
            return methods.stream().map(m -> new AtBudget(m, null)).toList();
        }

        /** The budget as a count of {@code space}'s backbone; a malformed one is refused naming this method. */
        public Budget parseBudget(ParameterSpace space) {
            try {
                return Budget.parse(budget, space.backboneSize());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(name() + ": " + e.getMessage(), e);
            }
        }
    }

    private static String noBudget(Method method, String budget) {
        String why = switch (method) {
            case SPT_LORA, SPT_ADAPTER -> "an SPT method takes its budgets from --budgets (or --budget)";
            case SNELLA -> "SNELLA's budget is its target sparsity (--snella-sparsity) and its size its rank (--snella-rank)";
            default -> "its trainable count is fixed by what it trains";
        };
        return "method " + method.id() + " takes no budget ('" + method.id() + "@" + budget + "'): " + why
                + "; only lora and adapter do";
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
