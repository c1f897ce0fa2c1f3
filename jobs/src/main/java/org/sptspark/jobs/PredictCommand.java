package org.sptspark.jobs;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import org.sptspark.model.Precision;
import org.sptspark.data.DataLimits;
import org.sptspark.spark.Prediction;
import org.sptspark.spark.SptClassifier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Applies tuned artifacts to a folder of images as a Spark job. */
@Command(name = "predict", mixinStandardHelpOptions = true,
        description = {"Run batch inference as a Spark job over any Hadoop URI.",
            "--images: every image under a folder through every artifact; a Parquet table (image, task, artifact_id,",
            "artifact, method, budget, top-k classes and probabilities) to --out, and the images that could not be",
            "read or decoded to --out/_skipped/skipped.jsonl.",
            "--table or --list (routed): each row's image through its own task's artifact, rows of different tasks",
            "sharing mixed forward passes; the input's columns plus artifact_id, classes, probabilities and error",
            "(why a row has no result) to --out, one row per input row.",
            "The backbone is loaded once per executor and each small artifact laid over it (never a merged copy",
            "per task); GPU executors when Spark assigns them."})
final class PredictCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--backbone", required = true, description = "The checkpoint the artifacts were trained on.")
    String backbone;

    @Option(names = "--artifacts", split = ",",
            description = "Artifact folders (committed), comma-separated; routed: at most one per task.")
    List<String> artifacts;

    @Option(names = "--images", description = "A folder (listed recursively) or one image file: every image through every artifact.")
    String images;

    @Option(names = "--table", description = "Routed: a Parquet table with an image column (bytes or a path/URI) and a task column.")
    String table;

    @Option(names = "--list", description = "Routed: a text file of '<image> <task>' lines, images relative to its folder.")
    String list;

    @Option(names = "--image-column", defaultValue = "image", description = "Routed: the image column (default: ${DEFAULT-VALUE}).")
    String imageColumn;

    @Option(names = "--task-column", defaultValue = "task", description = "Routed: the task column (default: ${DEFAULT-VALUE}).")
    String taskColumn;

    @Option(names = "--lake", description = "Routed: take a run's artifacts from this lake's results table (with --run, --method).")
    String lake;

    @Option(names = "--run", description = "Routed, with --lake: the run.")
    String run;

    @Option(names = "--method", description = "Routed, with --lake: the method, e.g. spt-lora.")
    String method;

    @Option(names = "--budget", description = "Routed, with --lake: the budget label (e.g. 20k) when the run has several.")
    String budget;

    @Option(names = "--out", required = true, description = "Where the predictions table goes (replaced).")
    String out;

    @Option(names = "--top-k", defaultValue = "5", description = "Classes kept per image (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--batch-size", defaultValue = "64", description = "Images per forward pass (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--precision", defaultValue = "fp32",
            description = "fp32, or bf16 autocast (needs a JNI with bf16, see README) (default: ${DEFAULT-VALUE}).")
    String precision;

    @picocli.CommandLine.Mixin
    ImageLimitOptions limits;

    @Override
    public Integer call() throws Exception {
        var err = spec.commandLine().getErr();
        Precision p = Precision.parse(precision);
        int inputs = (images != null ? 1 : 0) + (table != null ? 1 : 0) + (list != null ? 1 : 0);
        if (inputs != 1) {
            throw new IllegalArgumentException("give one of --images (every image through every artifact), --table or --list"
                    + " (each row through its task's artifact)");
        }
        boolean fromLake = lake != null || run != null || method != null || budget != null;
        if (artifacts == null && !fromLake) {
            throw new IllegalArgumentException("give --artifacts" + (images == null ? ", or --lake with --run and --method" : ""));
        }
        if (fromLake && (images != null || artifacts != null || lake == null || run == null || method == null)) {
            throw new IllegalArgumentException(images != null ? "--lake, --run and --method go with --table or --list"
                    : "give --artifacts, or --lake with --run and --method (and --budget), not both");
        }
        SparkSessions.refuseUnsupported(p);
        SparkSession spark = SparkSessions.get("spt predict");
        limits.applyTo(spark.sparkContext().hadoopConfiguration());
        if (images == null) {
            return routed(spark, p, err);
        }
        Prediction.Summary s = Prediction.run(spark, backbone, artifacts, images, out, topK, batchSize, p, line -> {
            err.println(line);
            err.flush();
        });
        PrintWriter o = spec.commandLine().getOut();
        o.printf(Locale.ROOT, "%d images x %d artifacts: %d predictions in %.1f s (%.1f images/s, %.1f image-artifact"
                + " pairs/s); %d skipped%n", s.images(), s.artifacts(), s.predictions(), s.seconds(), s.imagesPerSecond(),
                s.predictions() / s.seconds(), s.skipped());
        s.firstSkipped().forEach(line -> o.println("  skipped " + line));
        if (s.skipped() > s.firstSkipped().size()) {
            o.println("  ... the full skip list is in " + out + "/_skipped/skipped.jsonl");
        }
        o.println("predictions: " + out);
        o.flush();
        return 0;
    }

    private int routed(SparkSession spark, Precision p, PrintWriter err) throws Exception {
        var classifier = new SptClassifier().setBackbone(backbone).setTopK(topK).setBatchSize(batchSize)
                .setPrecision(p.name().toLowerCase(Locale.ROOT))
                .setMaxImagePixels(DataLimits.of(spark.sparkContext().hadoopConfiguration()).maxImagePixels());
        if (artifacts != null) {
            classifier.setArtifacts(artifacts.toArray(String[]::new));
        } else {
            classifier.setLakeRun(lake, run, method, budget);
        }
        Prediction.RoutedSummary s = Prediction.routed(spark, classifier, table != null ? table : list, imageColumn,
                taskColumn, out, line -> {
                    err.println(line);
                    err.flush();
                });
        PrintWriter o = spec.commandLine().getOut();
        o.printf(Locale.ROOT, "%d rows: %d predicted in %.1f s (%.1f rows/s), %d without a result%n", s.rows(), s.predicted(),
                s.seconds(), s.rowsPerSecond(), s.failed());
        s.firstFailed().forEach(line -> o.println("  no result: " + line));
        if (s.failed() > s.firstFailed().size()) {
            o.println("  ... every row's reason is in the error column of " + out);
        }
        o.println("predictions: " + out);
        o.flush();
        return 0;
    }
}
