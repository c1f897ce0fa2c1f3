package org.sptspark.allocation;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sptspark.model.TensorSpec;

/**
 * The allocation table for the notebooks: one row per (plan, scored tensor), saying where the
 * budget went by depth and operation. {@code stage} and {@code block} are the tensor's (see {@link
 * TensorSpec}): a ViT's blocks are all in stage 0, a hierarchical backbone's block is counted over
 * the whole model. Tables written before {@code stage} existed lack the column; {@link #stageOf}
 * reads them.
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
            .add("stage", DataTypes.IntegerType, false)
            .add("block", DataTypes.IntegerType, false)
            .add("operation", DataTypes.StringType, false)
            .add("role", DataTypes.StringType, false)
            .add("count_in_top_k", DataTypes.LongType, false)
            .add("decision", DataTypes.StringType, false)
            .add("trainable", DataTypes.LongType, false);

    private static final java.util.regex.Pattern STAGE = java.util.regex.Pattern.compile("^(?:layers|stages)\\.(\\d+)\\.");

    private AllocationTable() {}

    /**
     * A row's stage: its {@code stage} column, or for a row of a table written before that column
     * the stage its tensor's name gives (Swin's {@code layers.N.}, ConvNeXt's {@code stages.N.};
     * a ViT's block tensors are stage 0, the rest -1), which is what the column would hold.
     */
    public static int stageOf(Row row) {
        if (row.schema() != null && List.of(row.schema().fieldNames()).contains("stage") && row.getAs("stage") != null) {
            return row.<Integer>getAs("stage");
        }
        var m = STAGE.matcher(row.<String>getAs("tensor"));
        if (m.find()) {
            return Integer.parseInt(m.group(1));
        }
        return row.<Integer>getAs("block") >= 0 ? 0 : -1;
    }

    /**
     * One row: a tensor's place in a run's allocation.
     *
     * @param id the plan's id, or for a method without a plan the artifact's folder
     */
    public static Row row(String run, String suite, String task, String method, Budget budget, long achieved, String id,
            TensorSpec spec, long countInTopK, String decision, long trainable) {
        return RowFactory.create(run, suite, task, method, budget.label(), budget.target(), achieved, id, spec.name(),
                spec.stage(), spec.block(), spec.operation(), spec.role().name().toLowerCase(Locale.ROOT), countInTopK, decision, trainable);
    }

    public static List<Row> rows(String run, String suite, String task, TuningPlan plan) {
        String method = "spt-" + plan.rule().module().id();
        String id = PlanJson.id(plan);
        var rows = new ArrayList<Row>();
        for (TuningPlan.Entry e : plan.entries()) {
            rows.add(RowFactory.create(run, suite, task, method, plan.budget().label(), plan.budget().target(),
                    plan.totals().achieved(), id, e.name(), e.stage(), e.block(), e.operation(), e.role().name().toLowerCase(Locale.ROOT),
                    e.countInTopK(), e.decision().kind(), e.decision().trainable()));
        }
        return rows;
    }
}
