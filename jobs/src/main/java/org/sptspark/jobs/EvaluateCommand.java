package org.sptspark.jobs;

import ai.djl.ndarray.NDManager;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.sptspark.artifact.Artifacts;
import org.sptspark.data.DatasetReader;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.Split;
import org.sptspark.data.Suite;
import org.sptspark.data.TaskSpec;
import org.sptspark.model.BackboneConfig;
import org.sptspark.tuning.Accuracy;
import org.sptspark.tuning.LabeledImages;
import org.sptspark.tuning.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Top-1 of a committed artifact on a split, verified against its backbone first. */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = {"Report a committed artifact's top-1 on a split of its task, overall and per class.",
            "Loads the artifact onto its backbone, both verified. Works for every method, Adapters included."})
final class EvaluateCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--artifact", required = true, description = "The artifact folder (path or Hadoop URI).")
    String artifact;

    @Option(names = "--backbone", required = true, description = "The checkpoint the artifact was trained on.")
    String backbone;

    @Option(names = "--data", required = true, description = "The suite's data root.")
    String data;

    @Option(names = "--suite", description = "Suite name or .conf file (default: the artifact's).")
    String suite;

    @Option(names = "--split", defaultValue = "test", description = "train800, val200, train800val200 or test (default: ${DEFAULT-VALUE}).")
    String split;

    @Option(names = "--batch-size", defaultValue = "128", description = "Images per batch (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @picocli.CommandLine.Mixin
    DataLimitOptions limits;

    @Override
    public Integer call() throws Exception {
        Configuration hadoop = limits.applyTo(HadoopFiles.configuration());
        var manifest = Artifacts.manifest(hadoop, artifact);
        Suite s = Suite.load(suite != null ? suite : manifest.task().suite());
        TaskSpec task = s.task(manifest.task().name());
        Split which = Split.parse(split);
        BackboneConfig config = manifest.backbone().architecture();
        Normalization norm = Normalization.named(manifest.normalizationOrDefault());
        try (NDManager manager = NDManager.newBaseManager()) {
            var opened = org.sptspark.artifact.OpenedArtifact.open(hadoop, artifact, backbone, manager);
            var loaded = opened.loaded();
            try (var tuned = opened.tuned()) {
                var samples = new DatasetReader(hadoop).read(data, task, which);
                Accuracy a = Trainer.evaluate(tuned, LabeledImages.stream(samples, hadoop, config.imageSize(), norm, batchSize),
                        task.classes());
                var out = spec.commandLine().getOut();
                out.printf(Locale.ROOT, "%s %s on %s/%s: top-1 %.4f (%d images)%n", loaded.method().id(),
                        manifest.budget() != null && manifest.budget().label() != null
                                ? "@ " + manifest.budget().label() : "",
                        task.name(), which.vtabList(), a.top1(), a.images());
                double[] perClass = a.perClass();
                for (int c = 0; c < perClass.length; c++) {
                    out.printf(Locale.ROOT, "  class %3d: %s (%d images)%n", c,
                            Double.isNaN(perClass[c]) ? "-" : String.format(Locale.ROOT, "%.4f", perClass[c]), a.total()[c]);
                }
                out.flush();
            }
        }
        return 0;
    }
}
