package org.sptspark.spark;

import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.param.StringArrayParam;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.SerializableConfiguration;
import org.sptspark.data.DataLimits;
import org.sptspark.data.ImageDecoder;
import org.sptspark.data.RgbImage;
import org.sptspark.model.Precision;

/**
 * A Spark ML {@link Transformer} that classifies each row's image through its own task's tuned
 * artifact: the lake's consumer inside the user's own Spark code. Rows of different tasks in one
 * partition share mixed forward passes ({@link RoutedInference}) on one copy of the backbone per
 * executor JVM; partitions are not re-sorted. Rows keep their order and every input column; the
 * output columns are the artifact's id, the top-k classes and their probabilities, and a reason.
 * A row whose task no artifact is for, whose image is missing, cannot be read or decoded, or
 * declares more pixels than the limit gets nulls and its reason, never a failed job.
 *
 * <p>The image column may hold the file's bytes (Spark's {@code binaryFile} source's
 * {@code content}), a path or URI (read through Hadoop's file systems), or Spark's image
 * source's struct (already decoded pixels, BGR). The artifacts are a list of committed artifact
 * folders or a lake's run and method ({@link ArtifactRouter}). Persistable: it saves its
 * parameters, so it can stand in a saved {@link org.apache.spark.ml.PipelineModel}, and it reads
 * the artifacts when it transforms. The SQL function {@code spt_classify} is {@link SptFunctions}.
 */
public final class SptClassifier extends Transformer implements DefaultParamsWritable {

    private static final long serialVersionUID = 1L;

    /** Image files above this size are not read (a row's reason instead of an executor out of memory). */
    public static final int MAX_IMAGE_BYTES = 256 << 20;

    private final String uid;
    private final Param<String> backbone;
    private final StringArrayParam artifacts;
    private final Param<String> lake;
    private final Param<String> run;
    private final Param<String> method;
    private final Param<String> budget;
    private final Param<String> imageCol;
    private final Param<String> taskCol;
    private final Param<String> artifactCol;
    private final Param<String> classesCol;
    private final Param<String> probabilitiesCol;
    private final Param<String> errorCol;
    private final IntParam topK;
    private final IntParam batchSize;
    private final Param<String> device;
    private final Param<String> precision;
    private final Param<String> batching;
    private final LongParam maxImagePixels;
    private transient ArtifactRouter router;
    private transient List<Object> routerKey;

    public SptClassifier() {
        this(Identifiable.randomUID("sptClassifier"));
    }

    public SptClassifier(String uid) {
        this.uid = uid;
        backbone = new Param<>(this, "backbone", "URI of the checkpoint the artifacts were trained on");
        artifacts = new StringArrayParam(this, "artifacts", "committed artifact folders, at most one per task");
        lake = new Param<>(this, "lake", "a lake whose run's artifacts to use (with run and method) instead of artifacts");
        run = new Param<>(this, "run", "the lake's run");
        method = new Param<>(this, "method", "the method whose artifacts to use, e.g. spt-lora");
        budget = new Param<>(this, "budget", "the budget label, e.g. 20k, when the run has several for the method");
        imageCol = new Param<>(this, "imageCol", "image column: bytes, a path or URI, or Spark's image struct");
        taskCol = new Param<>(this, "taskCol", "task column: the task each row's image belongs to");
        artifactCol = new Param<>(this, "artifactCol", "output: the artifact's id (suite/task/method[-budget])");
        classesCol = new Param<>(this, "classesCol", "output: the top-k classes, most probable first");
        probabilitiesCol = new Param<>(this, "probabilitiesCol", "output: their probabilities");
        errorCol = new Param<>(this, "errorCol", "output: why a row has no result, else null");
        topK = new IntParam(this, "topK", "classes kept per row", ParamValidators.gtEq(1));
        batchSize = new IntParam(this, "batchSize", "rows per forward pass", ParamValidators.gtEq(1));
        device = new Param<>(this, "device", "auto (the task's GPU if Spark assigned one), cpu or gpu",
                ParamValidators.inArray(new String[] {"auto", "cpu", "gpu"}));
        precision = new Param<>(this, "precision", "fp32, or bf16 autocast (needs a JNI with bf16)",
                ParamValidators.inArray(new String[] {"fp32", "bf16"}));
        batching = new Param<>(this, "batching", "mixed (one pass for a batch's rows of every task) or per-artifact",
                ParamValidators.inArray(new String[] {"mixed", "per-artifact"}));
        maxImagePixels = new LongParam(this, "maxImagePixels", "images declaring more pixels are refused from their header",
                ParamValidators.gtEq(1));
        setDefault(artifacts, new String[0]);
        setDefault(imageCol, "content");
        setDefault(taskCol, "task");
        setDefault(artifactCol, "artifact_id");
        setDefault(classesCol, "classes");
        setDefault(probabilitiesCol, "probabilities");
        setDefault(errorCol, "error");
        setDefault(topK, 5);
        setDefault(batchSize, 64);
        setDefault(device, "auto");
        setDefault(precision, "fp32");
        setDefault(batching, "mixed");
        setDefault(maxImagePixels, DataLimits.PIL_MAX_IMAGE_PIXELS);
    }

    @Override
    public String uid() {
        return uid;
    }

    // the params, as Spark ML finds them (public methods returning a Param)

    public Param<String> backbone() {
        return backbone;
    }

    public StringArrayParam artifacts() {
        return artifacts;
    }

    public Param<String> lake() {
        return lake;
    }

    public Param<String> run() {
        return run;
    }

    public Param<String> method() {
        return method;
    }

    public Param<String> budget() {
        return budget;
    }

    public Param<String> imageCol() {
        return imageCol;
    }

    public Param<String> taskCol() {
        return taskCol;
    }

    public Param<String> artifactCol() {
        return artifactCol;
    }

    public Param<String> classesCol() {
        return classesCol;
    }

    public Param<String> probabilitiesCol() {
        return probabilitiesCol;
    }

    public Param<String> errorCol() {
        return errorCol;
    }

    public IntParam topK() {
        return topK;
    }

    public IntParam batchSize() {
        return batchSize;
    }

    public Param<String> device() {
        return device;
    }

    public Param<String> precision() {
        return precision;
    }

    public Param<String> batching() {
        return batching;
    }

    public LongParam maxImagePixels() {
        return maxImagePixels;
    }

    public SptClassifier setBackbone(String value) {
        return put(backbone, value);
    }

    public SptClassifier setArtifacts(String... value) {
        return put(artifacts, value);
    }

    /** The artifacts of a lake's run and method (and budget, or {@code null}), one per task. */
    public SptClassifier setLakeRun(String lakeUri, String runId, String methodId, String budgetLabel) {
        if (lakeUri == null || runId == null || methodId == null) {
            throw new IllegalArgumentException("a lake's artifacts need the lake, the run and the method (spark.spt.lake,"
                    + " spark.spt.run, spark.spt.method)");
        }
        put(lake, lakeUri);
        put(run, runId);
        put(method, methodId);
        if (budgetLabel != null) {
            put(budget, budgetLabel);
        } else {
            clear(budget);
        }
        return this;
    }

    public SptClassifier setImageCol(String value) {
        return put(imageCol, value);
    }

    public SptClassifier setTaskCol(String value) {
        return put(taskCol, value);
    }

    public SptClassifier setArtifactCol(String value) {
        return put(artifactCol, value);
    }

    public SptClassifier setClassesCol(String value) {
        return put(classesCol, value);
    }

    public SptClassifier setProbabilitiesCol(String value) {
        return put(probabilitiesCol, value);
    }

    public SptClassifier setErrorCol(String value) {
        return put(errorCol, value);
    }

    public SptClassifier setTopK(int value) {
        return put(topK, value);
    }

    public SptClassifier setBatchSize(int value) {
        return put(batchSize, value);
    }

    public SptClassifier setDevice(String value) {
        return put(device, value);
    }

    public SptClassifier setPrecision(String value) {
        return put(precision, value);
    }

    public SptClassifier setBatching(String value) {
        return put(batching, value);
    }

    public SptClassifier setMaxImagePixels(long value) {
        return put(maxImagePixels, value);
    }

    private <T> SptClassifier put(Param<T> p, T value) {
        set(p, value);
        return this;
    }

    private String string(Param<String> p) {
        return (String) getOrDefault(p);
    }

    private int integer(IntParam p) {
        return (Integer) getOrDefault(p);
    }

    /** The output columns this adds. */
    private StructType outputs() {
        return RoutedInference.schema(string(artifactCol), string(classesCol), string(probabilitiesCol), string(errorCol));
    }

    @Override
    public StructType transformSchema(StructType schema) {
        String image = string(imageCol);
        String task = string(taskCol);
        var names = List.of(schema.fieldNames());
        if (!names.contains(image)) {
            throw new IllegalArgumentException("no image column '" + image + "' (columns: " + names + "); set imageCol");
        }
        if (!names.contains(task)) {
            throw new IllegalArgumentException("no task column '" + task + "' (columns: " + names + "); set taskCol");
        }
        imageKind(schema.apply(image).dataType(), image);
        if (!(schema.apply(task).dataType() instanceof StringType)) {
            throw new IllegalArgumentException("task column '" + task + "' is " + schema.apply(task).dataType().simpleString()
                    + ", not a string");
        }
        StructType out = schema;
        for (var f : outputs().fields()) {
            if (names.contains(f.name())) {
                throw new IllegalArgumentException("output column '" + f.name() + "' already exists; set another name");
            }
            out = out.add(f);
        }
        return out;
    }

    /** How the image column holds its images. */
    enum ImageKind { BYTES, PATH, IMAGE_STRUCT }

    static ImageKind imageKind(DataType type, String column) {
        if (type instanceof BinaryType) {
            return ImageKind.BYTES;
        }
        if (type instanceof StringType) {
            return ImageKind.PATH;
        }
        if (type instanceof StructType s && List.of(s.fieldNames()).containsAll(List.of("width", "height", "nChannels", "data"))) {
            return ImageKind.IMAGE_STRUCT;
        }
        throw new IllegalArgumentException("image column '" + column + "' is " + type.simpleString()
                + ": expected binary content, a path string or Spark's image struct");
    }

    /** The router the params name, read once per set of params (manifests and the backbone's digest). */
    synchronized ArtifactRouter router(SparkSession spark) {
        if (!isDefined(backbone)) {
            throw new IllegalArgumentException("set the backbone (setBackbone)");
        }
        String[] list = (String[]) getOrDefault(artifacts);
        List<Object> key = List.of(string(backbone), List.of(list), String.valueOf(get(lake)), String.valueOf(get(run)),
                String.valueOf(get(method)), String.valueOf(get(budget)));
        if (router == null || !key.equals(routerKey)) {
            try {
                if (list.length > 0) {
                    router = ArtifactRouter.of(spark.sparkContext().hadoopConfiguration(), string(backbone), List.of(list));
                } else if (isDefined(lake) && isDefined(run) && isDefined(method)) {
                    router = ArtifactRouter.fromLake(spark, string(backbone), string(lake), string(run), string(method),
                            isDefined(budget) ? string(budget) : null);
                } else {
                    throw new IllegalArgumentException("set the artifacts (setArtifacts), or a lake's run and method (setLakeRun)");
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            routerKey = key;
        }
        return router;
    }

    /** What the executors need for rows whose image column is of this kind at this index. */
    Settings settings(SparkSession spark, ImageKind kind, int image, int task, int path) {
        return new Settings(router(spark), image, kind, task, path, integer(topK), integer(batchSize), string(device),
                Precision.parse(string(precision)),
                string(batching).equals("mixed") ? RoutedInference.Mode.MIXED : RoutedInference.Mode.PER_ARTIFACT,
                (Long) getOrDefault(maxImagePixels));
    }

    /**
     * A classifier configured from a session's {@code spark.spt.*} settings: {@code backbone},
     * {@code artifacts} (comma-separated) or {@code lake}, {@code run}, {@code method} and
     * {@code budget}; {@code topK}, {@code device}, {@code precision}, {@code maxImagePixels}.
     */
    public static SptClassifier fromConf(org.apache.spark.sql.RuntimeConfig conf) {
        var c = new SptClassifier();
        String prefix = "spark.spt.";
        if (!conf.contains(prefix + "backbone")) {
            throw new IllegalArgumentException("set spark.spt.backbone (and spark.spt.artifacts, or spark.spt.lake,"
                    + " spark.spt.run and spark.spt.method) before calling spt_classify");
        }
        c.setBackbone(conf.get(prefix + "backbone"));
        if (conf.contains(prefix + "artifacts")) {
            c.setArtifacts(java.util.Arrays.stream(conf.get(prefix + "artifacts").split(","))
                    .map(String::trim).filter(a -> !a.isEmpty()).toArray(String[]::new));
        }
        if (conf.contains(prefix + "lake")) {
            c.setLakeRun(conf.get(prefix + "lake"), conf.get(prefix + "run", null), conf.get(prefix + "method", null),
                    conf.get(prefix + "budget", null));
        }
        if (conf.contains(prefix + "topK")) {
            c.setTopK(Integer.parseInt(conf.get(prefix + "topK").trim()));
        }
        if (conf.contains(prefix + "device")) {
            c.setDevice(conf.get(prefix + "device").trim());
        }
        if (conf.contains(prefix + "precision")) {
            c.setPrecision(conf.get(prefix + "precision").trim());
        }
        if (conf.contains(prefix + "maxImagePixels")) {
            c.setMaxImagePixels(Long.parseLong(conf.get(prefix + "maxImagePixels").trim()));
        }
        return c;
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        SparkSession spark = dataset.sparkSession();
        StructType in = dataset.schema();
        var settings = settings(spark, imageKind(in.apply(string(imageCol)).dataType(), string(imageCol)),
                in.fieldIndex(string(imageCol)), in.fieldIndex(string(taskCol)),
                List.of(in.fieldNames()).contains("path") ? in.fieldIndex("path") : -1);
        Broadcast<SerializableConfiguration> conf = ImageTable.hadoopConfiguration(spark);
        var rows = dataset.toDF().javaRDD().mapPartitions(it -> classify(it, settings, conf.value().value()));
        return spark.createDataFrame(rows, out);
    }

    /** What the executors need. */
    record Settings(ArtifactRouter router, int image, ImageKind kind, int task, int path, int topK, int batchSize,
            String device, Precision precision, RoutedInference.Mode mode, long maxPixels) implements Serializable {}

    private static Iterator<Row> classify(Iterator<Row> rows, Settings s, Configuration hadoop) {
        if (!rows.hasNext()) {
            return java.util.Collections.emptyIterator();
        }
        RoutedInference inference = RoutedInference.open(s.router(), s.device(), s.precision(), s.topK(), s.mode(), hadoop);
        return new Iterator<>() {
            private final List<Row> batch = new ArrayList<>();
            private Iterator<Row> ready = java.util.Collections.emptyIterator();

            @Override
            public boolean hasNext() {
                if (!ready.hasNext() && rows.hasNext()) {
                    batch.clear();
                    while (rows.hasNext() && batch.size() < s.batchSize()) {
                        batch.add(rows.next());
                    }
                    ready = classifyBatch(batch, s, inference, hadoop).iterator();
                }
                return ready.hasNext();
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new java.util.NoSuchElementException();
                }
                return ready.next();
            }
        };
    }

    private static List<Row> classifyBatch(List<Row> batch, Settings s, RoutedInference inference, Configuration hadoop) {
        var inputs = new ArrayList<RoutedInference.Input>(batch.size());
        for (Row r : batch) {
            String task = r.isNullAt(s.task()) ? null : r.getString(s.task());
            inputs.add(input(r, task, s, hadoop));
        }
        List<RoutedInference.Output> results = inference.classify(inputs);
        var out = new ArrayList<Row>(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            Row r = batch.get(i);
            RoutedInference.Output o = results.get(i);
            Object[] values = new Object[r.length() + 4];
            for (int c = 0; c < r.length(); c++) {
                values[c] = r.get(c);
            }
            System.arraycopy(o.values(), 0, values, r.length(), 4);
            out.add(RowFactory.create(values));
        }
        return out;
    }

    /** One row's image, read and decoded, or why not. */
    static RoutedInference.Input input(Row r, String task, Settings s, Configuration hadoop) {
        if (r.isNullAt(s.image())) {
            return RoutedInference.Input.failed(task, "no image");
        }
        String source = s.path() >= 0 && !r.isNullAt(s.path()) ? String.valueOf(r.get(s.path())) : "row";
        switch (s.kind()) {
            case BYTES -> {
                return RoutedInference.Input.decode(task, (byte[]) r.get(s.image()), source, s.maxPixels());
            }
            case PATH -> {
                String uri = r.getString(s.image());
                try {
                    Path p = new Path(uri);
                    byte[] bytes;
                    try (InputStream in = p.getFileSystem(hadoop).open(p)) {
                        bytes = in.readNBytes(MAX_IMAGE_BYTES + 1);
                    }
                    if (bytes.length > MAX_IMAGE_BYTES) {
                        return RoutedInference.Input.failed(task, uri + " is larger than " + (MAX_IMAGE_BYTES >> 20)
                                + " MiB: not read");
                    }
                    return RoutedInference.Input.decode(task, bytes, uri, s.maxPixels());
                } catch (IOException | RuntimeException e) {
                    return RoutedInference.Input.failed(task, RoutedInference.reason(e));
                }
            }
            default -> {
                try {
                    return new RoutedInference.Input(task, fromImageStruct(r.getStruct(s.image()), s.maxPixels()), null);
                } catch (RuntimeException e) {
                    return RoutedInference.Input.failed(task, RoutedInference.reason(e));
                }
            }
        }
    }

    /** Spark's image struct (rows of BGR or BGRA bytes, or one grey channel) as RGB. */
    static RgbImage fromImageStruct(Row image, long maxPixels) {
        int width = image.getInt(image.fieldIndex("width"));
        int height = image.getInt(image.fieldIndex("height"));
        int channels = image.getInt(image.fieldIndex("nChannels"));
        String origin = List.of(image.schema().fieldNames()).contains("origin") ? image.getString(image.fieldIndex("origin"))
                : "image";
        ImageDecoder.checkSize(width, height, Objects.requireNonNullElse(origin, "image"), maxPixels, w -> {});
        byte[] data = (byte[]) image.get(image.fieldIndex("data"));
        if (channels != 1 && channels != 3 && channels != 4 || data == null || data.length != (long) width * height * channels) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "image struct of %s: %dx%d with %d channels does not fit its %d bytes", origin, width, height, channels,
                    data == null ? 0 : data.length));
        }
        byte[] rgb = new byte[3 * width * height];
        for (int i = 0; i < width * height; i++) {
            if (channels == 1) {
                rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i];
            } else {
                rgb[3 * i] = data[channels * i + 2];
                rgb[3 * i + 1] = data[channels * i + 1];
                rgb[3 * i + 2] = data[channels * i];
            }
        }
        return new RgbImage(width, height, rgb);
    }

    @Override
    public SptClassifier copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    /** Spark ML's reader, found by reflection when a saved pipeline is loaded. */
    public static MLReader<SptClassifier> read() {
        return new DefaultParamsReader<>();
    }

    public static SptClassifier load(String path) {
        return read().load(path);
    }
}
