package org.sptspark.training;

import java.sql.Timestamp;
import java.time.Instant;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sptspark.data.TaskSpec;
import org.sptspark.lake.Secrets;

/**
 * The results table: one row per (run, task, method, budget), partitioned by run; and a budget
 * selection's table ({@value #SELECTION_TABLE}): one row per selection training. Columns are added
 * at the end and nullable, so that older runs' partitions still read (with Parquet's
 * {@code mergeSchema}, their rows have them {@code null}).
 */
public final class ResultsTable {

    /** The selection table's folder under {@code <lake>/tables/}. */
    public static final String SELECTION_TABLE = "selection";

    public static final StructType SCHEMA = new StructType()
            .add("run", DataTypes.StringType, false)
            .add("suite", DataTypes.StringType, false)
            .add("task", DataTypes.StringType, false)
            .add("group", DataTypes.StringType, true)
            .add("method", DataTypes.StringType, false)
            .add("budget", DataTypes.StringType, true)
            .add("budget_target", DataTypes.LongType, true)
            .add("budget_achieved", DataTypes.LongType, false)
            .add("trainable_with_head", DataTypes.LongType, false)
            .add("top1", DataTypes.DoubleType, false)
            .add("test_images", DataTypes.LongType, false)
            .add("backbone", DataTypes.StringType, false)
            .add("backbone_sha256", DataTypes.StringType, false)
            .add("plan_id", DataTypes.StringType, true)
            .add("artifact", DataTypes.StringType, false)
            .add("artifact_bytes", DataTypes.LongType, false)
            .add("train_seconds", DataTypes.DoubleType, false)
            .add("eval_seconds", DataTypes.DoubleType, false)
            .add("reused", DataTypes.BooleanType, false)
            .add("versions", DataTypes.StringType, false)
            .add("recorded_at", DataTypes.TimestampType, false)
            // the training's arithmetic (fp32 or bf16); nullable, for rows that do not record it
            .add("precision", DataTypes.StringType, true)
            // the split the budget was chosen on per task (val200: trained on train800 at each budget, the
            // best top-1 there retrained on train800val200; the selection table has each), else null
            .add("budget_selection", DataTypes.StringType, true)
            // the largest test top-1 over the evaluations at every --eval-every point and after the last
            // epoch, as the SPT reference reports (optimistic: chosen on test); null unless recorded
            .add("max_top1", DataTypes.DoubleType, true);

    /**
     * A selection training's row: as a result's, with {@code column} (the results' column its choice
     * went to, {@code spt-lora@val200}), the splits, and whether its budget was chosen; {@code top1}
     * and {@code eval_images} are on {@code eval_split}.
     */
    public static final StructType SELECTION_SCHEMA = new StructType()
            .add("run", DataTypes.StringType, false)
            .add("suite", DataTypes.StringType, false)
            .add("task", DataTypes.StringType, false)
            .add("group", DataTypes.StringType, true)
            .add("column", DataTypes.StringType, false)
            .add("method", DataTypes.StringType, false)
            .add("budget", DataTypes.StringType, true)
            .add("budget_target", DataTypes.LongType, true)
            .add("budget_achieved", DataTypes.LongType, false)
            .add("train_split", DataTypes.StringType, false)
            .add("eval_split", DataTypes.StringType, false)
            .add("top1", DataTypes.DoubleType, false)
            .add("eval_images", DataTypes.LongType, false)
            .add("chosen", DataTypes.BooleanType, false)
            .add("backbone", DataTypes.StringType, false)
            .add("backbone_sha256", DataTypes.StringType, false)
            .add("plan_id", DataTypes.StringType, true)
            .add("artifact", DataTypes.StringType, false)
            .add("artifact_bytes", DataTypes.LongType, false)
            .add("train_seconds", DataTypes.DoubleType, false)
            .add("eval_seconds", DataTypes.DoubleType, false)
            .add("reused", DataTypes.BooleanType, false)
            .add("versions", DataTypes.StringType, false)
            .add("recorded_at", DataTypes.TimestampType, false)
            .add("precision", DataTypes.StringType, true);

    private ResultsTable() {}

    /** A row of a training at a given budget; its paths {@linkplain Secrets#redact redacted}, as every table's are. */
    public static Row row(String run, String suite, TaskSpec task, String backbone, String backboneSha,
            TaskTraining.Outcome o, String versions) {
        return row(run, suite, task, backbone, backboneSha, o, versions, null);
    }

    /**
     * A row; its paths redacted.
     *
     * @param selectedOn the split its budget was chosen on per task ({@code val200}), or {@code null}
     */
    public static Row row(String run, String suite, TaskSpec task, String backbone, String backboneSha,
            TaskTraining.Outcome o, String versions, String selectedOn) {
        if (!o.evalSplit().equals("test") || !o.trainSplit().equals("train800val200")) {
            throw new IllegalArgumentException("the results table holds trainings on train800val200 evaluated on test,"
                    + " not " + o.folder() + " (" + o.trainSplit() + ", " + o.evalSplit() + "): see selectionRow");
        }
        return RowFactory.create(run, suite, task.name(), task.group(), o.method(), o.budgetLabel(),
                o.budgetLabel() == null ? null : o.budgetTarget(), o.achieved(), o.trainableWithHead(), o.top1(),
                o.testImages(), Secrets.redact(backbone), backboneSha, o.planId(), Secrets.redact(o.folder()),
                o.artifactBytes(), o.trainSeconds(),
                o.evalSeconds(), o.reused(), versions, Timestamp.from(Instant.now()), o.precision(), selectedOn, o.maxTop1());
    }

    /** A selection training's row ({@link #SELECTION_SCHEMA}); its paths redacted. */
    public static Row selectionRow(String run, String suite, TaskSpec task, String backbone, String backboneSha,
            TaskTraining.Outcome o, String column, boolean chosen, String versions) {
        return RowFactory.create(run, suite, task.name(), task.group(), column, o.method(), o.budgetLabel(),
                o.budgetLabel() == null ? null : o.budgetTarget(), o.achieved(), o.trainSplit(), o.evalSplit(), o.top1(),
                o.testImages(), chosen, Secrets.redact(backbone), backboneSha, o.planId(), Secrets.redact(o.folder()),
                o.artifactBytes(), o.trainSeconds(), o.evalSeconds(), o.reused(), versions, Timestamp.from(Instant.now()),
                o.precision());
    }
}
