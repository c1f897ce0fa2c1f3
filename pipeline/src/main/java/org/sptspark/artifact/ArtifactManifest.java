package org.sptspark.artifact;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.List;
import java.util.Map;
import org.sptspark.data.TaskRef;
import org.sptspark.lake.FileDigest;
import org.sptspark.lake.LakeFormat;
import org.sptspark.lake.SoftwareVersions;
import org.sptspark.model.BackboneRef;
import org.sptspark.snella.SnellaManifest;

/**
 * An artifact folder's {@code manifest.json}: format {@code spt-artifact} version 2. Only
 * {@code task}, {@code backbone} and {@code method} are required; the rest is what a training run
 * records and may be absent ({@code null}) in manifests written by tools and tests.
 *
 * <p>Version 2 added {@code budget.matrices}, how many block matrices a LoRA or Adapter baseline
 * sized to a budget ({@code lora@20k}) put modules on; version 1 documents, which lack it, read as
 * they are. Version 1 builds refuse version 2 manifests by their version. Later additions that
 * only describe how the metrics were taken ({@code metrics.trainSplit}, {@code evalSplit},
 * {@code evaluations}, {@code maxTop1}) left the version at 2: the tensors load the same, and a
 * budget selection's artifacts, the only ones not trained on {@code train800val200}, live in a
 * folder of their own ({@code train800-val200/}) that no older reader looks into.
 *
 * @param method the method's id ({@code spt-lora}, {@code linear}, ...)
 * @param rank the LoRA/Adapter rank the artifact's modules have (0 when none)
 * @param budget the budget asked for and reached
 * @param snella SNELLA's settings and final allocation, for SNELLA artifacts only
 * @param trainable parameters trained
 * @param plan the plan trained from, for SPT artifacts only
 * @param recipe the training recipe as the trainer records it (its JSON form, so that manifests of
 *     older recipes still read; see {@link #precision()})
 * @param normalization the images' normalisation ({@code imagenet} when absent)
 * @param files the payload's digests, filled in by the commit
 * @param createdAt ISO-8601 instant of the commit
 */
public record ArtifactManifest(TaskRef task, BackboneRef backbone, String method, int rank, Budget budget, SnellaManifest snella,
        Trainable trainable, PlanRef plan, JsonObject recipe, String normalization, Metrics metrics,
        SoftwareVersions versions, Map<String, FileDigest> files, String createdAt) {

    public static final LakeFormat FORMAT = new LakeFormat("spt-artifact", 2, "artifact manifest");

    public ArtifactManifest {
        if (task == null || backbone == null || method == null) {
            throw new IllegalArgumentException("an artifact manifest names its task, backbone and method");
        }
    }

    /**
     * The budget.
     *
     * @param label the plan's budget, SNELLA's target sparsity, or a LoRA/Adapter baseline's budget;
     *     absent for the other baselines
     * @param target the count asked for; absent where the label is
     * @param achieved backbone parameters trained (for SNELLA, the delta's non-zero entries)
     * @param matrices for a LoRA/Adapter baseline at a budget: the block matrices with a module (the
     *     first ones in parameter-space order; the manifest's {@code rank} is theirs); else absent
     */
    public record Budget(String label, Long target, long achieved, Integer matrices) {

        /** A budget without a matrix count: SPT's, SNELLA's, an unbudgeted baseline's. */
        public Budget(String label, Long target, long achieved) {
            this(label, target, achieved, null);
        }
    }

    /** Parameters trained: in the backbone (the budget's count), in the head, and both. */
    public record Trainable(long backbone, long head, long total) {}

    /**
     * The plan an SPT artifact trained from.
     *
     * @param id the plan's id
     * @param uri where it was read
     * @param scores the id of the scores it was made from
     */
    public record PlanRef(String id, String uri, String scores, long unstructured, long structured, long whole) {}

    /**
     * What training and evaluation measured.
     *
     * @param top1 top-1 on {@code evalSplit} after the last epoch
     * @param testImages images of {@code evalSplit}
     * @param perClassTop1 top-1 per class on {@code evalSplit}, {@code null} for a class with no images there
     * @param valTop1 the last monitoring top-1, absent when nothing was monitored
     * @param trainSplit the split trained on; absent for {@code train800val200} (and in manifests from
     *     before it was recorded)
     * @param evalSplit the split {@code top1} is on; absent for {@code test}. A budget selection's
     *     trainings ({@code train800}, evaluated on {@code val200}) record both
     * @param evaluations the evaluations during training, one per {@code evalEvery} point and after the
     *     last epoch; absent in manifests from before they were recorded
     * @param maxTop1 the largest {@code evalSplit} top-1 over {@code evaluations} (the SPT reference's
     *     reported figure when that split is {@code test}); absent unless {@code evalSplit} was evaluated
     *     at every point
     */
    public record Metrics(double top1, long testImages, List<Double> perClassTop1, double trainLoss, double trainTop1,
            Double valTop1, long trainImages, double trainSeconds, double evalSeconds, long steps,
            long optimizerStateBytes, String trainSplit, String evalSplit, List<Evaluation> evaluations, Double maxTop1) {

        /** Metrics of a training on {@code train800val200} evaluated on {@code test}, without evaluations recorded. */
        public Metrics(double top1, long testImages, List<Double> perClassTop1, double trainLoss, double trainTop1,
                Double valTop1, long trainImages, double trainSeconds, double evalSeconds, long steps,
                long optimizerStateBytes) {
            this(top1, testImages, perClassTop1, trainLoss, trainTop1, valTop1, trainImages, trainSeconds, evalSeconds,
                    steps, optimizerStateBytes, null, null, null, null);
        }

        /** The split trained on ({@code train800val200} where the manifest does not say). */
        public String trainSplitOrDefault() {
            return trainSplit == null ? "train800val200" : trainSplit;
        }

        /** The split {@link #top1} is on ({@code test} where the manifest does not say). */
        public String evalSplitOrDefault() {
            return evalSplit == null ? "test" : evalSplit;
        }
    }

    /**
     * One evaluation during training.
     *
     * @param epoch the epoch after which it ran (1-based)
     * @param monitorTop1 top-1 on the monitoring split ({@code val200})
     * @param evalTop1 top-1 on the evaluation split, where it was evaluated at this point too, else absent
     */
    public record Evaluation(int epoch, double monitorTop1, Double evalTop1) {}

    /** A manifest of only what a reader needs to load the artifact. */
    public static ArtifactManifest of(TaskRef task, BackboneRef backbone, String method, int rank) {
        return new ArtifactManifest(task, backbone, method, rank, null, null, null, null, null, null, null, null, null,
                null);
    }

    /** This manifest as committed: with the payload's digests and the commit's time. */
    public ArtifactManifest committed(Map<String, FileDigest> digests, String at) {
        return new ArtifactManifest(task, backbone, method, rank, budget, snella, trainable, plan, recipe, normalization,
                metrics, versions, digests, at);
    }

    /** The recipe's arithmetic; artifacts from before precision was recorded trained in fp32. */
    public String precision() {
        JsonElement p = recipe == null ? null : recipe.get("precision");
        return p == null || p.isJsonNull() ? "fp32" : p.getAsString();
    }

    /** The normalisation's name; artifacts from before it was recorded used ImageNet's. */
    public String normalizationOrDefault() {
        return normalization == null ? "imagenet" : normalization;
    }

    /** This manifest as its file holds it. */
    public byte[] toJson() {
        return FORMAT.writeBytes(this);
    }

    /**
     * Reads a manifest.
     *
     * @param source the file, for messages
     */
    public static ArtifactManifest parse(String json, String source) {
        return FORMAT.read(json, source, ArtifactManifest.class);
    }
}
