package org.sptspark.jobs;

import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import org.sptspark.data.Normalization;
import org.sptspark.data.Suite;
import org.sptspark.spark.Sweep;
import org.sptspark.tuning.Method;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** A whole suite: sensitivity, plans and every (task, method, budget) training, resumable. */
@Command(name = "sweep", mixinStandardHelpOptions = true,
        description = {"Run SPT and the baselines over a suite, every task, method and budget.",
            "Sensitivity per task, plans on the driver, then one Spark task per (task, method, budget). Committed",
            "scores and artifacts are reused, so a killed sweep re-run does only what is missing. Writes the",
            "results and allocation tables and prints a summary."})
final class SweepCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--suite", defaultValue = "vtab-1k", description = "Suite name or .conf file (default: ${DEFAULT-VALUE}).")
    String suite;

    @Option(names = "--tasks", split = ",", description = "Only these tasks (default: all of the suite's).")
    List<String> tasks = new ArrayList<>();

    @Option(names = "--data", required = true, description = "The suite's data root (folder or Hadoop URI).")
    String data;

    @Option(names = "--backbone", required = true, description = "Backbone checkpoint (path or Hadoop URI).")
    String backbone;

    @Option(names = "--preset", required = true, description = "The backbone's architecture preset.")
    String preset;

    @Option(names = "--lake", required = true, description = "Lake root (folder or Hadoop URI).")
    String lake;

    @Option(names = "--methods", split = ",", defaultValue = "spt-lora,spt-adapter,lora,adapter,linear",
            description = "Methods (default: ${DEFAULT-VALUE}).")
    List<String> methods;

    @Option(names = "--budgets", split = ",", defaultValue = "0.2M,0.4M,0.8M", description = "SPT budgets (default: ${DEFAULT-VALUE}).")
    List<String> budgets;

    @Option(names = "--rank", defaultValue = "8", description = "LoRA/Adapter rank (default: ${DEFAULT-VALUE}).")
    int rank;

    @Mixin
    SnellaCliOptions snella = new SnellaCliOptions();

    @Mixin
    RecipeOptions recipe;

    @Mixin
    DataLimitOptions limits;

    @Option(names = "--normalization", defaultValue = "imagenet", description = "imagenet or half (default: ${DEFAULT-VALUE}).")
    String normalization;

    @Option(names = "--run", description = "Run id of the tables' partitions (default: sweep-<time>).")
    String run;

    @Option(names = "--force", description = "Recompute scores and retrain even where committed results exist.")
    boolean force;

    @Option(names = "--strict-budget", description = "Refuse a budget above what an SPT method's rule can spend on the"
            + " backbone, instead of planning it at that maximum with a warning.")
    boolean strictBudget;

    @Override
    public Integer call() {
        SparkSessions.refuseUnsupported(recipe.recipe().precision());
        SparkSession spark = SparkSessions.get("spt sweep " + suite);
        limits.applyTo(spark.sparkContext().hadoopConfiguration());
        var config = new Sweep.Config(Suite.load(suite), tasks, data, backbone, preset, lake,
                methods.stream().map(Method::parse).toList(), budgets, rank, snella.options(), recipe.recipe(), Normalization.named(normalization),
                32, 16, run != null ? run : "sweep-" + Instant.now().toString().replace(':', '-'),
                Versions.json(spark.version()).toString(), force, strictBudget);
        var err = spec.commandLine().getErr();
        Sweep.Result result = Sweep.run(spark, config, line -> {
            err.println(line);
            err.flush();
        });
        print(spec.commandLine().getOut(), result);
        return 0;
    }

    /** The console summary: top-1 per task and method (columns), with the mean per group and overall. */
    static void print(PrintWriter out, Sweep.Result result) {
        var columns = new LinkedHashSet<String>();
        Map<String, Map<String, Double>> table = new LinkedHashMap<>();
        Map<String, String> groups = new LinkedHashMap<>();
        for (Sweep.Entry e : result.entries()) {
            var o = e.outcome();
            String column = o.budgetLabel() == null ? o.method() : o.method() + "@" + o.budgetLabel();
            columns.add(column);
            table.computeIfAbsent(e.task().name(), k -> new LinkedHashMap<>()).put(column, o.top1());
            groups.put(e.task().name(), e.task().group());
        }
        int width = Math.max(12, columns.stream().mapToInt(String::length).max().orElse(0) + 1);
        out.printf(Locale.ROOT, "%-20s %-12s", "task", "group");
        columns.forEach(c -> out.printf(Locale.ROOT, " %" + width + "s", c));
        out.println();
        table.forEach((task, row) -> {
            out.printf(Locale.ROOT, "%-20s %-12s", task, groups.get(task));
            columns.forEach(c -> out.printf(Locale.ROOT, " %" + width + "s",
                    row.containsKey(c) ? String.format(Locale.ROOT, "%.1f", 100 * row.get(c)) : "-"));
            out.println();
        });
        var summaries = new LinkedHashMap<String, List<String>>();
        new LinkedHashSet<>(groups.values()).forEach(g -> summaries.put("mean " + g,
                groups.entrySet().stream().filter(x -> x.getValue().equals(g)).map(Map.Entry::getKey).toList()));
        summaries.put("mean", new ArrayList<>(table.keySet()));
        summaries.forEach((label, taskNames) -> {
            out.printf(Locale.ROOT, "%-33s", label);
            for (String c : columns) {
                double sum = 0;
                int n = 0;
                for (String t : taskNames) {
                    Double v = table.get(t).get(c);
                    if (v != null) {
                        sum += v;
                        n++;
                    }
                }
                out.printf(Locale.ROOT, " %" + width + "s", n == 0 ? "-" : String.format(Locale.ROOT, "%.1f", 100 * sum / n));
            }
            out.println();
        });
        long reused = result.entries().stream().filter(e -> e.outcome().reused()).count();
        out.printf(Locale.ROOT, "run %s: %d trainings (%d reused from earlier runs) in %.0f s; top-1 in %%%n", result.run(),
                result.entries().size(), reused, result.seconds());
        out.flush();
    }
}
