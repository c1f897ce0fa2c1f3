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
import org.sptspark.data.Split;
import org.sptspark.data.Suite;
import org.sptspark.data.TaskRef;
import org.sptspark.data.TaskSpec;
import org.sptspark.lake.Secrets;
import org.sptspark.lake.SoftwareVersions;
import org.sptspark.model.BackboneRef;
import org.sptspark.model.CheckpointFiles;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.BackbonePresets;
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
 *
 * <p>One task's failure does not stop the others: a task whose sensitivity or plans fail is left
 * out (its trainings are not run), and each training is a Spark job of its own, so that one that
 * still fails after Spark's retries fails alone; the rest finish and commit, and {@link
 * Result#failures} names what failed and why.
 *
 * <p>With {@link Config#selectOn} (the papers' protocol), a method with several budgets (an SPT
 * method with several {@code budgets}, or {@code lora@a} and {@code lora@b}) trains at each on
 * {@code train800} and is evaluated on {@code val200}; the budget with the best top-1 there (a tie:
 * the smaller budget) is then trained on {@code train800val200} and evaluated on {@code test}, and
 * that is the method's result for the task.
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
     * @param selectOn {@link Split#VAL} to choose each budgeted method's budget per task on
     *     {@code val200} (trained on {@code train800}), {@code null} to train at every budget
     * @param maxOverEvals also evaluate {@code test} at every {@code evalEvery} point and record the
     *     largest top-1 beside the final one, as the SPT reference reports (optimistic: chosen on test)
     */
    public record Config(Suite suite, List<String> tasks, String dataRoot, String backbone, String preset, String lake,
            List<Method.AtBudget> methods, List<String> budgets, int rank, SnellaOptions snella, Recipe recipe, Normalization normalization,
            int sensitivityBatchSize, int sensitivityBatches, String run, String versions, boolean force,
            boolean strictBudgets, Split selectOn, boolean maxOverEvals) implements Serializable {

        public Config {
            if (selectOn != null && selectOn != Split.VAL) {
                throw new IllegalArgumentException("budgets are selected on val200, not on " + selectOn.vtabList());
            }
        }

        /** Settings that train at every budget and report the final top-1 only. */
        public Config(Suite suite, List<String> tasks, String dataRoot, String backbone, String preset, String lake,
                List<Method.AtBudget> methods, List<String> budgets, int rank, SnellaOptions snella, Recipe recipe,
                Normalization normalization, int sensitivityBatchSize, int sensitivityBatches, String run, String versions,
                boolean force, boolean strictBudgets) {
            this(suite, tasks, dataRoot, backbone, preset, lake, methods, budgets, rank, snella, recipe, normalization,
                    sensitivityBatchSize, sensitivityBatches, run, versions, force, strictBudgets, null, false);
        }

        /** Settings that plan an unreachable budget at the maximum, with a warning. */
        public Config(Suite suite, List<String> tasks, String dataRoot, String backbone, String preset, String lake,
                List<Method.AtBudget> methods, List<String> budgets, int rank, SnellaOptions snella, Recipe recipe,
                Normalization normalization, int sensitivityBatchSize, int sensitivityBatches, String run, String versions,
                boolean force) {
            this(suite, tasks, dataRoot, backbone, preset, lake, methods, budgets, rank, snella, recipe, normalization,
                    sensitivityBatchSize, sensitivityBatches, run, versions, force, false);
        }
    }

    /**
     * One training's outcome with its task.
     *
     * @param selectedOn the split its budget was chosen on ({@code val200}) for a method whose budget
     *     the sweep selected per task, else {@code null}
     */
    public record Entry(TaskSpec task, TaskTraining.Outcome outcome, String selectedOn) implements Serializable {

        public Entry(TaskSpec task, TaskTraining.Outcome outcome) {
            this(task, outcome, null);
        }

        /**
         * The summary's column: {@code spt-lora@val200} for a budget selected per task on val200 (the
         * cell's budget is the outcome's), else the outcome's ({@code spt-lora@20k}, {@code linear}).
         */
        public String column() {
            return selectedOn == null ? outcome.column() : outcome.method() + "@" + selectedOn;
        }
    }

    /**
     * A budget selection's training: on {@code train800}, its top-1 on {@code val200}.
     *
     * @param column the column its final result goes to ({@code spt-lora@val200})
     * @param chosen whether its budget was the one chosen (and trained on {@code train800val200})
     */
    public record Candidate(TaskSpec task, String column, TaskTraining.Outcome outcome, boolean chosen)
            implements Serializable {}

    /**
     * Something that failed (after Spark's retries) while the sweep went on without it.
     *
     * @param task the task's name
     * @param what the training's column ({@code spt-lora@20k}; a selection's training {@code
     *     spt-lora@20k on train800}), or {@code null} when a task-wide stage failed
     * @param stage {@code sensitivity}, {@code planning}, {@code selection} or {@code training}
     * @param skipped trainings not run because of it
     * @param error what was thrown
     */
    public record Failure(String task, String what, String stage, int skipped, Throwable error) {

        /** The innermost message of {@link #error}, on one line, redacted. */
        public String reason() {
            return Sweep.reason(error);
        }

        /** {@code gen_x: sensitivity failed (2 trainings not run)}, {@code gen_x lora@20k: training failed}. */
        public String describe() {
            return task + (what == null ? "" : " " + what) + ": " + stage + " failed"
                    + (skipped > 0 ? " (" + skipped + " training" + (skipped == 1 ? "" : "s") + " not run)" : "");
        }
    }

    /**
     * What a sweep produced.
     *
     * @param entries the trainings whose results the tables and the summary show, in the order of the
     *     tasks and the methods
     * @param candidates a budget selection's trainings ({@code train800}, evaluated on {@code val200})
     * @param failures what failed after Spark's retries; the rest of the sweep is done and committed
     */
    public record Result(String run, List<Entry> entries, List<Candidate> candidates, List<Failure> failures,
            double seconds) {

        public Result(String run, List<Entry> entries, double seconds) {
            this(run, entries, List.of(), List.of(), seconds);
        }
    }

    /**
     * Called on the executor just before each training of a sweep, with that training's request. An
     * exception it throws fails the training's Spark task as a failed training would (Spark retries it,
     * then fails that training's job, and the sweep goes on without it); tests use it to fail or pause a
     * sweep at a chosen (task, method). It travels to the executors inside the task's closure.
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
        BackboneConfig architecture = BackbonePresets.get(c.preset());
        var backboneSpace = architecture.space();
        List<Budget> budgets = spt.isEmpty() ? List.of()
                : c.budgets().stream().map(b -> Budget.parse(b, backboneSpace.backboneSize())).toList();
        // one budget written twice (20k and 20000) would train twice under two names
        var seen = new LinkedHashMap<String, String>();
        for (Budget b : budgets) {
            String before = seen.putIfAbsent("spt@" + b.target(), b.label());
            if (before != null) {
                throw new IllegalArgumentException("--budgets gives " + before + " and " + b.label() + ", the same budget ("
                        + b.target() + "): give it once");
            }
        }
        for (Method.AtBudget a : c.methods()) {
            if (a.budget() != null) {
                long target = a.parseBudget(backboneSpace).target();
                String before = seen.putIfAbsent(a.method().id() + "@" + target, a.name());
                if (before != null && !before.equals(a.name())) {
                    throw new IllegalArgumentException("--methods gives " + before + " and " + a.name() + ", the same budget ("
                            + target + "): give it once");
                }
            }
        }
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
        if (c.selectOn() != null) {
            log.accept("protocol: a method with several budgets trains at each on train800, and the best top-1 on "
                    + c.selectOn().vtabList() + " (a tie: the smaller budget) is retrained on train800val200 and tested");
        }
        if (c.maxOverEvals()) {
            log.accept("protocol: test is evaluated every " + c.recipe().evalEvery() + " epochs and after the last too;"
                    + " the max over those evaluations is recorded beside the final top-1 (the reference's figure;"
                    + " optimistic, chosen on test)");
        }
        var slots = new ArrayList<Slot>();
        var failures = new ArrayList<Failure>();
        var allocationRows = new ArrayList<Row>();
        for (TaskSpec task : tasks) {
            BackboneConfig config = BackbonePresets.get(c.preset()).withNumClasses(task.classes()).withDropPathRate(c.recipe().dropPath());
            Map<Method, List<String>> plans = new LinkedHashMap<>();
            var taskAllocation = new ArrayList<Row>();
            String stage = "sensitivity";
            try {
                if (!spt.isEmpty()) {
                    String scores = score(spark, c, task, config, sha, log);
                    stage = "planning";
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
                            taskAllocation.addAll(AllocationTable.rows(c.run(), c.suite().name(), task.name(), plan));
                        }
                        plans.put(m, files);
                    }
                }
            } catch (Exception e) { // a failed Spark job's SparkException too, which Java does not see declared
                int skipped = slots(c, task, config, sha, Map.of()).stream().mapToInt(Slot::trainings).sum();
                var failure = new Failure(task.name(), null, stage, skipped, e);
                failures.add(failure);
                log.accept("task " + failure.describe() + ": " + failure.reason() + "; the sweep goes on without it");
                continue;
            }
            allocationRows.addAll(taskAllocation);
            slots.addAll(slots(c, task, config, sha, plans));
        }
        int total = slots.stream().mapToInt(Slot::trainings).sum();
        var known = new ArrayList<TaskTraining.Request>();
        slots.forEach(slot -> known.addAll(slot.firstRound()));
        long committed = known.stream().filter(r -> !c.force() && org.sptspark.artifact.Artifacts.committed(hadoop,
                TaskTraining.folder(r, hadoop))).count();
        long groups = slots.stream().filter(Slot::selects).count();
        if (groups == 0) {
            log.accept(String.format("stage 3: %d trainings, %d already committed; one Spark task each", total, committed));
        } else {
            int selecting = slots.stream().filter(Slot::selects).mapToInt(x -> x.candidates.size()).sum();
            log.accept(String.format("stage 3: %d trainings (%d on train800 for the budget selection on val200, %d on"
                    + " train800val200 at the budgets chosen, %d others), %d of the %d before the choice already committed;"
                    + " one Spark task each", total, selecting, groups, known.size() - selecting, committed, known.size()));
        }
        var trainingProgress = new TrainingProgress(TRAINING_JOB_GROUP, total, log);
        spark.sparkContext().addSparkListener(trainingProgress);
        boolean finished = false;
        try {
            train(spark, slots, hook, trainingProgress, log);
            finished = true;
        } finally {
            trainingProgress.close(finished);
            spark.sparkContext().removeSparkListener(trainingProgress);
        }
        var entries = new ArrayList<Entry>();
        var candidates = new ArrayList<Candidate>();
        for (Slot slot : slots) {
            slot.collect(entries, candidates, failures, c.selectOn());
        }
        if (c.maxOverEvals()) {
            long without = entries.stream().filter(e -> e.outcome().maxTop1() == null).count();
            if (without > 0) {
                log.accept("warning: " + without + " of " + entries.size() + " results reuse artifacts trained without"
                        + " test evaluations at every --eval-every point: their max over evaluations is unknown (--force"
                        + " retrains them)");
            }
        }
        for (Entry e : entries) {
            if (e.outcome().method().equals(Method.SNELLA.id())) {
                try {
                    var manifest = org.sptspark.artifact.Artifacts.manifest(hadoop, e.outcome().folder());
                    var space = BackbonePresets.get(c.preset()).withNumClasses(e.task().classes()).space();
                    allocationRows.addAll(manifest.snella().allocationRows(c.run(), c.suite().name(), e.task().name(),
                            e.outcome().folder(), new Budget(manifest.budget().label(), manifest.budget().target()),
                            manifest.budget().achieved(), space));
                } catch (IOException ex) {
                    throw new UncheckedIOException("cannot read " + e.outcome().folder(), ex);
                }
            }
        }
        writeTables(spark, c, sha, entries, candidates, allocationRows);
        for (Failure f : failures) {
            log.accept("failed: " + f.describe() + ": " + f.reason());
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        return new Result(c.run(), entries, candidates, failures, seconds);
    }

    /**
     * A task's trainings of one method: one training (a baseline, or one budget), or, when the sweep
     * selects budgets and the method has several, a selection's trainings and then the final one at
     * the budget chosen.
     */
    private static final class Slot {

        final TaskSpec task;
        final String column;
        /** The trainings on train800val200, one per budget (one for a single training). */
        final List<TaskTraining.Request> finals;
        /** Their columns ({@code spt-lora@20k}, {@code linear}). */
        final List<String> names;
        /** The selection's trainings, in the order of {@code finals}; empty when nothing is selected. */
        final List<TaskTraining.Request> candidates;
        final TaskTraining.Outcome[] candidateOutcomes;
        final Throwable[] candidateErrors;
        int chosen = -1;
        TaskTraining.Outcome outcome;
        Throwable error;
        boolean finalSubmitted;

        Slot(TaskSpec task, String column, List<TaskTraining.Request> finals, List<String> names, boolean select) {
            this.task = task;
            this.column = column;
            this.finals = finals;
            this.names = names;
            this.candidates = select ? finals.stream().map(TaskTraining.Request::forSelection).toList() : List.of();
            this.candidateOutcomes = new TaskTraining.Outcome[candidates.size()];
            this.candidateErrors = new Throwable[candidates.size()];
        }

        boolean selects() {
            return !candidates.isEmpty();
        }

        int trainings() {
            return selects() ? candidates.size() + 1 : finals.size();
        }

        /** What can be submitted at once: the selection's trainings, or every final one. */
        List<TaskTraining.Request> firstRound() {
            return selects() ? candidates : finals;
        }

        /**
         * The budget chosen once every selection training ended: the best val200 top-1, a tie to the
         * smaller budget; -1 while one is running or when one failed.
         */
        int choose() {
            int best = -1;
            for (int i = 0; i < candidates.size(); i++) {
                if (candidateOutcomes[i] == null) {
                    return -1;
                }
                var o = candidateOutcomes[i];
                if (best < 0 || o.top1() > candidateOutcomes[best].top1() || o.top1() == candidateOutcomes[best].top1()
                        && o.budgetTarget() < candidateOutcomes[best].budgetTarget()) {
                    best = i;
                }
            }
            return best;
        }

        void collect(List<Entry> entries, List<Candidate> selection, List<Failure> failures, Split selectOn) {
            for (int i = 0; i < candidates.size(); i++) {
                if (candidateOutcomes[i] != null) {
                    selection.add(new Candidate(task, column, candidateOutcomes[i], i == chosen));
                } else if (candidateErrors[i] != null) {
                    failures.add(new Failure(task.name(), names.get(i) + " on train800",
                            "selection", 0, candidateErrors[i]));
                }
            }
            if (!selects()) {
                if (outcome != null) {
                    entries.add(new Entry(task, outcome));
                } else if (error != null) {
                    failures.add(new Failure(task.name(), column, "training", 0, error));
                }
            } else {
                if (outcome != null) {
                    entries.add(new Entry(task, outcome, selectOn.vtabList()));
                } else if (error != null) {
                    failures.add(new Failure(task.name(), names.get(chosen), "training", 0, error));
                } else {
                    long failed = java.util.Arrays.stream(candidateErrors).filter(java.util.Objects::nonNull).count();
                    failures.add(new Failure(task.name(), column, "selection", 1, new IllegalStateException(failed + " of "
                            + candidates.size() + " selection trainings failed, so no budget was chosen")));
                }
            }
        }
    }

    /** The slots of a task, in the order of the methods (a selected method at its first budget's place). */
    private static List<Slot> slots(Config c, TaskSpec task, BackboneConfig config, String sha, Map<Method, List<String>> plans) {
        var slots = new ArrayList<Slot>();
        var grouped = new LinkedHashMap<String, List<TaskTraining.Request>>();
        var names = new LinkedHashMap<String, List<String>>();
        for (Method.AtBudget a : c.methods().stream().distinct().toList()) {
            Method m = a.method();
            // SPT's plans come in the order of the budgets (absent when only counting the trainings)
            int n = m.needsPlan() ? c.budgets().size() : 1;
            for (int i = 0; i < n; i++) {
                String plan = m.needsPlan() ? plans.getOrDefault(m, List.of()).stream().skip(i).findFirst().orElse(null) : null;
                var r = new TaskTraining.Request(c.suite().name(), task, c.dataRoot(), c.backbone(), sha, config,
                        c.normalization(), m, plan, c.rank(), c.snella(), c.recipe(), c.lake(), 128, c.force(), c.versions(),
                        a.budget()).withMaxOverEvals(c.maxOverEvals());
                // a budgeted method (SPT at its budgets, lora@a and lora@b) is one group of budgets; plain
                // lora (rank --rank on every matrix) is a baseline of its own beside lora@a
                String key = m.needsPlan() || a.budget() != null ? m.id() + "@" : a.name();
                grouped.computeIfAbsent(key, k -> new ArrayList<>()).add(r);
                names.computeIfAbsent(key, k -> new ArrayList<>()).add(m.needsPlan() ? m.id() + "@" + c.budgets().get(i).trim()
                        : a.name());
            }
        }
        for (var g : grouped.entrySet()) {
            var requests = g.getValue();
            boolean budgeted = requests.get(0).method().needsPlan() || requests.get(0).budget() != null;
            if (c.selectOn() != null && budgeted && requests.size() > 1) {
                slots.add(new Slot(task, g.getKey() + c.selectOn().vtabList(), requests, names.get(g.getKey()), true));
            } else {
                for (int i = 0; i < requests.size(); i++) {
                    String name = names.get(g.getKey()).get(i);
                    slots.add(new Slot(task, name, List.of(requests.get(i)), List.of(name), false));
                }
            }
        }
        return slots;
    }

    /** The Spark job group of stage 3's trainings. */
    static final String TRAINING_JOB_GROUP = "spt-train";

    /** A submitted training: its slot, which of the slot's trainings it is (-1: the final one of a selection). */
    private record Running(Slot slot, int index, TaskTraining.Request request,
            org.apache.spark.api.java.JavaFutureAction<List<TaskTraining.Outcome>> future) {}

    /**
     * Stage 3: one Spark job per training (each on its executor's GPU or CPU), submitted together so
     * that they run side by side; a selection's final training is submitted when its last selection
     * training ends. A job that fails after Spark's retries fails its training only.
     */
    static void train(SparkSession spark, List<Slot> slots, TaskHook hook, TrainingProgress progress, Consumer<String> log) {
        if (slots.isEmpty()) {
            return;
        }
        var hadoop = ImageTable.hadoopConfiguration(spark);
        var jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        jsc.setJobGroup(TRAINING_JOB_GROUP, "train (task, method, budget) combinations", false);
        var running = new ArrayList<Running>();
        java.util.function.BiFunction<Slot, Integer, Running> submit = (slot, index) -> {
            TaskTraining.Request request = index < 0 ? slot.finals.get(slot.chosen) : slot.firstRound().get(index);
            var future = jsc.parallelize(List.of(request), 1).map(r -> {
                hook.beforeTraining(r);
                return TaskTraining.run(r, hadoop.value().value(), Devices.forCurrentTask(), LOG::info);
            }).collectAsync();
            return new Running(slot, index, request, future);
        };
        for (Slot slot : slots) {
            for (int i = 0; i < slot.firstRound().size(); i++) {
                running.add(submit.apply(slot, i));
            }
        }
        try {
            await(running, submit, progress, log);
        } finally {
            jsc.clearJobGroup();
        }
    }

    /** Collects each job as it ends; submits a selection's final training when its last selection training ends. */
    private static void await(List<Running> running, java.util.function.BiFunction<Slot, Integer, Running> submit,
            TrainingProgress progress, Consumer<String> log) {
        try {
            while (!running.isEmpty()) {
                boolean any = false;
                for (Running job : List.copyOf(running)) {
                    if (!job.future().isDone()) {
                        continue;
                    }
                    any = true;
                    running.remove(job);
                    TaskTraining.Outcome outcome = null;
                    Throwable error = null;
                    try {
                        outcome = job.future().get().get(0);
                    } catch (java.util.concurrent.ExecutionException e) {
                        error = e.getCause() == null ? e : e.getCause();
                    }
                    if (error != null) {
                        progress.trainingFailed();
                        String name = job.index() < 0 ? job.slot().names.get(job.slot().chosen)
                                : job.slot().names.get(job.index());
                        log.accept("training " + job.request().task().name() + " " + name
                                + (job.request().selection() ? " on train800" : "") + " failed: " + reason(error));
                    }
                    Slot slot = job.slot();
                    if (!slot.selects() || job.index() < 0) {
                        slot.outcome = outcome;
                        slot.error = error;
                    } else {
                        slot.candidateOutcomes[job.index()] = outcome;
                        slot.candidateErrors[job.index()] = error;
                        if (allEnded(slot) && !slot.finalSubmitted) {
                            slot.finalSubmitted = true;
                            slot.chosen = slot.choose();
                            if (slot.chosen >= 0) {
                                log.accept(selectionLine(slot));
                                running.add(submit.apply(slot, -1));
                            } else {
                                progress.trainingFailed(); // no budget chosen: the final training will not run
                                log.accept(slot.task.name() + " " + slot.column + ": a selection training failed, so no"
                                        + " budget is chosen and nothing is trained on train800val200");
                            }
                        }
                    }
                }
                if (!any) {
                    Thread.sleep(50);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running.forEach(job -> job.future().cancel(true));
            throw new IllegalStateException("the sweep was interrupted in stage 3", e);
        }
    }

    private static boolean allEnded(Slot slot) {
        for (int i = 0; i < slot.candidates.size(); i++) {
            if (slot.candidateOutcomes[i] == null && slot.candidateErrors[i] == null) {
                return false;
            }
        }
        return true;
    }

    /** {@code gen_x spt-lora: val200 top-1 0.312 at 10k, 0.344 at 20k; 20k chosen, training it on train800val200}. */
    private static String selectionLine(Slot slot) {
        var parts = new ArrayList<String>();
        for (int i = 0; i < slot.candidates.size(); i++) {
            parts.add(String.format(java.util.Locale.ROOT, "%.3f at %s", slot.candidateOutcomes[i].top1(),
                    slot.names.get(i).substring(slot.names.get(i).indexOf('@') + 1)));
        }
        return slot.task.name() + " " + slot.column + ": val200 top-1 " + String.join(", ", parts) + "; "
                + slot.names.get(slot.chosen).substring(slot.names.get(slot.chosen).indexOf('@') + 1)
                + " chosen, training it on train800val200";
    }

    /** The message worth showing of a failure: its innermost cause's, on one line, redacted. */
    static String reason(Throwable error) {
        Throwable t = error;
        String message = null;
        for (int depth = 0; t != null && depth < 32; t = t.getCause(), depth++) {
            if (t.getMessage() != null && !t.getMessage().isBlank()) {
                message = t.getMessage();
            }
            if (t.getCause() == t) {
                break;
            }
        }
        if (message == null) {
            message = error.getClass().getSimpleName();
        }
        // a task's exception that Spark passed on as text: keep its line
        String line = message.lines().filter(l -> !l.isBlank() && !l.startsWith("\t") && !l.startsWith(" ")).findFirst()
                .orElse(message).strip();
        return Secrets.redact(line);
    }

    /** Stage 1 for one task: committed scores are reused. Returns the scores folder. */
    public static String score(SparkSession spark, Config c, TaskSpec task, BackboneConfig config, String sha,
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
            org.sptspark.model.BackboneConfig config, String sha, DistributedSensitivity.Request request, DistributedSensitivity.Result result,
            String normalization, String versions) {
        return new ScoresManifest(null, new BackboneRef(preset, config, backbone, sha), TaskRef.of(suite, t, data),
                "train800", result.batches(), request.batchSize(), result.images(), request.seed(), config.dropPathRate(),
                "trunc_normal(std 0.02), bias 0, from the seed", normalization, request.precision().label(),
                result.seconds(), Instant.now().toString(), SoftwareVersions.parse(versions), null);
    }

    private static void writeTables(SparkSession spark, Config c, String sha, List<Entry> entries,
            List<Candidate> candidates, List<Row> allocation) {
        spark.conf().set("spark.sql.sources.partitionOverwriteMode", "dynamic");
        var rows = new ArrayList<Row>();
        for (Entry e : entries) {
            rows.add(ResultsTable.row(c.run(), c.suite().name(), e.task(), c.preset(), sha, e.outcome(), c.versions(),
                    e.selectedOn()));
        }
        String tables = new org.apache.hadoop.fs.Path(new org.apache.hadoop.fs.Path(c.lake()), "tables").toString();
        if (!rows.isEmpty()) {
            spark.createDataFrame(rows, ResultsTable.SCHEMA).coalesce(1).write().mode(SaveMode.Overwrite).partitionBy("run")
                    .parquet(tables + "/results");
        }
        if (!candidates.isEmpty()) {
            var selection = new ArrayList<Row>();
            for (Candidate k : candidates) {
                selection.add(ResultsTable.selectionRow(c.run(), c.suite().name(), k.task(), c.preset(), sha, k.outcome(),
                        k.column(), k.chosen(), c.versions()));
            }
            spark.createDataFrame(selection, ResultsTable.SELECTION_SCHEMA).coalesce(1).write().mode(SaveMode.Overwrite)
                    .partitionBy("run").parquet(tables + "/" + ResultsTable.SELECTION_TABLE);
        }
        if (!allocation.isEmpty()) {
            spark.createDataFrame(allocation, AllocationTable.SCHEMA).coalesce(1).write().mode(SaveMode.Overwrite)
                    .partitionBy("run").parquet(tables + "/allocation");
        }
    }
}
