package org.sptspark.allocation;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * The allocation table for the notebooks: one row per (plan, scored tensor), saying where the
 * budget went by depth and operation.
 */
public final class AllocationTable {

    public static final StructType SCHEMA = new StructType()
            .add("run", DataTypes.StringType, false)
            .add("suite", DataTypes.StringType, false)
            .add("task", DataTypes.StringType, false)
            .add("method", DataTypes.StringType, false)
            .add("budget", DataTypes.StringType, false)
            .add("budget_target", DataTypes.LongType, false)
            .add("budget_achieved", DataTypes.LongType, false)
            .add("plan_id", DataTypes.StringType, false)
            .add("tensor", DataTypes.StringType, false)
            .add("block", DataTypes.IntegerType, false)
            .add("operation", DataTypes.StringType, false)
            .add("role", DataTypes.StringType, false)
            .add("count_in_top_k", DataTypes.LongType, false)
            .add("decision", DataTypes.StringType, false)
            .add("trainable", DataTypes.LongType, false);

    private AllocationTable() {}

    /**
     * SNELLA's final allocation, as its artifact's manifest records it: one row per competing
     * matrix, with the entries it kept as both {@code count_in_top_k} and {@code trainable};
     * {@code plan_id} is the artifact's folder.
     *
     * @param budget the target sparsity's label and non-zero count
     * @param achieved the delta's non-zero entries
     * @param kept per competing matrix, in order, its non-zero entries
     */
    public static List<Row> snellaRows(String run, String suite, String task, String artifact, Budget budget, long achieved,
            Map<String, Long> kept, org.sptspark.model.ParameterSpace space) {
        var rows = new ArrayList<Row>();
        for (var e : kept.entrySet()) {
            var spec = space.get(e.getKey());
            rows.add(RowFactory.create(run, suite, task, "snella", budget.label(), budget.target(), achieved, artifact,
                    spec.name(), spec.block(), spec.operation(), spec.role().name().toLowerCase(Locale.ROOT), e.getValue(),
                    "snella", e.getValue()));
        }
        return rows;
    }

    public static List<Row> rows(String run, String suite, String task, TuningPlan plan) {
        String method = "spt-" + plan.rule().module().id();
        String id = PlanJson.id(plan);
        var rows = new ArrayList<Row>();
        for (TuningPlan.Entry e : plan.entries()) {
            rows.add(RowFactory.create(run, suite, task, method, plan.budget().label(), plan.budget().target(),
                    plan.totals().achieved(), id, e.name(), e.block(), e.operation(), e.role().name().toLowerCase(Locale.ROOT),
                    e.countInTopK(), e.decision().kind(), e.decision().trainable()));
        }
        return rows;
    }
}
