package org.sptspark.training;

import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.sptspark.allocation.MatchedBudget;
import org.sptspark.allocation.PlanJson;
import org.sptspark.allocation.TuningPlan;
import org.sptspark.artifact.ArtifactManifest;
import org.sptspark.artifact.Artifacts;
import org.sptspark.data.DatasetReader;
import org.sptspark.data.Normalization;
import org.sptspark.data.Sample;
import org.sptspark.data.Split;
import org.sptspark.data.TaskRef;
import org.sptspark.data.TaskSpec;
import org.sptspark.lake.SoftwareVersions;
import org.sptspark.model.BackboneRef;
import org.sptspark.model.CheckpointFiles;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.Backbone;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.Backbones;
import org.sptspark.modules.Unstructured;
import org.sptspark.snella.Competition;
import org.sptspark.snella.SnellaManifest;
import org.sptspark.snella.SnellaOptions;
import org.sptspark.tuning.Accuracy;
import org.sptspark.tuning.LabeledImages;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.Recipe;
import org.sptspark.tuning.Trainer;
import org.sptspark.tuning.TunedModel;
import org.sptspark.tuning.TuningLayout;

/**
 * SPT's stage 3 for one (task, method, budget), without Spark: load the backbone, build the
 * method's layout (from the plan for SPT), train on {@code train800val200}, evaluate top-1 on
 * {@code test}, and commit the artifact. A budget selection's trainings run on {@code train800} and
 * evaluate on {@code val200} instead ({@link Request#forSelection}), into a folder of their own. A committed artifact is not redone unless forced; when
 * another writer (a concurrent sweep) commits the same artifact while this one trains, this one's
 * is discarded and the committed one is returned, as reused.
 */
public final class TaskTraining {

    private TaskTraining() {}

    /**
     * One training run.
     *
     * @param config the backbone's architecture with the task's classes and the recipe's drop-path
     * @param planUri the plan JSON for SPT methods, else {@code null}
     * @param rank the baselines' LoRA/Adapter rank (SPT takes its plan's, SNELLA its own)
     * @param snella SNELLA's settings (used by {@link Method#SNELLA} only)
     * @param versions recorded in the manifest
     * @param budget for {@link Method#LORA} and {@link Method#ADAPTER} only: a budget ({@code 20k}) that
     *     sizes the modules instead of {@code rank} ({@link Method#match}); {@code null} for every
     *     matrix at {@code rank}
     * @param trainSplit the split trained on ({@link Split#TRAINVAL}, or {@link Split#TRAIN} for a
     *     budget selection's training)
     * @param evalSplit the split the final top-1 is taken on ({@link Split#TEST}, or {@link Split#VAL})
     * @param maxOverEvals also evaluate {@code evalSplit} at every {@code evalEvery} point and record the
     *     largest top-1 (the SPT reference's reported figure): one more evaluation per point, the
     *     trained artifact unchanged
     */
    public record Request(String suite, TaskSpec task, String dataRoot, String backboneUri, String backboneSha,
            BackboneConfig config, Normalization normalization, Method method, String planUri, int rank, SnellaOptions snella,
            Recipe recipe, String lake, int evalBatchSize, boolean force, String versions, String budget,
            Split trainSplit, Split evalSplit, boolean maxOverEvals) implements Serializable {

        public Request {
            config.requirePrecision(recipe.precision());
            if (budget != null) {
                new Method.AtBudget(method, budget);
            }
            if (trainSplit == null || evalSplit == null) {
                throw new IllegalArgumentException("a training needs its train and evaluation splits");
            }
            if (trainSplit == evalSplit || trainSplit == Split.TRAINVAL && evalSplit == Split.VAL
                    || trainSplit == Split.TEST) {
                throw new IllegalArgumentException("training on " + trainSplit.vtabList() + " and evaluating on "
                        + evalSplit.vtabList() + " would evaluate on trained images");
            }
        }

        /** A request on {@code train800val200}, evaluated on {@code test}, with a baseline budget or none. */
        public Request(String suite, TaskSpec task, String dataRoot, String backboneUri, String backboneSha,
                BackboneConfig config, Normalization normalization, Method method, String planUri, int rank,
                SnellaOptions snella, Recipe recipe, String lake, int evalBatchSize, boolean force, String versions,
                String budget) {
            this(suite, task, dataRoot, backboneUri, backboneSha, config, normalization, method, planUri, rank, snella,
                    recipe, lake, evalBatchSize, force, versions, budget, Split.TRAINVAL, Split.TEST, false);
        }

        /** A request without a baseline budget. */
        public Request(String suite, TaskSpec task, String dataRoot, String backboneUri, String backboneSha,
                BackboneConfig config, Normalization normalization, Method method, String planUri, int rank,
                SnellaOptions snella, Recipe recipe, String lake, int evalBatchSize, boolean force, String versions) {
            this(suite, task, dataRoot, backboneUri, backboneSha, config, normalization, method, planUri, rank, snella,
                    recipe, lake, evalBatchSize, force, versions, null);
        }

        /** This training as a budget selection runs it: on {@code train800}, evaluated on {@code val200}. */
        public Request forSelection() {
            return new Request(suite, task, dataRoot, backboneUri, backboneSha, config, normalization, method, planUri, rank,
                    snella, recipe, lake, evalBatchSize, force, versions, budget, Split.TRAIN, Split.VAL, false);
        }

        /** This training with the largest top-1 over its evaluations recorded, or not. */
        public Request withMaxOverEvals(boolean on) {
            return new Request(suite, task, dataRoot, backboneUri, backboneSha, config, normalization, method, planUri, rank,
                    snella, recipe, lake, evalBatchSize, force, versions, budget, trainSplit, evalSplit, on);
        }

        /** Whether this is a budget selection's training (not on {@code train800val200}). */
        public boolean selection() {
            return trainSplit != Split.TRAINVAL;
        }

        /**
         * A baseline's modules sized to {@link #budget} on this request's backbone, or {@code null}
         * without one; a budget above the maximum is trained at it (the sweep warned, or refused it
         * when strict, on the driver).
         */
        public MatchedBudget matched() {
            if (budget == null) {
                return null;
            }
            var space = config.space();
            return method.match(new Method.AtBudget(method, budget).parseBudget(space), space, false, w -> { });
        }

        /** The recipe the training runs: the request's, with SNELLA's per-task batch size and weight decay. */
        public Recipe effectiveRecipe() {
            return method == Method.SNELLA ? snellaRecipe(snella, task.name(), recipe) : recipe;
        }

        /**
         * The budget label of the request's artifact: the plan's budget for SPT, the target sparsity
         * for SNELLA, the budget of a baseline sized to one.
         */
        String budgetLabel(TuningPlan plan) {
            if (plan != null) {
                return plan.budget().label();
            }
            if (budget != null) {
                return budget;
            }
            return method == Method.SNELLA ? snella.label(task.name()) : null;
        }
    }

    /**
     * What a run produced, or found committed.
     *
     * @param budgetLabel the plan's budget for SPT, SNELLA's target sparsity, a baseline's budget, else {@code null}
     * @param achieved backbone parameters trained (the budget's count; SNELLA's non-zero delta entries)
     * @param trainableWithHead everything trained, the head included
     * @param perClass top-1 per class on test
     * @param trainable backbone scalars trained, the head excluded (for SNELLA its factors, unlike {@code achieved})
     * @param top1 top-1 on {@code evalSplit} ({@code testImages} its images)
     * @param trainSplit and {@code evalSplit}: {@code train800val200} and {@code test}, or a budget
     *     selection's {@code train800} and {@code val200}
     * @param maxTop1 the largest {@code evalSplit} top-1 over the evaluations during training, where the
     *     training recorded it ({@link Request#maxOverEvals}), else {@code null}
     */
    public record Outcome(String folder, String method, String budgetLabel, long budgetTarget, long achieved,
            long trainableWithHead, double top1, double[] perClass, long testImages, double trainSeconds,
            double evalSeconds, long artifactBytes, String planId, boolean reused, String precision, long trainable,
            String trainSplit, String evalSplit, Double maxTop1) implements Serializable {

        /** An outcome on {@code train800val200}, evaluated on {@code test}, without the max over evaluations. */
        public Outcome(String folder, String method, String budgetLabel, long budgetTarget, long achieved,
                long trainableWithHead, double top1, double[] perClass, long testImages, double trainSeconds,
                double evalSeconds, long artifactBytes, String planId, boolean reused, String precision, long trainable) {
            this(folder, method, budgetLabel, budgetTarget, achieved, trainableWithHead, top1, perClass, testImages,
                    trainSeconds, evalSeconds, artifactBytes, planId, reused, precision, trainable, "train800val200", "test",
                    null);
        }

        /** The column a summary gives it: {@code lora@20k}, {@code spt-lora@0.4M}, {@code linear}. */
        public String column() {
            return budgetLabel == null ? method : method + "@" + budgetLabel;
        }
    }

    /** The artifact folder a request commits to. */
    public static String folder(Request r, Configuration hadoop) {
        return folder(r, r.method().needsPlan() ? plan(r, hadoop) : null);
    }

    /**
     * The artifact folder: {@link Artifacts#folder}, or for a budget selection's training the same leaf
     * under {@code <train split>-<eval split>/} beside the final artifacts
     * ({@code .../vit_demo_patch8_32-<sha12>/train800-val200/spt-lora-20k}): a training on {@code train800}
     * is another artifact than the one on {@code train800val200} at the same budget.
     */
    static String folder(Request r, TuningPlan plan) {
        String folder = Artifacts.folder(r.lake(), r.suite(), r.task().name(), r.config().name(), r.backboneSha(),
                r.method(), r.budgetLabel(plan));
        if (!r.selection()) {
            return folder;
        }
        Path leaf = new Path(folder);
        return new Path(new Path(leaf.getParent(), r.trainSplit().vtabList() + "-" + r.evalSplit().vtabList()),
                leaf.getName()).toString();
    }

    /**
     * Trains, evaluates and commits, or returns the committed outcome.
     *
     * @param device where the model lives (a task's GPU, or the CPU)
     * @param progress receives progress lines (one per epoch)
     */
    public static Outcome run(Request r, Configuration hadoop, ai.djl.Device device, Consumer<String> progress) {
        // the lines name the lake's folders: no credential in them
        Consumer<String> log = line -> progress.accept(org.sptspark.lake.Secrets.redact(line));
        // One training at a time per JVM, from loading to evaluation: the modules' dropout draws from the
        // engine's global generator, reseeded every step, and DJL allows one gradient collector per JVM.
        synchronized (org.sptspark.model.Gradients.ENGINE_LOCK) {
            return runLocked(r, hadoop, device, log);
        }
    }

    /**
     * The recipe a task trains SNELLA with: the sweep's, with this task's batch size and weight
     * decay where the options set them (the reference scripts set both per task).
     */
    public static Recipe snellaRecipe(SnellaOptions options, String task, Recipe recipe) {
        var b = recipe.toBuilder();
        options.batchSize(task).ifPresent(b::batchSize);
        options.weightDecay(task).ifPresent(b::weightDecay);
        return b.build();
    }

    private static Outcome runLocked(Request r, Configuration hadoop, ai.djl.Device device, Consumer<String> log) {
        if (r.method() == Method.SNELLA) {
            r.snella().checkEpochs(r.effectiveRecipe().epochs());
        }
        TuningPlan plan = r.method().needsPlan() ? plan(r, hadoop) : null;
        String folder = folder(r, plan);
        try {
            if (!r.force() && Artifacts.committed(hadoop, folder)) {
                log.accept("committed artifact exists at " + folder + "; not retraining");
                return outcome(folder, Artifacts.manifest(hadoop, folder), true);
            }
            var reader = new DatasetReader(hadoop);
            List<Sample> train = reader.read(r.dataRoot(), r.task(), r.trainSplit());
            List<Sample> val = reader.read(r.dataRoot(), r.task(), Split.VAL);
            List<Sample> test = r.evalSplit() == Split.VAL ? val : reader.read(r.dataRoot(), r.task(), r.evalSplit());
            int size = r.config().imageSize();
            try (NDManager manager = NDManager.newBaseManager(device)) {
                Backbone model = Backbones.create(manager, r.config(), 0);
                CheckpointFiles.loadVerified(model, hadoop, r.backboneUri(), r.backboneSha(), manager);
                MatchedBudget matched = r.matched();
                TuningLayout layout;
                if (plan != null) {
                    layout = TuningLayout.fromPlan(r.method(), plan, PlanJson.id(plan), model.space());
                } else if (matched != null) {
                    layout = TuningLayout.matched(r.method(), model.space(), matched);
                    log.accept(r.task().name() + " " + matched.describe());
                } else {
                    layout = TuningLayout.baseline(r.method(), model.space(),
                            r.method() == Method.SNELLA ? r.snella().rank() : r.rank());
                }
                long started = System.nanoTime();
                LabeledImages trainImages = LabeledImages.load(train, hadoop, size, r.normalization());
                LabeledImages valImages = LabeledImages.load(val, hadoop, size, r.normalization());
                log.accept(String.format(Locale.ROOT, "%s %s: %d training images decoded in %.1f s; training %,d + %,d (head) parameters",
                        r.task().name(), label(r, plan), trainImages.count(), (System.nanoTime() - started) / 1e9,
                        layout.trainable(), model.space().headSize()));
                try (var tuned = TunedModel.forTraining(model, layout, r.effectiveRecipe().seed(), Unstructured.DELTA)) {
                    if (r.method() == Method.SNELLA) {
                        Competition competition = tuned.hook(Competition.class);
                        competition.start(r.snella(), r.snella().target(r.task().name()), r.effectiveRecipe().epochs());
                        log.accept(String.format(Locale.ROOT, "%s snella: %,d matrix entries compete; non-zero volume"
                                + " %,d -> %,d (sparsity %.3f -> %.3f) over %d epochs", r.task().name(),
                                competition.allocator().totalEntries(), competition.allocator().initVolume(),
                                competition.allocator().targetVolume(), r.snella().initSparsity(),
                                r.snella().target(r.task().name()), r.effectiveRecipe().epochs()));
                    }
                    String name = r.task().name() + " " + label(r, plan) + (r.selection()
                            ? " (" + r.trainSplit().vtabList() + ", for the budget selection)" : "");
                    // the evaluation split at every monitoring point too: for the max over evaluations, and
                    // for free where it is the monitoring split (a selection's val200)
                    boolean everyPoint = r.maxOverEvals() || r.evalSplit() == Split.VAL;
                    var atPoints = new ArrayList<Accuracy>();
                    var evaluations = new ArrayList<ArtifactManifest.Evaluation>();
                    double[] lastEvalSeconds = {0};
                    java.util.function.Supplier<Accuracy> monitor = () -> {
                        long v0 = System.nanoTime();
                        Accuracy v = Trainer.evaluate(tuned, valImages.batches(r.evalBatchSize()), r.task().classes());
                        if (r.evalSplit() == Split.VAL) {
                            atPoints.add(v);
                            lastEvalSeconds[0] = (System.nanoTime() - v0) / 1e9;
                        } else if (everyPoint) {
                            long t0 = System.nanoTime();
                            atPoints.add(Trainer.evaluate(tuned, LabeledImages.stream(test, hadoop, size, r.normalization(),
                                    r.evalBatchSize()), r.task().classes()));
                            lastEvalSeconds[0] = (System.nanoTime() - t0) / 1e9;
                        }
                        return v;
                    };
                    Trainer.Result result = Trainer.train(tuned, trainImages, r.effectiveRecipe(), monitor, e -> {
                        if (!Double.isNaN(e.monitorAccuracy())) {
                            evaluations.add(new ArtifactManifest.Evaluation(e.epoch(), e.monitorAccuracy(),
                                    everyPoint ? atPoints.get(atPoints.size() - 1).top1() : null));
                        }
                        log.accept(String.format(Locale.ROOT,
                                "%s epoch %d/%d lr %.2e loss %.4f train top-1 %.3f %.0f img/s%s%s", name, e.epoch(),
                                e.epochs(), e.lr(), e.loss(), e.accuracy(), e.imagesPerSecond(),
                                Double.isNaN(e.monitorAccuracy()) ? "" : String.format(Locale.ROOT, " val top-1 %.3f",
                                        e.monitorAccuracy()),
                                Double.isNaN(e.monitorAccuracy()) || !r.maxOverEvals() || r.evalSplit() == Split.VAL ? ""
                                        : String.format(Locale.ROOT, " %s top-1 %.3f", r.evalSplit().vtabList(),
                                                atPoints.get(atPoints.size() - 1).top1())));
                    });
                    Accuracy accuracy;
                    double evalSeconds;
                    if (everyPoint) {
                        // the trainer evaluated after the last epoch: that evaluation is the final one
                        accuracy = atPoints.get(atPoints.size() - 1);
                        evalSeconds = lastEvalSeconds[0];
                    } else {
                        long evalStarted = System.nanoTime();
                        accuracy = Trainer.evaluate(tuned,
                                LabeledImages.stream(test, hadoop, size, r.normalization(), r.evalBatchSize()),
                                r.task().classes());
                        evalSeconds = (System.nanoTime() - evalStarted) / 1e9;
                    }
                    Double maxTop1 = everyPoint ? atPoints.stream().mapToDouble(Accuracy::top1).max().getAsDouble() : null;
                    log.accept(String.format(Locale.ROOT, "%s: %s top-1 %.4f on %d images%s", name,
                            r.evalSplit().vtabList(), accuracy.top1(), accuracy.images(), maxTop1 == null || r.selection()
                                    ? "" : String.format(Locale.ROOT, " (max over %d evaluations %.4f)", atPoints.size(),
                                            maxTop1)));
                    ArtifactManifest manifest = manifest(r, plan, matched, layout, tuned, result, accuracy, evalSeconds,
                            trainImages.count(), evaluations, maxTop1);
                    if (r.force()) {
                        Artifacts.write(hadoop, folder, tuned, manifest);
                    } else if (!Artifacts.writeIfAbsent(hadoop, folder, tuned, manifest)) {
                        log.accept("another writer committed " + folder + " first; this training is discarded");
                        return outcome(folder, Artifacts.manifest(hadoop, folder), true);
                    }
                    log.accept("committed " + folder);
                    return outcome(folder, Artifacts.manifest(hadoop, folder), false);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("training " + r.task().name() + " " + r.method().id() + " failed on I/O", e);
        }
    }

    /** The plan a SPT request names. */
    public static TuningPlan plan(Request r, Configuration hadoop) {
        if (r.planUri() == null) {
            throw new IllegalArgumentException("method " + r.method().id() + " needs a plan (--plan)");
        }
        Path path = new Path(r.planUri());
        try (InputStream in = path.getFileSystem(hadoop).open(path)) {
            return PlanJson.read(new String(in.readAllBytes(), StandardCharsets.UTF_8), r.planUri());
        } catch (java.io.FileNotFoundException e) {
            throw new IllegalArgumentException("plan " + r.planUri() + " does not exist (run spt allocate first)", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read plan " + r.planUri(), e);
        }
    }

    /** The progress lines' name of a training: {@code spt-lora @ 20k}, {@code lora @ 20k}, {@code linear}. */
    private static String label(Request r, TuningPlan plan) {
        String budget = plan != null ? plan.budget().label() : r.budget();
        return budget == null ? r.method().id() : r.method().id() + " @ " + budget;
    }

    private static ArtifactManifest manifest(Request r, TuningPlan plan, MatchedBudget matched, TuningLayout layout,
            TunedModel tuned,
            Trainer.Result result, Accuracy accuracy, double evalSeconds, int trainImages,
            List<ArtifactManifest.Evaluation> evaluations, Double maxTop1) {
        ArtifactManifest.Budget budget;
        SnellaManifest snella = null;
        if (plan != null) {
            budget = new ArtifactManifest.Budget(plan.budget().label(), plan.budget().target(), layout.trainable());
        } else if (matched != null) {
            budget = new ArtifactManifest.Budget(r.budget(), matched.budget().target(), layout.trainable(),
                    matched.matrices());
        } else if (r.method() == Method.SNELLA) {
            // SNELLA's budget is the delta's non-zero count, not the factors it learns them from
            budget = new ArtifactManifest.Budget(r.budgetLabel(null), tuned.hook(Competition.class).allocator().targetVolume(),
                    tuned.hook(Competition.class).nonZeros());
            snella = SnellaManifest.of(r.snella(), r.snella().target(r.task().name()), tuned.hook(Competition.class));
        } else {
            budget = new ArtifactManifest.Budget(null, null, layout.trainable());
        }
        var trainable = new ArtifactManifest.Trainable(layout.trainable(), tuned.model().space().headSize(),
                tuned.tunedScalars());
        ArtifactManifest.PlanRef planRef = plan == null ? null : new ArtifactManifest.PlanRef(PlanJson.id(plan),
                r.planUri(), plan.scoresId(), plan.totals().unstructured(), plan.totals().structured(),
                plan.totals().whole());
        var perClass = new ArrayList<Double>();
        for (double v : accuracy.perClass()) {
            perClass.add(Double.isNaN(v) ? null : v);
        }
        Trainer.Epoch last = result.last();
        var metrics = new ArtifactManifest.Metrics(accuracy.top1(), accuracy.images(), perClass, last.loss(),
                last.accuracy(), Double.isNaN(last.monitorAccuracy()) ? null : last.monitorAccuracy(), trainImages,
                result.seconds(), evalSeconds, result.steps(), result.optimizerStateBytes(),
                r.trainSplit() == Split.TRAINVAL ? null : r.trainSplit().vtabList(),
                r.evalSplit() == Split.TEST ? null : r.evalSplit().vtabList(), List.copyOf(evaluations), maxTop1);
        return new ArtifactManifest(TaskRef.of(r.suite(), r.task(), r.dataRoot()),
                new BackboneRef(r.config().name(), r.config(), r.backboneUri(), r.backboneSha()), r.method().id(),
                layout.rank(), budget, snella, trainable, planRef,
                new Gson().toJsonTree(r.effectiveRecipe()).getAsJsonObject(), r.normalization().name(), metrics,
                SoftwareVersions.parse(r.versions()), null, null);
    }

    /** An outcome read back from a committed manifest. */
    public static Outcome outcome(String folder, ArtifactManifest m, boolean reused) {
        ArtifactManifest.Metrics metrics = m.metrics();
        ArtifactManifest.Budget budget = m.budget();
        double[] perClass = metrics.perClassTop1().stream().mapToDouble(v -> v == null ? Double.NaN : v).toArray();
        String planId = m.plan() == null ? null : m.plan().id();
        return new Outcome(folder, m.method(), budget.label(), budget.target() == null ? 0 : budget.target(),
                budget.achieved(), m.trainable().total(), metrics.top1(), perClass, metrics.testImages(),
                metrics.trainSeconds(), metrics.evalSeconds(), m.files().get(Artifacts.TENSORS).bytes(), planId, reused,
                m.precision(), m.trainable().backbone(), metrics.trainSplitOrDefault(), metrics.evalSplitOrDefault(),
                metrics.maxTop1());
    }
}
