package org.sptspark.jobs;

import ai.djl.engine.Engine;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.sptspark.data.Normalization;
import org.sptspark.data.Suite;
import org.sptspark.data.TaskSpec;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.BackbonePresets;
import org.sptspark.training.ResultsTable;
import org.sptspark.training.TaskTraining;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.Recipe;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** SPT stage 3 (or a baseline) for one task: train, evaluate, commit the artifact, append a results row. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Train one task with one method (SPT under a plan, or a baseline).",
            "Evaluates top-1 on test, commits the artifact to the lake and appends a row to the results table."})
final class TrainCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @picocli.CommandLine.Mixin
    TaskOptions where;

    @Mixin
    DataLimitOptions limits;

    @Option(names = "--method", defaultValue = "spt-lora",
            description = "spt-lora, spt-adapter (need --plan), lora, adapter, linear, full, bias, snella (default: ${DEFAULT-VALUE}).")
    String method;

    @Option(names = "--plan", description = "The plan JSON for spt-lora / spt-adapter (written by spt allocate).")
    String plan;

    @Option(names = "--rank", defaultValue = "8", description = "LoRA/Adapter rank of the lora and adapter baselines (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--budget", description = {"lora and adapter only: a budget (20k, 0.4M, 0.47%%) instead of --rank: the rank",
        "and matrices whose trainable count (class token included, head excluded, as SPT counts) comes closest;",
        "the artifact is then method-budget (lora-20k)."})
    String budget;

    @Mixin
    SnellaCliOptions snella = new SnellaCliOptions();

    @Mixin
    RecipeOptions recipe;

    @Option(names = "--normalization", defaultValue = "imagenet", description = "imagenet or half (default: ${DEFAULT-VALUE}).")
    String normalization;

    @Option(names = "--eval-batch-size", defaultValue = "128", description = "Images per evaluation batch (default: ${DEFAULT-VALUE}).")
    int evalBatchSize;

    @Option(names = "--run", description = "Run id of the results-table partition (default: train-<time>).")
    String run;

    @Option(names = "--force", description = "Retrain even when a committed artifact exists.")
    boolean force;

    @Override
    public Integer call() throws Exception {
        Suite s = Suite.load(where.suite);
        TaskSpec t = s.task(where.task);
        Method m = Method.parse(method);
        if (m.needsPlan() && plan == null) {
            throw new IllegalArgumentException("method " + m.id() + " needs --plan (run spt allocate first)");
        }
        if (!m.needsPlan() && plan != null) {
            throw new IllegalArgumentException("method " + m.id() + " is a baseline and takes no --plan");
        }
        Recipe r = recipe.recipe();
        SparkSessions.refuseUnsupported(r.precision());
        BackboneConfig config = BackbonePresets.get(where.preset).withNumClasses(t.classes()).withDropPathRate(r.dropPath());
        var err = spec.commandLine().getErr();
        if (budget != null) {
            // before Spark starts: a method without budgets, a malformed or unreachable budget fails in one line
            var at = new Method.AtBudget(m, budget);
            var space = config.space();
            // the training's log prints the choice
            m.match(at.parseBudget(space), space, false, w -> err.println("warning: " + w));
            err.flush();
        }
        SparkSession spark = SparkSessions.get("spt train " + where.task + " " + m.id());
        Configuration hadoop = limits.applyTo(spark.sparkContext().hadoopConfiguration());
        String sha = org.sptspark.model.CheckpointFiles.checkedSha256(hadoop, where.backbone, config);
        String versions = Versions.json(spark.version()).toString();
        var request = new TaskTraining.Request(s.name(), t, where.data, where.backbone, sha, config, Normalization.named(normalization),
                m, plan, rank, snella.options(), r, where.lake, evalBatchSize, force, versions, budget);
        var out = spec.commandLine().getOut();
        TaskTraining.Outcome o = TaskTraining.run(request, hadoop, Engine.getInstance().defaultDevice(), line -> {
            err.println(line);
            err.flush();
        });
        String runId = run != null ? run : "train-" + Instant.now().toString().replace(':', '-');
        String table = new Path(new Path(where.lake, "tables"), "results").toString();
        spark.createDataFrame(List.of(ResultsTable.row(runId, s.name(), t, where.preset, sha, o, versions)), ResultsTable.SCHEMA)
                .coalesce(1).write().mode(SaveMode.Append).partitionBy("run").parquet(table);
        // SNELLA's budget counts the delta's non-zero entries, learned through its (fewer) factor scalars
        String trained = m == Method.SNELLA
                ? String.format(Locale.ROOT, "%,d non-zero delta entries learned through %,d trained scalars (head included)",
                        o.achieved(), o.trainableWithHead())
                : String.format(Locale.ROOT, "%,d parameters trained (+%,d head)", o.achieved(),
                        o.trainableWithHead() - o.achieved());
        out.printf(Locale.ROOT, "%s %s%s: top-1 %.4f on %d test images; %s%s%n", t.name(), m.id(),
                o.budgetLabel() == null ? "" : " @ " + o.budgetLabel(), o.top1(), o.testImages(), trained,
                o.reused() ? " (committed earlier)" : "");
        out.printf(Locale.ROOT, "artifact: %s (%,d bytes)%nresults: %s (run=%s)%n", o.folder(), o.artifactBytes(), table, runId);
        out.flush();
        return 0;
    }
}
