package org.sptspark.jobs;

import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.sptspark.data.Normalization;
import org.sptspark.data.Suite;
import org.sptspark.data.TaskSpec;
import org.sptspark.model.Precision;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.BackbonePresets;
import org.sptspark.sensitivity.ScoresStore;
import org.sptspark.spark.DistributedSensitivity;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** SPT stage 1 for one task: sensitivity scores to the lake. */
@Command(name = "sensitivity", mixinStandardHelpOptions = true,
        description = {"Score every backbone parameter's sensitivity on a task (SPT stage 1).",
            "Commits the scores to the lake; committed scores are kept unless --force."})
final class SensitivityCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @picocli.CommandLine.Mixin
    TaskOptions where;

    @picocli.CommandLine.Mixin
    DataLimitOptions limits;

    @Option(names = "--batch-size", defaultValue = "32", description = "Images per batch (reference: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--batches", defaultValue = "16", description = "Batches from the start of train800 (reference: ${DEFAULT-VALUE}).")
    int batches;

    @Option(names = "--seed", defaultValue = "0", description = "Seeds the fresh head and drop-path (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--drop-path", defaultValue = "0.1", description = "Drop-path rate while scoring (reference: ${DEFAULT-VALUE}).")
    double dropPath;

    @Option(names = "--normalization", defaultValue = "imagenet", description = "imagenet or half (default: ${DEFAULT-VALUE}).")
    String normalization;

    @Option(names = "--partitions", description = "Spark partitions (default: the default parallelism).")
    Integer partitions;

    @Option(names = "--precision", defaultValue = "fp32",
            description = "fp32 (the reference), or bf16 autocast for the passes; the sums stay float64 (default: ${DEFAULT-VALUE}).")
    String precision;

    @Option(names = "--checkpoint-activations",
            description = "Keep only each block's input in the forward pass and run the blocks (but the last) again in the backward pass: the same scores with one block's activations (and each block's input) in memory, for about one more forward pass.")
    boolean checkpointActivations;

    @Option(names = "--force", description = "Recompute even when committed scores exist.")
    boolean force;

    @Override
    public Integer call() throws Exception {
        Suite s = Suite.load(where.suite);
        TaskSpec t = s.task(where.task);
        BackboneConfig config = BackbonePresets.get(where.preset).withNumClasses(t.classes()).withDropPathRate(dropPath);
        Precision p = Precision.parse(precision);
        SparkSessions.refuseUnsupported(p);
        SparkSession spark = SparkSessions.get("spt sensitivity " + where.task);
        Configuration hadoop = limits.applyTo(spark.sparkContext().hadoopConfiguration());
        String sha = org.sptspark.model.CheckpointFiles.checkedSha256(hadoop, where.backbone, config);
        String folder = ScoresStore.folder(where.lake, s.name(), t.name(), where.preset, sha);
        var out = spec.commandLine().getOut();
        if (!force && ScoresStore.committed(hadoop, folder)) {
            out.println("committed scores exist at " + folder + " (use --force to recompute)");
            out.flush();
            return 0;
        }
        int parts = partitions != null ? partitions : Math.min(batches, spark.sparkContext().defaultParallelism());
        var request = new DistributedSensitivity.Request(t, where.data, where.backbone, sha, config, Normalization.named(normalization),
                batchSize, batches, seed, parts, 1 << 20, p, checkpointActivations);
        var result = DistributedSensitivity.run(spark, request);
        var provenance = org.sptspark.spark.Sweep.provenance(s.name(), t, where.data, where.backbone, where.preset, config, sha, request,
                result, normalization, Versions.json(spark.version()).toString());
        ScoresStore.write(hadoop, folder, result.scores(), provenance);
        out.printf(Locale.ROOT, "scored %d parameters of %s on %s (%d batches of %d, %.1f s); committed to %s%n",
                result.scores().space().scoredSize(), where.preset, t.name(), result.batches(), batchSize, result.seconds(), folder);
        out.flush();
        return 0;
    }
}
