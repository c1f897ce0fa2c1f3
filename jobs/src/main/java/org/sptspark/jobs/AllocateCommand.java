package org.sptspark.jobs;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.AllocationTable;
import org.sptspark.allocation.Budget;
import org.sptspark.allocation.BudgetAllocator;
import org.sptspark.allocation.TuningPlan;
import org.sptspark.sensitivity.ScoresManifest;
import org.sptspark.sensitivity.ScoresStore;
import org.sptspark.sensitivity.SensitivityScores;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** SPT stage 2: plans from committed scores, for several budgets at once. */
@Command(name = "allocate", mixinStandardHelpOptions = true,
        description = {"Turn committed sensitivity scores into tuning plans (SPT stage 2).",
            "One plan per budget; writes the plan JSONs and the allocation table to the lake."})
final class AllocateCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--scores", required = true, description = "A committed scores folder (written by `spt sensitivity`).")
    String scores;

    @Option(names = "--budget", required = true, split = ",",
            description = "Budgets: 400000, 0.4M, 400k, 0.47%% or 0.0047 (of the backbone), comma-separated.")
    List<String> budgets;

    @Option(names = "--method", defaultValue = "lora", description = "lora or adapter (default: ${DEFAULT-VALUE}).")
    String method;

    @Option(names = "--rank", defaultValue = "8", description = "Module rank r (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--alpha", defaultValue = "10", description = "Module when count >= cost/alpha (default: ${DEFAULT-VALUE}).")
    double alpha;

    @Option(names = "--beta", defaultValue = "5", description = "Whole vector when count >= length/beta (default: ${DEFAULT-VALUE}).")
    double beta;

    @Option(names = "--mode", defaultValue = "mixed", description = "mixed, structured_only or unstructured_only (default: ${DEFAULT-VALUE}).")
    String mode;

    @Option(names = "--lake", required = true, description = "Lake root (folder or Hadoop URI).")
    String lake;

    @Option(names = "--run", description = "Run id of the allocation table partition (default: allocate-<time>).")
    String run;

    @Option(names = "--strict-budget", description = "Refuse a budget above what the rule can spend on the backbone,"
            + " instead of planning it at that maximum with a warning.")
    boolean strictBudget;

    @Override
    public Integer call() throws Exception {
        SparkSession spark = SparkSessions.get("spt allocate");
        Configuration hadoop = spark.sparkContext().hadoopConfiguration();
        SensitivityScores s = ScoresStore.read(hadoop, scores);
        ScoresManifest manifest = ScoresStore.manifest(hadoop, scores);
        String suite = manifest.task().suite();
        String task = manifest.task().name();
        var rule = new AllocationRule(choice("--method", method, AllocationRule.Module.class), rank, alpha, beta,
                choice("--mode", mode, AllocationRule.Mode.class), true);
        var space = s.space();
        List<Budget> parsed = budgets.stream().map(b -> Budget.parse(b, space.backboneSize())).toList();
        var err = spec.commandLine().getErr();
        List<TuningPlan> plans = new BudgetAllocator(s, rule).allocate(parsed, strictBudget, warning -> {
            err.println("warning: " + warning);
            err.flush();
        });

        String runId = run != null ? run : "allocate-" + Instant.now().toString().replace(':', '-');
        var rows = new ArrayList<Row>();
        var out = spec.commandLine().getOut();
        for (TuningPlan plan : plans) {
            String file = org.sptspark.allocation.PlanStore.write(hadoop, lake, suite, task, scores, plan);
            rows.addAll(AllocationTable.rows(runId, suite, task, plan));
            var t = plan.totals();
            out.printf(Locale.ROOT, "%-8s target %,10d achieved %,10d%s (sparse %,d, %s %,d, whole vectors %,d, cls %d;"
                    + " head %,d outside the budget), %d of %d matrices structured -> %s%n", plan.budget().label(),
                    plan.budget().target(), t.achieved(), plan.budget().target() > t.maxReachable()
                            ? String.format(Locale.ROOT, " (unreachable: the rule trains at most %,d)", t.maxReachable()) : "",
                    t.unstructured(), rule.module().id(), t.structured(), t.whole(), t.clsToken(), t.head(),
                    plan.entries().stream().filter(e -> e.decision().kind().equals(rule.module().id())).count(),
                    plan.entries().stream().filter(e -> e.role() == org.sptspark.model.TensorRole.MATRIX).count(), file);
        }
        spark.conf().set("spark.sql.sources.partitionOverwriteMode", "dynamic");
        String table = new Path(new Path(lake, "tables"), "allocation").toString();
        spark.createDataFrame(rows, AllocationTable.SCHEMA).coalesce(1).write().mode(SaveMode.Overwrite)
                .partitionBy("run").parquet(table);
        out.printf(Locale.ROOT, "allocation table: %d rows in %s (run=%s)%n", rows.size(), table, runId);
        out.flush();
        return 0;
    }

    /** An option's value among an enum's constants, by lower-case name; bad input names the choices. */
    static <E extends Enum<E>> E choice(String option, String value, Class<E> type) {
        for (E e : type.getEnumConstants()) {
            if (e.name().equalsIgnoreCase(value.strip())) {
                return e;
            }
        }
        throw new IllegalArgumentException(option + " '" + value + "': expected one of " + java.util.Arrays.stream(
                type.getEnumConstants()).map(e -> e.name().toLowerCase(Locale.ROOT)).collect(java.util.stream.Collectors.joining(", ")));
    }
}
