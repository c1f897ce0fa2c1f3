package org.sptspark.jobs;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import org.sptspark.data.DemoData;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.Suite;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.VitPresets;
import org.sptspark.snella.SnellaOptions;
import org.sptspark.spark.Sweep;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.Recipe;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The embedded default: the demo suite with the bundled pretrained demo backbone, every method, SPT
 * and the LoRA and Adapter baselines at one budget.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Run the main job on the embedded default: a sweep of the demo suite in local mode.",
            "Prepares the demo suite if missing, then sweeps it with the bundled pretrained demo backbone",
            "(SPT-LoRA, SPT-Adapter, LoRA and Adapter at one budget; linear probe, full fine-tuning and SNELLA",
            "at their own sizes) and prints the results table, each column with the parameters it trained.",
            "Re-running reuses what is committed."})
final class DemoCommand implements Callable<Integer> {

    /** The bundled backbone, a class-path resource of this jar, with its manifest beside it. */
    static final String BACKBONE = "/org/sptspark/backbones/" + VitPresets.DEMO + ".safetensors";

    @Spec
    CommandSpec spec;

    @Option(names = "--dir", defaultValue = "target/demo", description = "Where data, backbone and lake go (default: ${DEFAULT-VALUE}).")
    Path dir;

    @Option(names = "--packages", description = "Folder of npm tarballs (default: $SPT_PACKAGES, else ~/.cache/spt/packages).")
    Path packages;

    @Option(names = "--budget", defaultValue = "20k",
            description = "The budget of SPT and of the LoRA and Adapter baselines (default: ${DEFAULT-VALUE}, 3%% of the backbone).")
    String budget;

    @Option(names = "--epochs", defaultValue = "2", description = "Epochs per training (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--lr", defaultValue = "2e-3", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--tasks", split = ",", description = "Only these demo tasks (default: all seven).")
    List<String> tasks = List.of();

    @Option(names = "--force", description = "Retrain everything.")
    boolean force;

    @Override
    public Integer call() throws Exception {
        long started = System.nanoTime();
        var err = spec.commandLine().getErr();
        Suite suite = Suite.load("demo");
        Path data = dir.resolve("data").toAbsolutePath();
        var prepared = new DemoData(HadoopFiles.configuration(), packages != null ? packages : DataCommand.defaultPackages(), 0)
                .prepareSuite(data.toString(), suite, false, false);
        err.printf(Locale.ROOT, "demo data in %s (%s)%n", data, prepared.isEmpty() ? "already prepared" : "prepared " + prepared);
        Path backbone = dir.resolve(VitPresets.DEMO + ".safetensors").toAbsolutePath();
        try (InputStream in = DemoCommand.class.getResourceAsStream(BACKBONE)) {
            if (in == null) {
                throw new IllegalStateException("the demo backbone " + BACKBONE + " is missing from the class path");
            }
            Files.createDirectories(dir);
            Files.copy(in, backbone, StandardCopyOption.REPLACE_EXISTING);
        }
        err.printf(Locale.ROOT, "demo backbone %s (sha256 %s; how it was made: %s.json beside it in the sources)%n", backbone,
                Checkpoints.sha256(backbone), BACKBONE);
        // the demo's own short recipe: a few epochs at a higher rate, so that 49 trainings fit in minutes on two cores
        var recipe = Recipe.builder().epochs(epochs).warmupEpochs(0).lr(lr).evalEvery(0).build();
        // one task thread (trainings queue on the JVM's gradient lock anyway); a failed task is retried once,
        // as a cluster retries (spark.task.maxFailures)
        SparkSession spark = SparkSessions.get("spt demo", "local[1,2]");
        var config = new Sweep.Config(suite, tasks, data.toString(), backbone.toString(), VitPresets.DEMO,
                dir.resolve("lake").toAbsolutePath().toString(),
                // SNELLA keeps its rank and target sparsity: see README, "the demo", for why it is not matched
                List.of(new Method.AtBudget(Method.SPT_LORA, null), new Method.AtBudget(Method.SPT_ADAPTER, null),
                        new Method.AtBudget(Method.LORA, budget), new Method.AtBudget(Method.ADAPTER, budget),
                        new Method.AtBudget(Method.LINEAR, null), new Method.AtBudget(Method.FULL, null),
                        new Method.AtBudget(Method.SNELLA, null)),
                List.of(budget), 8, SnellaOptions.defaults().withRank(8), recipe, Normalization.IMAGENET, 32, 16,
                "demo-" + Instant.now().toString().replace(':', '-'), Versions.json(spark.version()).toString(), force);
        Sweep.Result result = Sweep.run(spark, config, line -> {
            err.println(line);
            err.flush();
        });
        SweepCommand.print(spec.commandLine().getOut(), result);
        spec.commandLine().getOut().printf(Locale.ROOT, "demo finished in %.0f s; lake: %s%n",
                (System.nanoTime() - started) / 1e9, config.lake());
        spec.commandLine().getOut().flush();
        return SweepCommand.exitCode(result);
    }
}
