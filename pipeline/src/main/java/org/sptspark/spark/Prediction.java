package org.sptspark.spark;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.SerializableConfiguration;
import org.sptspark.artifact.ArtifactManifest;
import org.sptspark.artifact.Artifacts;
import org.sptspark.data.ImageDecoder;
import org.sptspark.data.ImagePreprocessor;
import org.sptspark.data.Normalization;
import org.sptspark.model.CheckpointFiles;
import org.sptspark.model.Gradients;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.Precision;
import org.sptspark.model.Backbone;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.VitConfig;
import org.sptspark.tuning.TunedModel;

/**
 * Batch inference: tuned artifacts applied to a folder of images, as a Spark job. Each executor
 * JVM loads the backbone once ({@link BackboneCache}) and lays each artifact over it
 * ({@link TunedModel#overlay}: only the artifact's own tensors are held per task, never a merged
 * copy of the backbone), on the task's GPU when Spark assigned one. Images that cannot be read or
 * decoded, or whose header declares more pixels than the limit ({@link org.sptspark.data.DataLimits},
 * {@code --max-image-pixels}), are skipped and reported, never dropped silently.
 */
public final class Prediction {

    /** The predictions table: one row per (image, artifact). */
    public static final StructType SCHEMA = new StructType()
            .add("image", DataTypes.StringType, false)
            .add("task", DataTypes.StringType, false)
            .add("artifact_id", DataTypes.StringType, false)
            .add("artifact", DataTypes.StringType, false)
            .add("method", DataTypes.StringType, false)
            .add("budget", DataTypes.StringType, true)
            .add("classes", DataTypes.createArrayType(DataTypes.IntegerType, false), false)
            .add("probabilities", DataTypes.createArrayType(DataTypes.DoubleType, false), false);

    /** The skip list: images that could not be read or decoded, with the reason. */
    public static final StructType SKIPPED = new StructType()
            .add("image", DataTypes.StringType, false)
            .add("error", DataTypes.StringType, false);

    /** File name endings taken as images when a folder is listed. */
    public static final List<String> IMAGE_SUFFIXES = List.of(".png", ".jpg", ".jpeg", ".bmp", ".gif");

    /**
     * One artifact to apply.
     *
     * @param id {@code <suite>/<task>/<method>[-<budget>]}
     * @param config its architecture with its task's classes
     */
    public record Target(String uri, String id, String task, String method, String budget, BackboneConfig config,
            String normalization) implements Serializable {}

    /**
     * What a prediction run did.
     *
     * @param seconds wall time of the Spark job (listing and checks excluded)
     */
    public record Summary(long images, int artifacts, long predictions, long skipped, double seconds,
            List<String> firstSkipped) {

        public double imagesPerSecond() {
            return (images - skipped) / seconds;
        }
    }

    private Prediction() {}

    /**
     * Checks the artifacts against the backbone, lists the images, predicts and writes the
     * predictions table to {@code out} (Parquet, replaced) and the skip list to
     * {@code out/_skipped} (JSON lines; Parquet readers of {@code out} ignore it).
     *
     * @throws IllegalArgumentException for a missing or foreign artifact, artifacts of different
     *     architectures, or no images
     */
    public static Summary run(SparkSession spark, String backbone, List<String> artifacts, String images, String out,
            int topK, int batchSize, Consumer<String> log) throws IOException {
        return run(spark, backbone, artifacts, images, out, topK, batchSize, Precision.FP32, log);
    }

    /** As {@link #run(SparkSession, String, List, String, String, int, int, Consumer)}, in a precision. */
    public static Summary run(SparkSession spark, String backbone, List<String> artifacts, String images, String out,
            int topK, int batchSize, Precision precision, Consumer<String> log) throws IOException {
        if (topK < 1 || batchSize < 1) {
            throw new IllegalArgumentException("--top-k and --batch-size must be positive");
        }
        Configuration hadoop = spark.sparkContext().hadoopConfiguration();
        // the backbone's header first, so that an unusable checkpoint is named as such before its sha256 is compared
        var header = CheckpointFiles.header(hadoop, backbone);
        String sha = CheckpointFiles.sha256(hadoop, backbone);
        List<Target> targets = targets(hadoop, artifacts, sha);
        header.requireFits(targets.get(0).config(), org.sptspark.model.Checkpoints.HeadPolicy.DROP);
        List<String> paths = listImages(hadoop, images);
        log.accept(String.format(Locale.ROOT, "predict: %d images x %d artifacts on backbone %s (sha256 %s)",
                paths.size(), targets.size(), targets.get(0).config().name(), sha.substring(0, 12)));
        var jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Broadcast<SerializableConfiguration> conf = ImageTable.hadoopConfiguration(spark);
        int slices = Math.max(1, Math.min(jsc.defaultParallelism() * 4, (paths.size() + batchSize - 1) / batchSize));
        long started = System.nanoTime();
        jsc.setJobGroup("spt-predict", "predict " + paths.size() + " images with " + targets.size() + " artifacts", false);
        var rows = jsc.parallelize(paths, slices)
                .mapPartitions(it -> predictPartition(it, targets, backbone, sha, topK, batchSize, precision,
                        conf.value().value()));
        // predictions and skipped images travel together, so every column but the image may be null here
        var raw = new StructType();
        for (var f : SCHEMA.fields()) {
            raw = raw.add(f.name(), f.dataType(), !f.name().equals("image"));
        }
        raw = raw.add("error", DataTypes.StringType, true);
        Dataset<Row> all = spark.createDataFrame(rows, raw).cache();
        try {
            Dataset<Row> predictions = all.where(functions.col("error").isNull()).drop("error");
            predictions.write().mode(SaveMode.Overwrite).parquet(out);
            List<Row> skipped = all.where(functions.col("error").isNotNull()).select("image", "error").distinct()
                    .orderBy("image").collectAsList();
            long count = predictions.count();
            double seconds = (System.nanoTime() - started) / 1e9;
            Path skipFile = new Path(new Path(out), "_skipped/skipped.jsonl");
            var text = new StringBuilder();
            for (Row r : skipped) {
                var o = new JsonObject();
                o.addProperty("image", r.getString(0));
                o.addProperty("error", r.getString(1));
                text.append(o).append('\n');
            }
            org.sptspark.lake.LakeFiles.writeAtomically(hadoop, skipFile,
                    text.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            var first = skipped.stream().limit(10).map(r -> r.getString(0) + ": " + r.getString(1)).toList();
            return new Summary(paths.size(), targets.size(), count, skipped.size(), seconds, first);
        } finally {
            all.unpersist();
        }
    }

    /**
     * What a routed prediction run did.
     *
     * @param seconds wall time of the Spark job (reading the input and checks excluded)
     * @param firstFailed the first rows without a result, with their reasons
     */
    public record RoutedSummary(long rows, long predicted, long failed, double seconds, List<String> firstFailed) {

        public double rowsPerSecond() {
            return predicted / seconds;
        }
    }

    /**
     * Routed predictions: each row of a table (Parquet, or a list file with an image and a task per
     * line, images relative to the list's folder) through its own task's artifact, with {@link
     * SptClassifier}, written to {@code out} as Parquet (replaced): the input's columns, binary
     * ones left out, then {@code artifact_id}, {@code classes}, {@code probabilities} and
     * {@code error}, one row per input row.
     *
     * @param classifier its artifacts, batch size, top-k and precision set; the columns are set here
     * @throws IllegalArgumentException when the input is missing or lacks the columns
     */
    public static RoutedSummary routed(SparkSession spark, SptClassifier classifier, String input, String imageColumn,
            String taskColumn, String out, Consumer<String> log) throws IOException {
        Dataset<Row> rows = readRoutedInput(spark, input, imageColumn, taskColumn);
        classifier.setImageCol(imageColumn).setTaskCol(taskColumn);
        ArtifactRouter router = classifier.router(spark);
        long count = rows.count();
        log.accept(String.format(Locale.ROOT, "predict: %d rows routed to %d artifacts %s on backbone %s (sha256 %s)",
                count, router.targets().size(), router.tasks(), router.targets().iterator().next().config().name(),
                router.sha256().substring(0, 12)));
        var jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        jsc.setJobGroup("spt-predict", "predict " + count + " rows routed by " + taskColumn, false);
        long started = System.nanoTime();
        Dataset<Row> result = classifier.transform(rows);
        for (var f : rows.schema().fields()) {
            if (f.dataType() instanceof org.apache.spark.sql.types.BinaryType) {
                result = result.drop(f.name());
            }
        }
        result.write().mode(SaveMode.Overwrite).parquet(out);
        double seconds = (System.nanoTime() - started) / 1e9;
        Dataset<Row> written = spark.read().parquet(out);
        String error = (String) classifier.getOrDefault(classifier.errorCol());
        Dataset<Row> failed = written.where(functions.col(error).isNotNull());
        long failures = failed.count();
        String id = List.of(written.columns()).contains(imageColumn) && !(rows.schema().apply(imageColumn).dataType()
                instanceof org.apache.spark.sql.types.BinaryType) ? imageColumn : taskColumn;
        var first = failed.select(functions.col(id).cast("string"), functions.col(error)).limit(10).collectAsList().stream()
                .map(r -> r.getString(0) + ": " + r.getString(1)).toList();
        return new RoutedSummary(count, count - failures, failures, seconds, first);
    }

    /** The rows of a routed prediction: a Parquet table, or a list file of {@code <image> <task>} lines. */
    static Dataset<Row> readRoutedInput(SparkSession spark, String input, String imageColumn, String taskColumn)
            throws IOException {
        Configuration hadoop = spark.sparkContext().hadoopConfiguration();
        Path path = new Path(input);
        FileSystem fs = path.getFileSystem(hadoop);
        if (!fs.exists(path)) {
            throw new IllegalArgumentException("no table at " + input + ": the path does not exist");
        }
        if (fs.getFileStatus(path).isDirectory() || input.endsWith(".parquet")) {
            Dataset<Row> table = spark.read().parquet(input);
            for (String c : List.of(imageColumn, taskColumn)) {
                if (!List.of(table.columns()).contains(c)) {
                    throw new IllegalArgumentException(input + " has no column '" + c + "' (columns: "
                            + List.of(table.columns()) + "); set --image-column and --task-column");
                }
            }
            return table;
        }
        var rows = new ArrayList<Row>();
        Path folder = path.getParent();
        try (var reader = new java.io.BufferedReader(new java.io.InputStreamReader(fs.open(path),
                java.nio.charset.StandardCharsets.UTF_8))) {
            String line;
            int number = 0;
            while ((line = reader.readLine()) != null) {
                number++;
                String text = line.strip();
                if (text.isEmpty() || text.startsWith("#")) {
                    continue;
                }
                int space = Math.max(text.lastIndexOf(' '), text.lastIndexOf('\t'));
                if (space < 1) {
                    throw new IllegalArgumentException(input + " line " + number + ": expected '<image> <task>', got '"
                            + text + "'");
                }
                String image = text.substring(0, space).strip();
                Path p = new Path(image);
                String uri = (p.isAbsolute() ? p : new Path(folder, image)).getFileSystem(hadoop)
                        .makeQualified(p.isAbsolute() ? p : new Path(folder, image)).toString();
                rows.add(RowFactory.create(uri, text.substring(space + 1).strip()));
            }
        }
        if (rows.isEmpty()) {
            throw new IllegalArgumentException(input + " lists no images");
        }
        var schema = new StructType().add(imageColumn, DataTypes.StringType, false).add(taskColumn, DataTypes.StringType,
                false);
        int slices = Math.max(1, Math.min(spark.sparkContext().defaultParallelism() * 4, rows.size() / 64 + 1));
        return spark.createDataFrame(rows, schema).repartition(slices);
    }

    /** The artifacts, checked on the driver: committed, trained on this backbone, one architecture. */
    static List<Target> targets(Configuration hadoop, List<String> artifacts, String sha) throws IOException {
        if (artifacts.isEmpty()) {
            throw new IllegalArgumentException("no artifacts given");
        }
        var out = new ArrayList<Target>();
        BackboneConfig shape = null;
        for (String uri : artifacts) {
            ArtifactManifest m = Artifacts.manifest(hadoop, uri);
            String trainedOn = m.backbone().sha256();
            if (!sha.equals(trainedOn)) {
                throw new IllegalArgumentException("artifact " + uri + " was trained on a backbone with sha256 "
                        + trainedOn + ", not the given one (" + sha + "): pass the checkpoint it was trained on");
            }
            BackboneConfig config = m.backbone().architecture();
            if (shape != null && !shape.equals(config.withNumClasses(1))) {
                throw new IllegalArgumentException("artifact " + uri + " is for " + config.name()
                        + ", the others for " + shape.name() + ": one backbone architecture per run");
            }
            shape = config.withNumClasses(1);
            String suite = m.task().suite() != null ? m.task().suite() : "-";
            String method = m.method();
            String label = m.budget() == null ? null : m.budget().label();
            String id = suite + "/" + m.task().name() + "/" + method + (label == null ? "" : "-" + label);
            String norm = m.normalization() != null ? m.normalization() : Normalization.IMAGENET.name();
            out.add(new Target(uri, id, m.task().name(), method, label, config, norm));
        }
        return out;
    }

    /** Image files under a folder (recursively, sorted), or the one file given. */
    static List<String> listImages(Configuration hadoop, String images) throws IOException {
        Path root = new Path(images);
        FileSystem fs = root.getFileSystem(hadoop);
        FileStatus status;
        try {
            status = fs.getFileStatus(root);
        } catch (java.io.FileNotFoundException e) {
            throw new IllegalArgumentException("no images at " + images + ": the path does not exist", e);
        }
        var out = new ArrayList<String>();
        if (status.isFile()) {
            out.add(status.getPath().toString());
        } else {
            RemoteIterator<LocatedFileStatus> it = fs.listFiles(root, true);
            while (it.hasNext()) {
                String p = it.next().getPath().toString();
                String lower = p.toLowerCase(Locale.ROOT);
                if (IMAGE_SUFFIXES.stream().anyMatch(lower::endsWith)) {
                    out.add(p);
                }
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("no images under " + images + " (looked for " + IMAGE_SUFFIXES + ")");
        }
        out.sort(null);
        return out;
    }

    private static Iterator<Row> predictPartition(Iterator<String> paths, List<Target> targets, String backbone,
            String sha, int topK, int batchSize, Precision precision, Configuration hadoop) {
        Device device = Devices.forCurrentTask();
        precision.requireSupported(device);
        BackboneConfig config = targets.get(0).config().withNumClasses(1);
        Backbone model = BackboneCache.backbone(backbone, sha, config, device, hadoop);
        model.setPrecision(precision);
        int size = config.imageSize();
        var rows = new ArrayList<Row>();
        var batch = new ArrayList<String>();
        while (paths.hasNext()) {
            batch.add(paths.next());
            if (batch.size() == batchSize || !paths.hasNext()) {
                predictBatch(batch, targets, model, sha, topK, size, hadoop, rows);
                batch.clear();
            }
        }
        return rows.iterator();
    }

    private static void predictBatch(List<String> batch, List<Target> targets, Backbone model, String sha,
            int topK, int size, Configuration hadoop, List<Row> rows) {
        var decoded = new ArrayList<String>();
        var images = new ArrayList<org.sptspark.data.RgbImage>();
        long maxPixels = org.sptspark.data.DataLimits.of(hadoop).maxImagePixels();
        for (String p : batch) {
            try {
                Path path = new Path(p);
                byte[] bytes;
                try (InputStream in = path.getFileSystem(hadoop).open(path)) {
                    bytes = in.readAllBytes();
                }
                images.add(ImageDecoder.decode(bytes, p, maxPixels)); // above the limit: refused from the header
                decoded.add(p);
            } catch (IOException | RuntimeException e) {
                rows.add(RowFactory.create(p, null, null, null, null, null, null, null,
                        e.getClass().getSimpleName() + ": " + e.getMessage()));
            }
        }
        if (decoded.isEmpty()) {
            return;
        }
        var pixels = new HashMap<String, float[]>();
        for (Target t : targets) {
            float[] x = pixels.computeIfAbsent(t.normalization(), n -> {
                Normalization norm = Normalization.named(n);
                int per = 3 * size * size;
                float[] all = new float[decoded.size() * per];
                for (int i = 0; i < images.size(); i++) {
                    System.arraycopy(ImagePreprocessor.toTensor(images.get(i), size, norm), 0, all, i * per, per);
                }
                return all;
            });
            TunedModel tuned = Overlays.get(model, t, sha, hadoop);
            float[] probabilities;
            int classes;
            synchronized (Gradients.ENGINE_LOCK) {
                try (NDManager scope = model.manager().newSubManager()) {
                    NDArray input = scope.create(x, new Shape(decoded.size(), 3, size, size))
                            .toDevice(model.manager().getDevice(), false);
                    NDArray p = tuned.forward(input, false, 0).softmax(1);
                    classes = (int) p.getShape().get(1);
                    probabilities = p.toFloatArray();
                }
            }
            for (int i = 0; i < decoded.size(); i++) {
                int[] order = top(probabilities, i * classes, classes, topK);
                var cls = new ArrayList<Integer>();
                var prob = new ArrayList<Double>();
                for (int c : order) {
                    cls.add(c);
                    prob.add((double) probabilities[i * classes + c]);
                }
                rows.add(RowFactory.create(decoded.get(i), t.task(), t.id(), t.uri(), t.method(), t.budget(),
                        cls.toArray(new Integer[0]), prob.toArray(new Double[0]), null));
            }
        }
    }

    /** The {@code k} most probable classes of one image, most probable first (ties: lower class first). */
    static int[] top(float[] p, int offset, int classes, int k) {
        Integer[] idx = new Integer[classes];
        for (int c = 0; c < classes; c++) {
            idx[c] = c;
        }
        Arrays.sort(idx, (a, b) -> p[offset + a] != p[offset + b] ? Float.compare(p[offset + b], p[offset + a]) : a - b);
        int n = Math.min(k, classes);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = idx[i];
        }
        return out;
    }
}
