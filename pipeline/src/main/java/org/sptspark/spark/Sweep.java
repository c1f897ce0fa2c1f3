package org.sptspark.spark;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.AllocationTable;
import org.sptspark.allocation.Budget;
import org.sptspark.allocation.BudgetAllocator;
import org.sptspark.allocation.PlanStore;
import org.sptspark.allocation.TuningPlan;
import org.sptspark.data.Normalization;
import org.sptspark.data.Suite;
import org.sptspark.data.TaskRef;
import org.sptspark.data.TaskSpec;
import org.sptspark.lake.Secrets;
import org.sptspark.lake.SoftwareVersions;
import org.sptspark.model.BackboneRef;
import org.sptspark.model.CheckpointFiles;
import org.sptspark.model.VitConfig;
import org.sptspark.model.VitPresets;
import org.sptspark.sensitivity.ScoresManifest;
import org.sptspark.sensitivity.ScoresStore;
import org.sptspark.snella.SnellaOptions;
import org.sptspark.training.ResultsTable;
import org.sptspark.training.TaskTraining;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.Recipe;

/**
 * A sweep over a suite: sensitivity for every task (SPT stage 1, one Spark job per task), plans on
 * the driver (stage 2), then one Spark task per (task, method, budget) training side by side
 * across executors (stage 3), and the results and allocation tables.
 *
 * <p>Idempotent and resumable: committed scores and artifacts are reused, plans are recomputed
 * (deterministically, to the same ids) from committed scores, so a sweep killed at any point and
 * run again only does what is missing. A folder becomes visible only with its manifest.
 */
public final class Sweep {

    private static final Logger LOG = LoggerFactory.getLogger(Sweep.class);

    /**
     * A sweep's settings.
     *
     * @param tasks the suite's tasks to run (empty: all)
     * @param methods the methods, in the summary's order: SPT methods train at every one of
     *     {@code budgets}, a baseline alone once, LoRA and Adapter at a budget ({@code lora@20k}) with
     *     modules sized to it ({@link Method#match}) instead of {@code rank} on every matrix
     * @param budgets SPT budgets (labels as {@link Budget#parse} reads them)
     * @param rank the LoRA/Adapter rank, for plans and baselines without a budget
     * @param snella SNELLA's settings, its target sparsity per task
     * @param sensitivityBatches and {@code sensitivityBatchSize}: the reference's 16 x 32 from train800
     * @param versions JSON object recorded in manifests and rows
     * @param strictBudgets refuse a budget above what an SPT method's rule (or a baseline's largest
     *     rank) can spend on the backbone, instead of planning it at that maximum with a warning
     */
    public record Config(Suite suite, List<String> tasks, String dataRoot, String backbone, String preset, String lake,
            List<Method.AtBudget> methods, List<String> budgets, int rank, SnellaOptions snella, Recipe recipe, Normalization normalization,
            int sensitivityBatchSize, int sensitivityBatches, String run, String versions, boolean force,
            boolean strictBudgets) implements Serializable {

        /** Settings that plan an unreachable budget at the maximum, with a warning. */
        public Config(Suite suite, List<String> tasks, String dataRoot, String backbone, String preset, String lake,
                List<Method.AtBudget> methods, List<String> budgets, int rank, SnellaOptions snella, Recipe recipe,
                Normalization normalization, int sensitivityBatchSize, int sensitivityBatches, String run, String versions,
                boolean force) {
            this(suite, tasks, dataRoot, backbone, preset, lake, methods, budgets, rank, snella, recipe, normalization,
                    sensitivityBatchSize, sensitivityBatches, run, versions, force, false);
        }
    }

    /** One training's outcome with its task. */
    public record Entry(TaskSpec task, TaskTraining.Outcome outcome) implements Serializable {}

    /** What a sweep produced. */
    public record Result(String run, List<Entry> entries, double seconds) {}

    /**
     * Called on the executor just before each training of a sweep, with that training's request. An
     * exception it throws fails the training's Spark task as a failed training would (Spark retries it,
     * then fails the job); tests use it to kill a sweep at a chosen (task, method). It travels to the
     * executors inside the task's closure.
     */
    @FunctionalInterface
    public interface TaskHook extends Serializable {

        /** Does nothing. */
        TaskHook NONE = request -> { };

        void beforeTraining(TaskTraining.Request request);
    }

    private Sweep() {}

    /** A sweep without a {@link TaskHook}. */
    public static Result run(SparkSession spark, Config c, Consumer<String> log) {
        return run(spark, c, log, TaskHook.NONE);
    }

    /**
     * A sweep that calls {@code hook} on the executor before each training. The budgets and the
     * backbone's header are checked on the driver before any Spark job.
     *
     * @throws IllegalArgumentException before any job for a malformed budget, an unreachable one
     *     when {@link Config#strictBudgets}, or an unusable backbone checkpoint
     */
    public static Result run(SparkSession spark, Config c, Consumer<String> progress, TaskHook hook) {
        long started = System.nanoTime();
        // the lines name the backbone, the lake and its folders: no credential in them
        Secrets.remember(spark.sparkContext().hadoopConfiguration());
        // stage 3's progress lines come from Spark's listener thread
        Object printing = new Object();
        Consumer<String> log = line -> {
            synchronized (printing) {
                progress.accept(Secrets.redact(line));
            }
        };
        List<Method> distinct = c.methods().stream().map(Method.AtBudget::method).distinct().toList();
        if (distinct.contains(Method.SNELLA)) {
            c.snella().checkEpochs(c.recipe().epochs());
        }
        Configuration hadoop = spark.sparkContext().hadoopConfiguration();
        org.sptspark.lake.LakeFiles.checkWritable(hadoop, c.lake());
        List<TaskSpec> tasks = c.tasks().isEmpty() ? c.suite().tasks() : c.tasks().stream().map(c.suite()::task).toList();
        List<Method> spt = distinct.stream().filter(Method::needsPlan).toList();
        VitConfig architecture = VitPresets.get(c.preset());
        var backboneSpace = org.sptspark.model.ParameterSpace.of(architecture);
        List<Budget> budgets = spt.isEmpty() ? List.of()
                : c.budgets().stream().map(b -> Budget.parse(b, backboneSpace.backboneSize())).toList();
        for (Method m : spt) {
            BudgetAllocator.checkReachable(budgets, backboneSpace, AllocationRule.defaults(m.planModule(), c.rank()),
                    c.strictBudgets(), warning -> log.accept("warning: " + m.id() + ": " + warning));
        }
        // baselines at a budget: the same choice on every task (the head is not counted), shown once
        var matchedLines = new ArrayList<String>();
        for (Method.AtBudget a : c.methods()) {
            if (a.budget() != null) {
                var matched = a.method().match(a.parseBudget(backboneSpace), backboneSpace, c.strictBudgets(),
                        warning -> log.accept("warning: " + warning));
                matchedLines.add(matched.describe());
            }
        }
        String sha;
        try {
            sha = CheckpointFiles.checkedSha256(hadoop, c.backbone(), architecture);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read backbone " + c.backbone(), e);
        }
        log.accept(String.format("sweep %s: %d tasks x %s, budgets %s, backbone %s (%s, sha256 %s), lake %s", c.run(),
                tasks.size(), c.methods().stream().map(Method.AtBudget::name).toList(), c.budgets(), c.backbone(),
                c.preset(), sha.substring(0, 12), c.lake()));
        matchedLines.forEach(log);
        var requests = new ArrayList<TaskTraining.Request>();
        var allocationRows = new ArrayList<Row>();
        for (TaskSpec task : tasks) {
            VitConfig config = VitPresets.get(c.preset()).withNumClasses(task.classes()).withDropPathRate(c.recipe().dropPath());
            Map<Method, List<String>> plans = new LinkedHashMap<>();
            if (!spt.isEmpty()) {
                String scores = score(spark, c, task, config, sha, log);
                var s = ScoresStore.read(hadoop, scores);
                for (Method m : spt) {
                    var rule = AllocationRule.defaults(m.planModule(), c.rank());
                    var files = new ArrayList<String>();
                    // unreachable budgets were refused or warned about above, once for every task
                    for (TuningPlan plan : new BudgetAllocator(s, rule).allocate(budgets, c.strictBudgets(), w -> { })) {
                        try {
                            files.add(PlanStore.write(hadoop, c.lake(), c.suite().name(), task.name(), scores, plan));
                        } catch (IOException e) {
                            throw new UncheckedIOException("cannot write a plan of " + task.name(), e);
                        }
                        allocationRows.addAll(AllocationTable.rows(c.run(), c.suite().name(), task.name(), plan));
                    }
                    plans.put(m, files);
                }
            }
            for (Method.AtBudget a : c.methods().stream().distinct().toList()) {
                Method m = a.method();
                List<String> planFiles = m.needsPlan() ? plans.get(m) : java.util.Collections.singletonList(null);
                for (String plan : planFiles) {
                    requests.add(new TaskTraining.Request(c.suite().name(), task, c.dataRoot(), c.backbone(), sha, config,
                            c.normalization(), m, plan, c.rank(), c.snella(), c.recipe(), c.lake(), 128, c.force(), c.versions(),
                            a.budget()));
                }
            }
        }
        long pending = requests.stream().filter(r -> c.force() || !org.sptspark.artifact.Artifacts.committed(hadoop,
                TaskTraining.folder(r, hadoop))).count();
        log.accept(String.format("stage 3: %d trainings, %d already committed; one Spark task each", requests.size(),
                requests.size() - pending));
        var trainingProgress = new TrainingProgress(TRAINING_JOB_GROUP, requests.size(), log);
        spark.sparkContext().addSparkListener(trainingProgress);
        List<Entry> entries = null;
        try {
            entries = train(spark, requests, hook);
        } finally {
            trainingProgress.close(entries != null);
            spark.sparkContext().removeSparkListener(trainingProgress);
        }
        for (Entry e : entries) {
            if (e.outcome().method().equals(Method.SNELLA.id())) {
                try {
                    var manifest = org.sptspark.artifact.Artifacts.manifest(hadoop, e.outcome().folder());
                    var space = org.sptspark.model.ParameterSpace.of(VitPresets.get(c.preset()).withNumClasses(e.task().classes()));
                    allocationRows.addAll(manifest.snella().allocationRows(c.run(), c.suite().name(), e.task().name(),
                            e.outcome().folder(), new Budget(manifest.budget().label(), manifest.budget().target()),
                            manifest.budget().achieved(), space));
                } catch (IOException ex) {
                    throw new UncheckedIOException("cannot read " + e.outcome().folder(), ex);
                }
            }
        }
        writeTables(spark, c, sha, entries, allocationRows);
        double seconds = (System.nanoTime() - started) / 1e9;
        return new Result(c.run(), entries, seconds);
    }

    /** The Spark job group of stage 3's trainings. */
    static final String TRAINING_JOB_GROUP = "spt-train";

    /** Stage 3: one Spark task per request, each on its executor's GPU or CPU. */
    static List<Entry> train(SparkSession spark, List<TaskTraining.Request> requests, TaskHook hook) {
        if (requests.isEmpty()) {
            return List.of();
        }
        var hadoop = ImageTable.hadoopConfiguration(spark);
        var jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        jsc.setJobGroup(TRAINING_JOB_GROUP, "train " + requests.size() + " (task, method, budget) combinations", false);
        return jsc.parallelize(requests, requests.size()).map(r -> {
            hook.beforeTraining(r);
            var outcome = TaskTraining.run(r, hadoop.value().value(), Devices.forCurrentTask(), LOG::info);
            return new Entry(r.task(), outcome);
        }).collect();
    }

    /** Stage 1 for one task: committed scores are reused. Returns the scores folder. */
    public static String score(SparkSession spark, Config c, TaskSpec task, VitConfig config, String sha,
            Consumer<String> log) {
        Configuration hadoop = spark.sparkContext().hadoopConfiguration();
        String folder = ScoresStore.folder(c.lake(), c.suite().name(), task.name(), c.preset(), sha);
        if (!c.force() && ScoresStore.committed(hadoop, folder)) {
            log.accept("sensitivity of " + task.name() + ": committed scores reused from " + folder);
            return folder;
        }
        int parts = Math.min(c.sensitivityBatches(), spark.sparkContext().defaultParallelism());
        var request = new DistributedSensitivity.Request(task, c.dataRoot(), c.backbone(), sha, config,
                c.normalization(), c.sensitivityBatchSize(), c.sensitivityBatches(), c.recipe().seed(), parts, 1 << 20,
                c.recipe().precision(), c.recipe().checkpointActivations());
        var result = DistributedSensitivity.run(spark, request);
        var provenance = provenance(c.suite().name(), task, c.dataRoot(), c.backbone(), c.preset(), config, sha, request,
                result, c.normalization().name(), c.versions());
        if (c.force()) {
            ScoresStore.write(hadoop, folder, result.scores(), provenance);
        } else if (!ScoresStore.writeIfAbsent(hadoop, folder, result.scores(), provenance)) {
            log.accept("sensitivity of " + task.name() + ": another writer committed scores to " + folder
                    + " first; these are discarded and those used");
            return folder;
        }
        log.accept(String.format("sensitivity of %s: %d batches in %.1f s, committed to %s", task.name(), result.batches(),
                result.seconds(), folder));
        return folder;
    }

    /** The scores manifest of a sensitivity run: how the scores were made; the commit adds their id and digest. */
    public static ScoresManifest provenance(String suite, TaskSpec t, String data, String backbone, String preset,
            VitConfig config, String sha, DistributedSensitivity.Request request, DistributedSensitivity.Result result,
            String normalization, String versions) {
        return new ScoresManifest(null, new BackboneRef(preset, config, backbone, sha), TaskRef.of(suite, t, data),
                "train800", result.batches(), request.batchSize(), result.images(), request.seed(), config.dropPathRate(),
                "trunc_normal(std 0.02), bias 0, from the seed", normalization, request.precision().label(),
                result.seconds(), Instant.now().toString(), SoftwareVersions.parse(versions), null);
    }

    private static void writeTables(SparkSession spark, Config c, String sha, List<Entry> entries, List<Row> allocation) {
        spark.conf().set("spark.sql.sources.partitionOverwriteMode", "dynamic");
        var rows = new ArrayList<Row>();
        for (Entry e : entries) {
            rows.add(ResultsTable.row(c.run(), c.suite().name(), e.task(), c.preset(), sha, e.outcome(), c.versions()));
        }
        String tables = new org.apache.hadoop.fs.Path(new org.apache.hadoop.fs.Path(c.lake()), "tables").toString();
        spark.createDataFrame(rows, ResultsTable.SCHEMA).coalesce(1).write().mode(SaveMode.Overwrite).partitionBy("run")
                .parquet(tables + "/results");
        if (!allocation.isEmpty()) {
            spark.createDataFrame(allocation, AllocationTable.SCHEMA).coalesce(1).write().mode(SaveMode.Overwrite)
                    .partitionBy("run").parquet(tables + "/allocation");
        }
    }
}
