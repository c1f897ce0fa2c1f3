package org.sptspark.allocation;

import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorRole;
import org.sptspark.model.TensorSpec;

/**
 * A LoRA or Adapter baseline sized to a budget, so that it can be compared with SPT at the same
 * count ({@code lora@20k}). The count is SPT's: the modules plus the class token (which every
 * baseline trains), the head excluded.
 *
 * <p>The rule, in two steps:
 * <ol>
 *   <li>One rank on every block matrix, the rank whose count comes closest to the budget (a tie
 *       goes to the smaller rank), from 1 up to the smallest side of any block matrix (the width);
 *       a budget above that maximum is trained at it, with a warning, or refused when strict.</li>
 *   <li>A budget below rank 1 on every matrix: rank 1 on the first {@code k} block matrices in
 *       parameter-space order ({@code blocks.0.attn.q}, {@code k}, {@code v}, {@code proj},
 *       {@code blocks.0.mlp.fc1}, {@code fc2}, then block 1, ...), the {@code k} whose count comes
 *       closest (a tie goes to fewer matrices). A budget below rank 1 on the first matrix alone is
 *       refused.</li>
 * </ol>
 *
 * @param method the baseline's name, for messages ({@code lora})
 * @param module the module and its cost per matrix
 * @param budget the budget asked for
 * @param rank the modules' rank
 * @param matrices how many block matrices get a module: the first ones in parameter-space order
 * @param ofMatrices the backbone's block matrices
 * @param modules the modules' trainable parameters
 * @param clsToken the class token's parameters, trained whole
 * @param maximum the most the rule can train: the largest rank on every matrix, with the class token
 */
public record MatchedBudget(String method, AllocationRule.Module module, Budget budget, int rank, int matrices,
        int ofMatrices, long modules, long clsToken, long maximum) {

    /** Backbone parameters trained: the budget's count (modules and class token). */
    public long trainable() {
        return modules + clsToken;
    }

    /** Whether every block matrix gets a module. */
    public boolean allMatrices() {
        return matrices == ofMatrices;
    }

    /**
     * The choice in one line: {@code lora@20k: rank 2 on all 36 matrices, 20,832 trainable (20,736 in
     * modules + 96 class token)}.
     */
    public String describe() {
        String where = allMatrices() ? "all " + ofMatrices + " matrices"
                : "the first " + matrices + " of " + ofMatrices + " matrices (parameter-space order)";
        return String.format(Locale.ROOT, "%s@%s: rank %d on %s, %,d trainable (%,d in modules + %,d class token)",
                method, budget.label(), rank, where, trainable(), modules, clsToken);
    }

    /** The block matrices a budget can give modules, in the order the rule takes them. */
    public static List<TensorSpec> matricesOf(ParameterSpace space) {
        return space.backbone().stream().filter(t -> t.role() == TensorRole.MATRIX).toList();
    }

    /**
     * The rank and matrices of {@code module} on {@code space} whose count comes closest to {@code budget}.
     *
     * @param method the baseline's name, for the messages
     * @param strict refuse a budget above the maximum instead of training at it
     * @param warnings receives one line for a budget above the maximum when not strict
     * @throws IllegalArgumentException for a budget below rank 1 on the first matrix, or (strict) above the maximum
     */
    public static MatchedBudget choose(String method, AllocationRule.Module module, Budget budget, ParameterSpace space,
            boolean strict, Consumer<String> warnings) {
        List<TensorSpec> matrices = matricesOf(space);
        if (matrices.isEmpty()) {
            throw new IllegalArgumentException(space.config().name() + " has no block matrices for " + method);
        }
        long cls = space.find("cls_token").map(org.sptspark.model.TensorSpec::size).orElse(0L);
        int n = matrices.size();
        int maxRank = matrices.stream().mapToInt(t -> Math.min(t.rows(), t.cols())).min().orElseThrow();
        long max = cls + onFirst(module, maxRank, matrices, n);
        long target = budget.target();
        String name = method + "@" + budget.label();
        if (target > max) {
            String message = String.format(Locale.ROOT, "%s: budget %,d is above what %s can train on %s: rank %d"
                    + " (the smallest matrix side) on all %d matrices trains %,d%s", name, target, method,
                    space.config().name(), maxRank, n, max, cls > 0 ? " with the class token" : "");
            if (strict) {
                throw new IllegalArgumentException(message);
            }
            warnings.accept(message + "; trained at that maximum instead");
            return new MatchedBudget(method, module, budget, maxRank, n, n, max - cls, cls, max);
        }
        if (target >= cls + onFirst(module, 1, matrices, n)) {
            int best = 1;
            for (int r = 2; r <= maxRank; r++) {
                // counts grow with the rank: past the budget, no higher rank comes closer
                if (Math.abs(cls + onFirst(module, r, matrices, n) - target) < Math.abs(cls + onFirst(module, best, matrices, n) - target)) {
                    best = r;
                } else if (cls + onFirst(module, r, matrices, n) > target) {
                    break;
                }
            }
            return new MatchedBudget(method, module, budget, best, n, n, onFirst(module, best, matrices, n), cls, max);
        }
        long smallest = cls + onFirst(module, 1, matrices, 1);
        if (target < smallest) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "%s: budget %,d is below the smallest %s:"
                    + " rank 1 on %s alone trains %,d%s", name, target, method, matrices.get(0).name(),
                    smallest, cls > 0 ? " with the class token" : ""));
        }
        int best = 1;
        for (int k = 2; k <= n; k++) {
            long count = cls + onFirst(module, 1, matrices, k);
            if (Math.abs(count - target) < Math.abs(cls + onFirst(module, 1, matrices, best) - target)) {
                best = k;
            } else if (count > target) {
                break;
            }
        }
        return new MatchedBudget(method, module, budget, 1, best, n, onFirst(module, 1, matrices, best), cls, max);
    }

    /** The modules' cost at {@code rank} on the first {@code k} matrices. */
    private static long onFirst(AllocationRule.Module module, int rank, List<TensorSpec> matrices, int k) {
        long sum = 0;
        for (int i = 0; i < k; i++) {
            sum += module.cost(rank, matrices.get(i).rows(), matrices.get(i).cols());
        }
        return sum;
    }
}
