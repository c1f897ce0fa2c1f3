package org.sptspark.jobs;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import org.sptspark.model.Precision;
import org.sptspark.spark.Prediction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Applies tuned artifacts to a folder of images as a Spark job. */
@Command(name = "predict", mixinStandardHelpOptions = true,
        description = {"Run batch inference: every image under --images through every artifact.",
            "Reads any Hadoop URI. The backbone is loaded once per executor and each small artifact laid over it",
            "(never a merged copy per task); GPU executors when Spark assigns them. Writes a Parquet table (image,",
            "task, artifact_id, artifact, method, budget, top-k classes and probabilities) to --out, and the images",
            "that could not be read or decoded to --out/_skipped/skipped.jsonl."})
final class PredictCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--backbone", required = true, description = "The checkpoint the artifacts were trained on.")
    String backbone;

    @Option(names = "--artifacts", required = true, split = ",", description = "Artifact folders (committed), comma-separated.")
    List<String> artifacts;

    @Option(names = "--images", required = true, description = "A folder (listed recursively) or one image file.")
    String images;

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
        SparkSessions.refuseUnsupported(p);
        SparkSession spark = SparkSessions.get("spt predict");
        limits.applyTo(spark.sparkContext().hadoopConfiguration());
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
}
