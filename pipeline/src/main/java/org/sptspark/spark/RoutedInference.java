package org.sptspark.spark;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sptspark.data.ImageDecoder;
import org.sptspark.data.ImagePreprocessor;
import org.sptspark.data.Normalization;
import org.sptspark.data.RgbImage;
import org.sptspark.model.Gradients;
import org.sptspark.model.Precision;
import org.sptspark.model.Backbone;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.VisionTransformer;
import org.sptspark.tuning.TunedModel;

/**
 * Routed inference on an executor: each row of a batch goes through its own task's artifact
 * ({@link ArtifactRouter}), all laid over this JVM's one copy of the backbone. The rows of a batch
 * share one mixed forward pass ({@link TunedModel#forwardMixed}) in {@link Mode#MIXED}; in
 * {@link Mode#PER_ARTIFACT} each artifact's rows take a forward pass of their own (the comparison
 * of the benchmarks). Rows keep their order; a row whose task no artifact is for, or whose image
 * could not be read or decoded, gets its reason instead of a result, never a failed batch.
 */
public final class RoutedInference {

    /** How a batch's rows meet the model. */
    public enum Mode {
        /** One forward pass for the whole batch, each artifact correcting its own rows. */
        MIXED,
        /** One forward pass per artifact, on that artifact's rows. */
        PER_ARTIFACT
    }

    /**
     * One row: its task and its decoded image, or why it has none.
     *
     * @param image {@code null} when {@code error} says why
     */
    public record Input(String task, RgbImage image, String error) {

        /** A row whose image could not be had. */
        public static Input failed(String task, String error) {
            return new Input(task, null, error);
        }

        /** Decodes {@code bytes} under the pixel limit; a failure becomes the row's reason. */
        public static Input decode(String task, byte[] bytes, String source, long maxPixels) {
            if (bytes == null) {
                return failed(task, "no image");
            }
            try {
                return new Input(task, ImageDecoder.decode(bytes, source, maxPixels), null);
            } catch (RuntimeException e) {
                return failed(task, reason(e));
            }
        }
    }

    /**
     * One row's result: the artifact it went through and its most probable classes, or the reason
     * it has none ({@code target}, {@code classes} and {@code probabilities} then {@code null}).
     */
    public record Output(Prediction.Target target, int[] classes, float[] probabilities, String error) {

        /** As a table's four output columns: the artifact's id, classes, probabilities (Spark arrays) and reason. */
        public Object[] values() {
            if (error != null) {
                return new Object[] {null, null, null, error};
            }
            Integer[] c = new Integer[classes.length];
            Double[] p = new Double[classes.length];
            for (int k = 0; k < c.length; k++) {
                c[k] = classes[k];
                p[k] = (double) probabilities[k];
            }
            return new Object[] {target.id(), c, p, null};
        }
    }

    /** The four output columns, under these names, as {@link Output#values} fills them. */
    public static StructType schema(String artifact, String classes, String probabilities,
            String error) {
        return new StructType()
                .add(artifact, DataTypes.StringType, true)
                .add(classes, DataTypes.createArrayType(
                        DataTypes.IntegerType, false), true)
                .add(probabilities, DataTypes.createArrayType(
                        DataTypes.DoubleType, false), true)
                .add(error, DataTypes.StringType, true);
    }

    private final ArtifactRouter router;
    private final Backbone model;
    private final Configuration hadoop;
    private final int topK;
    private final Mode mode;
    private final Precision precision;

    private RoutedInference(ArtifactRouter router, Backbone model, Configuration hadoop, int topK, Mode mode,
            Precision precision) {
        this.router = router;
        this.model = model;
        this.hadoop = hadoop;
        this.topK = topK;
        this.mode = mode;
        this.precision = precision;
    }

    /**
     * Inference on this JVM's backbone (loaded once per JVM and device) for the running task.
     *
     * @param device {@code auto} (the task's GPU when Spark assigned one, else the CPU), {@code cpu},
     *     or {@code gpu} (the task must have one)
     */
    public static RoutedInference open(ArtifactRouter router, String device, Precision precision, int topK, Mode mode,
            Configuration hadoop) {
        if (topK < 1) {
            throw new IllegalArgumentException("top-k must be positive, not " + topK);
        }
        Device d = device(device);
        precision.requireSupported(d);
        BackboneConfig config = router.targets().iterator().next().config().withNumClasses(1);
        Backbone model = BackboneCache.backbone(router.backbone(), router.sha256(), config, d, hadoop);
        return new RoutedInference(router, model, hadoop, topK, mode, precision);
    }

    /** The device a choice names, for the running task. */
    static Device device(String choice) {
        return switch (choice.toLowerCase(Locale.ROOT)) {
            case "auto" -> Devices.forCurrentTask();
            case "cpu" -> Device.cpu();
            case "gpu" -> {
                Device d = Devices.forCurrentTask();
                if (!d.isGpu()) {
                    throw new IllegalStateException("device gpu: this task has no GPU (set spark.task.resource.gpu.amount"
                            + " and run on GPU executors, or use device auto)");
                }
                yield d;
            }
            default -> throw new IllegalArgumentException("device must be auto, cpu or gpu, not '" + choice + "'");
        };
    }

    /** The results of a batch's rows, in their order. */
    public List<Output> classify(List<Input> rows) {
        var out = new Output[rows.size()];
        // rows by artifact, in the order their artifacts first appear; the batch is not otherwise reordered
        var groups = new LinkedHashMap<Prediction.Target, List<Integer>>();
        for (int i = 0; i < rows.size(); i++) {
            Input r = rows.get(i);
            if (r.error() != null) {
                out[i] = new Output(null, null, null, r.error());
                continue;
            }
            Prediction.Target t = router.route(r.task());
            if (t == null) {
                out[i] = new Output(null, null, null, r.task() == null ? "no task"
                        : "no artifact for task '" + r.task() + "' (artifacts are for " + router.tasks() + ")");
                continue;
            }
            groups.computeIfAbsent(t, k -> new ArrayList<>()).add(i);
        }
        if (!groups.isEmpty()) {
            forward(rows, groups, out);
        }
        return List.of(out);
    }

    private void forward(List<Input> rows, Map<Prediction.Target, List<Integer>> groups, Output[] out) {
        int size = model.config().imageSize();
        int per = 3 * size * size;
        var targets = new ArrayList<>(groups.keySet());
        var overlays = new ArrayList<TunedModel>();
        for (Prediction.Target t : targets) {
            overlays.add(Overlays.get(model, t, router.sha256(), hadoop));
        }
        int total = groups.values().stream().mapToInt(List::size).sum();
        float[] pixels = new float[total * per];
        int[] counts = new int[targets.size()];
        var normalizations = new HashMap<String, Normalization>();
        int row = 0;
        for (int g = 0; g < targets.size(); g++) {
            Normalization norm = normalizations.computeIfAbsent(targets.get(g).normalization(), Normalization::named);
            for (int i : groups.get(targets.get(g))) {
                System.arraycopy(ImagePreprocessor.toTensor(rows.get(i).image(), size, norm), 0, pixels, row++ * per, per);
            }
            counts[g] = groups.get(targets.get(g)).size();
        }
        List<float[]> probabilities = new ArrayList<>();
        synchronized (Gradients.ENGINE_LOCK) {
            // the backbone is shared by this JVM's tasks, which may want other precisions: set it under the lock
            model.setPrecision(precision);
            try (NDManager scope = model.manager().newSubManager()) {
                Device device = model.manager().getDevice();
                NDArray images = scope.create(pixels, new Shape(total, 3, size, size)).toDevice(device, false);
                List<NDArray> logits;
                // mixed passes are a ViT's so far; the other families take one pass per artifact,
                // which gives the same predictions
                if (mode == Mode.MIXED && model instanceof VisionTransformer) {
                    logits = TunedModel.forwardMixed(overlays, counts, images);
                } else {
                    logits = new ArrayList<>();
                    int start = 0;
                    for (int g = 0; g < targets.size(); g++) {
                        logits.add(overlays.get(g).forward(images.get(start + ":" + (start + counts[g])), false, 0));
                        start += counts[g];
                    }
                }
                for (NDArray l : logits) {
                    probabilities.add(l.softmax(1).toFloatArray());
                }
            }
        }
        for (int g = 0; g < targets.size(); g++) {
            Prediction.Target t = targets.get(g);
            float[] p = probabilities.get(g);
            int classes = p.length / counts[g];
            List<Integer> mine = groups.get(t);
            for (int k = 0; k < mine.size(); k++) {
                int[] order = Prediction.top(p, k * classes, classes, topK);
                float[] top = new float[order.length];
                for (int j = 0; j < order.length; j++) {
                    top[j] = p[k * classes + order[j]];
                }
                out[mine.get(k)] = new Output(t, order, top, null);
            }
        }
    }

    /** A row's reason: the exception's kind and message. */
    static String reason(Throwable e) {
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }
}
