package org.sptspark.jobs;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.sptspark.data.DatasetReader;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.Sample;
import org.sptspark.data.Split;
import org.sptspark.data.Suite;
import org.sptspark.data.TaskSpec;
import org.sptspark.lake.LakeFiles;
import org.sptspark.lake.SoftwareVersions;
import org.sptspark.model.BackboneManifest;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.Backbone;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.BackbonePresets;
import org.sptspark.model.Backbones;
import org.sptspark.model.VitPresets;
import org.sptspark.modules.Unstructured;
import org.sptspark.tuning.Accuracy;
import org.sptspark.tuning.LabeledImages;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.Recipe;
import org.sptspark.tuning.Trainer;
import org.sptspark.tuning.TunedModel;
import org.sptspark.tuning.TuningLayout;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Pretrains a backbone from scratch on a suite's upstream tasks: how the embedded demo backbone was made. */
@Command(name = "pretrain", mixinStandardHelpOptions = true,
        description = {"Pretrain a backbone (any family) from random initialisation on a suite's upstream tasks.",
            "One head over their classes together; reports top-1 on their test splits and writes the checkpoint",
            "with a manifest (<out>.json) recording the command, data, recipe, accuracy and sha256."})
final class PretrainCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--suite", defaultValue = "demo", description = "Suite whose upstream tasks to train on (default: ${DEFAULT-VALUE}).")
    String suite;

    @Option(names = "--data", required = true, description = "Root holding the upstream tasks (spt data prepare --upstream).")
    String data;

    @Option(names = "--preset", defaultValue = VitPresets.DEMO, description = "Architecture (default: ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = "--out", required = true, description = "The checkpoint to write (.safetensors); the manifest goes to <out>.json.")
    Path out;

    @Option(names = "--epochs", defaultValue = "6", description = "Epochs (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--warmup-epochs", defaultValue = "1", description = "Warm-up epochs (default: ${DEFAULT-VALUE}).")
    int warmupEpochs;

    @Option(names = "--batch-size", defaultValue = "128", description = "Images per step (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr", defaultValue = "1e-3", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--weight-decay", defaultValue = "0.05", description = "AdamW decay on matrices (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--drop-path", defaultValue = "0.1", description = "Drop-path (default: ${DEFAULT-VALUE}).")
    double dropPath;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the initialisation, shuffling and masks (default: ${DEFAULT-VALUE}).")
    long seed;

    @Override
    public Integer call() throws Exception {
        long started = System.nanoTime();
        Suite s = Suite.load(suite);
        if (s.upstream().isEmpty()) {
            throw new IllegalArgumentException("suite " + s.name() + " names no upstream tasks to pretrain on");
        }
        Configuration hadoop = HadoopFiles.configuration();
        var reader = new DatasetReader(hadoop);
        int classes = s.upstream().stream().mapToInt(TaskSpec::classes).sum();
        BackboneConfig config = BackbonePresets.get(preset).withNumClasses(classes).withDropPathRate(dropPath);
        var err = spec.commandLine().getErr();
        var train = new ArrayList<LabeledImages>();
        var tests = new ArrayList<List<Sample>>();
        int offset = 0;
        for (TaskSpec t : s.upstream()) {
            train.add(LabeledImages.load(shift(reader.read(data, t, Split.TRAIN), offset), hadoop, config.imageSize(),
                    Normalization.IMAGENET));
            tests.add(shift(reader.read(data, t, Split.TEST), offset));
            err.printf(Locale.ROOT, "%s: %d training images, classes %d..%d%n", t.name(), train.get(train.size() - 1).count(),
                    offset, offset + t.classes() - 1);
            offset += t.classes();
        }
        LabeledImages all = LabeledImages.concat(train);
        var recipe = Recipe.builder().epochs(epochs).warmupEpochs(Math.min(warmupEpochs, epochs)).batchSize(batchSize).lr(lr)
                .weightDecay(weightDecay).dropPath(dropPath).evalEvery(0).seed(seed).build();
        try (NDManager manager = NDManager.newBaseManager(Engine.getInstance().defaultDevice())) {
            Backbone model = Backbones.create(manager, config, seed);
            var layout = TuningLayout.baseline(Method.FULL, model.space(), 0);
            try (var tuned = TunedModel.forTraining(model, layout, seed, Unstructured.DELTA)) {
                var result = Trainer.train(tuned, all, recipe, null, e -> {
                    err.printf(Locale.ROOT, "pretrain epoch %d/%d lr %.2e loss %.4f train top-1 %.3f %.0f img/s%n",
                            e.epoch(), e.epochs(), e.lr(), e.loss(), e.accuracy(), e.imagesPerSecond());
                    err.flush();
                });
                var accuracy = new LinkedHashMap<String, Double>();
                for (int i = 0; i < tests.size(); i++) {
                    Accuracy a = Trainer.evaluate(tuned,
                            LabeledImages.stream(tests.get(i), hadoop, config.imageSize(), Normalization.IMAGENET, 256), classes);
                    accuracy.put(s.upstream().get(i).name(), a.top1());
                    err.printf(Locale.ROOT, "%s test top-1 %.4f on %d images%n", s.upstream().get(i).name(), a.top1(),
                            a.images());
                }
                String command = "jobs/bin/spt pretrain --suite " + s.name() + " --data DATA --preset " + preset
                        + " --out " + out.getFileName() + " --epochs " + epochs + " --warmup-epochs " + warmupEpochs
                        + " --batch-size " + batchSize + " --lr " + lr + " --weight-decay " + weightDecay + " --drop-path "
                        + dropPath + " --seed " + seed + "   (DATA from: jobs/bin/spt data prepare --suite " + s.name()
                        + " --upstream --out DATA)";
                List<String> upstream = s.upstream().stream().map(t -> t.name() + " (" + t.classes() + " classes)").toList();
                String name = out.getFileName().toString();
                var checkpoint = new org.apache.hadoop.fs.Path(out.toAbsolutePath().toUri());
                Path manifest = out.resolveSibling(name + ".json");
                var files = LakeFiles.commit(hadoop, BackboneManifest.file(checkpoint),
                        List.of(new LakeFiles.Payload(name, os -> Checkpoints.write(model, os))),
                        digests -> new BackboneManifest(name, digests.get(name).sha256(), preset, config, command, upstream,
                                all.count(), new Gson().toJsonTree(recipe).getAsJsonObject(), accuracy,
                                result.last().loss(), (System.nanoTime() - started) / 1e9,
                                SoftwareVersions.parse(Versions.json(null).toString()), Instant.now().toString()).toJson());
                String sha = files.get(name).sha256();
                var w = spec.commandLine().getOut();
                w.printf(Locale.ROOT, "pretrained %s on %d images in %.0f s: %s; wrote %s (sha256 %s) and %s%n", preset,
                        all.count(), (System.nanoTime() - started) / 1e9, new Gson().toJson(accuracy), out, sha, manifest.getFileName());
                w.flush();
            }
        }
        return 0;
    }

    private static List<Sample> shift(List<Sample> samples, int offset) {
        return samples.stream().map(x -> new Sample(x.row(), x.path(), x.label() + offset, x.origin())).toList();
    }
}
