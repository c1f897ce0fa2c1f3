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
            "results and allocation tables and prints a summary. A task that fails (bad data) is reported and",
            "the others finish: exit code 1 then, with every other result committed."})
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
            description = {"Methods (default: ${DEFAULT-VALUE}). SPT methods train at every --budgets value; lora and",
                "adapter alone put rank --rank on every matrix, and at a budget (lora@20k, adapter@0.4M) get the rank",
                "and matrices whose count comes closest to it."})
    List<String> methods;

    @Option(names = "--budgets", split = ",", defaultValue = "0.2M,0.4M,0.8M", description = "SPT budgets (default: ${DEFAULT-VALUE}).")
    List<String> budgets;

    @Option(names = "--rank", defaultValue = "8", description = "LoRA/Adapter rank, of plans and of lora/adapter without a budget (default: ${DEFAULT-VALUE}).")
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

    @Option(names = "--select-budget", paramLabel = "SPLIT",
            description = {"The papers' protocol: choose each budgeted method's budget per task on SPLIT (val200, the only",
                "choice): train at each budget on train800, evaluate on val200, retrain the best (a tie: the smaller",
                "budget) on train800val200 and report its test top-1. Applies to SPT methods with several --budgets",
                "and to lora@/adapter@ given at several budgets; the column is e.g. spt-lora@val200."})
    String selectBudget;

    @Option(names = "--report-max-over-evals",
            description = {"Also evaluate test at every --eval-every point and after the last epoch, and report the largest",
                "top-1 beside the final one, as the SPT reference reports (optimistic: chosen on the test split).",
                "Costs one test evaluation per point; the trained artifacts are the same."})
    boolean maxOverEvals;

    @Option(names = "--strict-budget", description = "Refuse a budget above what an SPT method's rule (or lora@/adapter@'s"
            + " largest rank) can spend on the backbone, instead of planning it at that maximum with a warning.")
    boolean strictBudget;

    @Override
    public Integer call() {
        SparkSessions.refuseUnsupported(recipe.recipe().precision());
        SparkSession spark = SparkSessions.get("spt sweep " + suite);
        limits.applyTo(spark.sparkContext().hadoopConfiguration());
        var config = new Sweep.Config(Suite.load(suite), tasks, data, backbone, preset, lake,
                methods.stream().map(Method.AtBudget::parse).toList(), budgets, rank, snella.options(), recipe.recipe(), Normalization.named(normalization),
                32, 16, run != null ? run : "sweep-" + Instant.now().toString().replace(':', '-'),
                Versions.json(spark.version()).toString(), force, strictBudget,
                selectBudget == null ? null : selectSplit(selectBudget), maxOverEvals);
        var err = spec.commandLine().getErr();
        Sweep.Result result = Sweep.run(spark, config, line -> {
            err.println(line);
            err.flush();
        });
        print(spec.commandLine().getOut(), result);
        return exitCode(result);
    }

    /** The split of {@code --select-budget}: val200 (FGVC's val) only. */
    static org.sptspark.data.Split selectSplit(String text) {
        var split = org.sptspark.data.Split.parse(text);
        if (split != org.sptspark.data.Split.VAL) {
            throw new IllegalArgumentException("--select-budget " + text + ": budgets are chosen on val200 (trained on"
                    + " train800), the only split held out of the final training");
        }
        return split;
    }

    /** 0 when everything was done, {@link #PARTLY_FAILED} when something failed and the rest is committed. */
    static int exitCode(Sweep.Result result) {
        return result.failures().isEmpty() ? 0 : PARTLY_FAILED;
    }

    /** The exit code of a sweep that finished with some tasks or trainings failed (see README, "Exit codes"). */
    static final int PARTLY_FAILED = 1;

    /**
     * The console summary: top-1 per task and method (columns, each headed by its name and the backbone
     * parameters it trained, the head excluded: {@code lora@20k (20.8k)}, with {@code ~} before the
     * mean where tasks differ, as SPT's plans do), with the mean per group and overall. A budget chosen
     * per task ({@code spt-lora@val200}) is shown in its cell ({@code 45.0 (20k)}). Then, where the
     * trainings recorded it, the same table of the max over evaluations; and what failed.
     */
    static void print(PrintWriter out, Sweep.Result result) {
        table(out, result, o -> o.top1());
        boolean anyMax = result.entries().stream().anyMatch(e -> e.outcome().maxTop1() != null);
        if (anyMax) {
            out.println();
            out.println("max over evaluations of test top-1, as the SPT reference reports (optimistic: chosen on the test"
                    + " split; every --eval-every epochs and after the last):");
            table(out, result, o -> o.maxTop1());
        }
        long reused = result.entries().stream().filter(e -> e.outcome().reused()).count();
        out.printf(Locale.ROOT, "run %s: %d trainings (%d reused from earlier runs) in %.0f s; top-1 in %%; in brackets the"
                + " backbone parameters each method trained (the head, which every method trains, excluded)%n", result.run(),
                result.entries().size(), reused, result.seconds());
        if (!result.candidates().isEmpty()) {
            long reusedSelection = result.candidates().stream().filter(k -> k.outcome().reused()).count();
            out.printf(Locale.ROOT, "budget selection: %d trainings on train800 evaluated on val200 (%d reused); a column"
                    + " @val200 shows each task's test top-1 at the budget chosen, in brackets%n", result.candidates().size(),
                    reusedSelection);
        }
        for (Sweep.Failure f : result.failures()) {
            out.println("failed: " + f.describe() + ": " + Failures.cause(f.error()).message());
        }
        if (!result.failures().isEmpty()) {
            out.printf(Locale.ROOT, "%d failure%s; every other result is committed, and running the same command again"
                    + " retries only what is missing%n", result.failures().size(), result.failures().size() == 1 ? "" : "s");
        }
        out.flush();
    }

    private static void table(PrintWriter out, Sweep.Result result,
            java.util.function.Function<org.sptspark.training.TaskTraining.Outcome, Double> value) {
        var columns = new LinkedHashSet<String>();
        Map<String, Map<String, Double>> table = new LinkedHashMap<>();
        Map<String, Map<String, String>> chosen = new LinkedHashMap<>();
        Map<String, String> groups = new LinkedHashMap<>();
        Map<String, List<Long>> trained = new LinkedHashMap<>();
        for (Sweep.Entry e : result.entries()) {
            var o = e.outcome();
            String column = e.column();
            columns.add(column);
            Double v = value.apply(o);
            if (v != null) {
                table.computeIfAbsent(e.task().name(), k -> new LinkedHashMap<>()).put(column, v);
            }
            table.computeIfAbsent(e.task().name(), k -> new LinkedHashMap<>());
            if (e.selectedOn() != null) {
                chosen.computeIfAbsent(e.task().name(), k -> new LinkedHashMap<>()).put(column, o.budgetLabel());
            }
            groups.put(e.task().name(), e.task().group());
            trained.computeIfAbsent(column, k -> new ArrayList<>()).add(o.trainable());
        }
        var headers = new LinkedHashMap<String, String>();
        columns.forEach(c -> headers.put(c, c + " (" + count(trained.get(c)) + ")"));
        int width = Math.max(12, headers.values().stream().mapToInt(String::length).max().orElse(0) + 1);
        out.printf(Locale.ROOT, "%-20s %-12s", "task", "group");
        columns.forEach(c -> out.printf(Locale.ROOT, " %" + width + "s", headers.get(c)));
        out.println();
        table.forEach((task, row) -> {
            out.printf(Locale.ROOT, "%-20s %-12s", task, groups.get(task));
            columns.forEach(c -> {
                String budget = chosen.getOrDefault(task, Map.of()).get(c);
                out.printf(Locale.ROOT, " %" + width + "s", row.containsKey(c) ? String.format(Locale.ROOT, "%.1f", 100 * row.get(c))
                        + (budget == null ? "" : " (" + budget + ")") : "-");
            });
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
    }

    /** A parameter count in a column's head: {@code 0}, {@code 960}, {@code 20.8k}, {@code 692k}, {@code 1.2M}; {@code ~} before a mean of differing counts. */
    static String count(List<Long> counts) {
        double mean = counts.stream().mapToLong(Long::longValue).average().orElse(0);
        boolean differ = counts.stream().distinct().count() > 1;
        String shown;
        if (mean < 1000) {
            shown = String.format(Locale.ROOT, "%.0f", mean);
        } else if (mean < 99_950) {
            shown = String.format(Locale.ROOT, "%.1fk", mean / 1e3);
        } else if (mean < 999_500) {
            shown = String.format(Locale.ROOT, "%.0fk", mean / 1e3);
        } else {
            shown = String.format(Locale.ROOT, "%.1fM", mean / 1e6);
        }
        return (differ ? "~" : "") + shown;
    }
}
