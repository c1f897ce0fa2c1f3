package org.sptspark.bench;

import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SplittableRandom;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.Budget;
import org.sptspark.allocation.BudgetAllocator;
import org.sptspark.allocation.TuningPlan;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.VitConfig;
import org.sptspark.sensitivity.SensitivityScores;

/**
 * Times the allocator on random scores of a preset's size: squared Gaussians with a per-tensor
 * scale spread over three orders of magnitude, the heavy tail real sensitivity has.
 */
public final class AllocationBenchmark {

    /**
     * @param scoredParameters scores ranked
     * @param seconds wall time of one {@link BudgetAllocator#allocate} call for all budgets
     * @param allocatedBytes bytes the allocating thread allocated during the call (an upper bound
     *     on the extra memory it needs)
     * @param scoreBytes bytes of the score arrays themselves
     */
    public record Result(BackboneConfig config, long scoredParameters, List<TuningPlan> plans, double seconds,
            long allocatedBytes, long scoreBytes) {}

    private AllocationBenchmark() {}

    public static SensitivityScores randomScores(BackboneConfig config, long seed) {
        var space = config.space();
        var random = new SplittableRandom(seed);
        var map = new LinkedHashMap<String, float[]>();
        for (TensorSpec t : space.scored()) {
            float[] v = new float[Math.toIntExact(t.size())];
            double scale = Math.pow(10, random.nextDouble(-3, 0));
            for (int i = 0; i < v.length; i++) {
                double g = random.nextGaussian();
                v[i] = (float) (g * g * scale);
            }
            map.put(t.name(), v);
        }
        return new SensitivityScores(space, map, "random-" + seed);
    }

    public static Result run(SensitivityScores scores, AllocationRule rule, List<Budget> budgets) {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long thread = Thread.currentThread().getId();
        var allocator = new BudgetAllocator(scores, rule);
        long bytes0 = threads.getThreadAllocatedBytes(thread);
        long t0 = System.nanoTime();
        List<TuningPlan> plans = allocator.allocate(budgets);
        double seconds = (System.nanoTime() - t0) / 1e9;
        long allocated = threads.getThreadAllocatedBytes(thread) - bytes0;
        long scored = scores.space().scoredSize();
        return new Result(scores.space().config(), scored, plans, seconds, allocated, 4 * scored);
    }
}
