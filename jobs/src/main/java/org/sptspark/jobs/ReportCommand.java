package org.sptspark.jobs;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.sptspark.report.Report;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Prints a run's comparison table and allocation summaries from the lake's tables. */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = {"Print a run's comparison from the lake: top-1 per task and method, and the means.",
            "A method at a budget is a column; each group's mean, the mean of the group means (VTAB's headline)",
            "and the plain mean; then where each method's budget went per operation, from the allocation table.",
            "With --stability, the lake's sensitivity-stability summaries (spt stability) instead.",
            "Reads any Hadoop URI (s3a:// too)."})
final class ReportCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--lake", required = true, description = "The lake's root URI.")
    String lake;

    @Option(names = "--run", description = "The run id (a sweep's or demo's run); without it the runs are listed.")
    String run;

    @Option(names = "--format", defaultValue = "markdown",
            description = "markdown, csv (the comparison table) or json (everything, for notebooks) (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--stability",
            description = "Print the lake's sensitivity-stability summaries (written by spt stability) instead of a run's comparison.")
    boolean stability;

    @Override
    public Integer call() {
        if (!List.of("markdown", "csv", "json").contains(format)) {
            throw new IllegalArgumentException("unknown format '" + format + "': choose markdown, csv or json");
        }
        SparkSession spark = SparkSessions.get("spt report", "local[1]");
        if (stability) {
            return stability(spark);
        }
        String tables = new Path(new Path(lake), "tables").toString();
        Path resultsPath = new Path(tables, "results");
        try {
            if (!resultsPath.getFileSystem(spark.sparkContext().hadoopConfiguration()).exists(resultsPath)) {
                throw new IllegalArgumentException("no results table at " + resultsPath + " (run a sweep or spt demo first)");
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read " + resultsPath, e);
        }
        // columns were added over time (precision, budget_selection, max_top1): read every partition's
        Dataset<Row> all = spark.read().option("mergeSchema", "true").parquet(resultsPath.toString());
        List<String> fields = List.of(all.schema().fieldNames());
        List<String> runs = all.select("run").distinct().orderBy("run").collectAsList().stream().map(r -> r.getString(0)).toList();
        PrintWriter out = spec.commandLine().getOut();
        if (run == null) {
            out.println("runs in " + lake + ":");
            runs.forEach(r -> out.println("  " + r));
            out.flush();
            return 0;
        }
        if (!runs.contains(run)) {
            throw new IllegalArgumentException("no run '" + run + "' in " + resultsPath + "; runs there: " + runs);
        }
        var results = new ArrayList<Report.Result>();
        for (Row r : all.where(functions.col("run").equalTo(run)).orderBy("recorded_at").collectAsList()) {
            results.add(new Report.Result(r.getAs("task"), r.getAs("group"), r.getAs("method"), r.getAs("budget"),
                    r.<Long>getAs("budget_achieved"), r.<Long>getAs("trainable_with_head"), r.<Double>getAs("top1"),
                    r.<Long>getAs("test_images"), r.getAs("artifact"), r.<Long>getAs("artifact_bytes"),
                    fields.contains("budget_selection") ? r.getAs("budget_selection") : null,
                    fields.contains("max_top1") ? r.<Double>getAs("max_top1") : null));
        }
        var candidates = new ArrayList<Report.Candidate>();
        Path selectionPath = new Path(tables, org.sptspark.training.ResultsTable.SELECTION_TABLE);
        try {
            if (selectionPath.getFileSystem(spark.sparkContext().hadoopConfiguration()).exists(selectionPath)) {
                for (Row r : spark.read().option("mergeSchema", "true").parquet(selectionPath.toString())
                        .where(functions.col("run").equalTo(run)).orderBy("task", "column", "budget_target").collectAsList()) {
                    candidates.add(new Report.Candidate(r.getAs("task"), r.getAs("column"), r.getAs("method"),
                            r.getAs("budget"), r.<Long>getAs("budget_achieved"), r.<Double>getAs("top1"),
                            r.<Boolean>getAs("chosen"), r.getAs("artifact")));
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read " + selectionPath, e);
        }
        var allocation = new ArrayList<Report.Allocation>();
        Path allocationPath = new Path(tables, "allocation");
        try {
            if (allocationPath.getFileSystem(spark.sparkContext().hadoopConfiguration()).exists(allocationPath)) {
                // mergeSchema: a lake's older allocation files lack the stage column
                for (Row r : spark.read().option("mergeSchema", "true").parquet(allocationPath.toString())
                        .where(functions.col("run").equalTo(run)).collectAsList()) {
                    allocation.add(new Report.Allocation(r.getAs("task"), r.getAs("method"), r.getAs("budget"),
                            r.getAs("tensor"), org.sptspark.allocation.AllocationTable.stageOf(r), r.<Integer>getAs("block"), r.getAs("operation"), r.getAs("role"),
                            r.getAs("decision"), r.<Long>getAs("trainable")));
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read " + allocationPath, e);
        }
        var report = new Report(run, results, allocation).withCandidates(candidates);
        all.where(functions.col("run").equalTo(run)).select("suite").distinct().collectAsList().stream()
                .map(r -> r.getString(0)).findFirst().ifPresent(report::withSuite);
        try {
            // the backbone's checkpoint, for artifact-size comparisons: the first artifact's manifest names it
            var manifest = org.sptspark.artifact.Artifacts.manifest(spark.sparkContext().hadoopConfiguration(),
                    results.get(0).artifact());
            Path checkpoint = new Path(manifest.backbone().checkpoint());
            report.withCheckpointBytes(checkpoint.getFileSystem(spark.sparkContext().hadoopConfiguration())
                    .getFileStatus(checkpoint).getLen());
        } catch (java.io.IOException | RuntimeException e) {
            spec.commandLine().getErr().println("report: the backbone checkpoint's size is unknown (" + e.getMessage() + ")");
        }
        out.print(switch (format.toLowerCase(Locale.ROOT)) {
            case "csv" -> report.csv();
            case "json" -> report.json();
            default -> report.markdown();
        });
        out.flush();
        return 0;
    }

    /** The stability summaries in the lake, in the chosen format. */
    private int stability(SparkSession spark) {
        var summaries = org.sptspark.report.StabilitySummary.list(spark.sparkContext().hadoopConfiguration(), lake);
        if (summaries.isEmpty()) {
            throw new IllegalArgumentException("no stability summaries under " + new Path(new Path(lake), "stability")
                    + " (run spt stability first)");
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(org.sptspark.report.StabilitySummary.render(summaries, format));
        out.flush();
        return 0;
    }
}
