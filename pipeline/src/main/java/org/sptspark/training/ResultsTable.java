package org.sptspark.training;

import java.sql.Timestamp;
import java.time.Instant;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sptspark.data.TaskSpec;
import org.sptspark.lake.Secrets;

/** The results table: one row per (run, task, method, budget), partitioned by run. */
public final class ResultsTable {

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
            .add("precision", DataTypes.StringType, true);

    private ResultsTable() {}

    /** A row; its paths {@linkplain Secrets#redact redacted}, as every table's are. */
    public static Row row(String run, String suite, TaskSpec task, String backbone, String backboneSha,
            TaskTraining.Outcome o, String versions) {
        return RowFactory.create(run, suite, task.name(), task.group(), o.method(), o.budgetLabel(),
                o.budgetLabel() == null ? null : o.budgetTarget(), o.achieved(), o.trainableWithHead(), o.top1(),
                o.testImages(), Secrets.redact(backbone), backboneSha, o.planId(), Secrets.redact(o.folder()),
                o.artifactBytes(), o.trainSeconds(),
                o.evalSeconds(), o.reused(), versions, Timestamp.from(Instant.now()), o.precision());
    }
}
