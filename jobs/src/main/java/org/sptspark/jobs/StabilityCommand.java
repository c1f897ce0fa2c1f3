package org.sptspark.jobs;

import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.Budget;
import org.sptspark.allocation.BudgetAllocator;
import org.sptspark.allocation.TuningPlan;
import org.sptspark.data.Normalization;
import org.sptspark.data.Suite;
import org.sptspark.data.TaskSpec;
import org.sptspark.model.Precision;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.BackbonePresets;
import org.sptspark.report.Stability;
import org.sptspark.report.StabilitySummary;
import org.sptspark.sensitivity.ScoresManifest;
import org.sptspark.sensitivity.ScoresStore;
import org.sptspark.sensitivity.SensitivityScores;
import org.sptspark.spark.DistributedSensitivity;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * How many sensitivity batches are enough: one task's scores at several batch counts and seeds,
 * their top-k overlaps and the agreement of the plans made from them. One Spark job per seed scores
 * the largest batch count and keeps the smaller counts' sums as it passes them (the first 4 batches
 * are a prefix of the first 8); committed score sets are reused.
 */
@Command(name = "stability", mixinStandardHelpOptions = true,
        description = {"How stable SPT's sensitivity is: scores at several batch counts and seeds, compared.",
            "Per pair of score sets sharing a seed or a batch count: the overlap of their top-k scalars, Spearman's",
            "rank correlation, and the agreement of the plans made from them at the budget (which matrices get a",
            "LoRA/Adapter module, and every tensor's decision). One job per seed scores the largest batch count and",
            "keeps the smaller ones as prefixes; score sets and the summary are committed to the lake (spt report",
            "--stability reads them), committed score sets are reused unless --force."})
final class StabilityCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @picocli.CommandLine.Mixin
    TaskOptions where;

    @picocli.CommandLine.Mixin
    DataLimitOptions limits;

    @Option(names = "--batches", split = ",", defaultValue = "4,8,16,25",
            description = "Batch counts to compare, from the start of train800 (default: ${DEFAULT-VALUE}; 25 batches of 32"
                    + " are all of train800's 800 images).")
    List<Integer> batches;

    @Option(names = "--seeds", split = ",", defaultValue = "0,1",
            description = "Seeds of the fresh head and drop-path to compare (default: ${DEFAULT-VALUE}).")
    List<Long> seeds;

    @Option(names = "--budget", defaultValue = "0.4M",
            description = "The plans' budget, read as `spt allocate` reads it (default: ${DEFAULT-VALUE}).")
    String budget;

    @Option(names = "--top-k", description = "The top-k size compared (default: the budget's parameter count).")
    Long topK;

    @Option(names = "--method", defaultValue = "lora", description = "The plans' module: lora or adapter (default: ${DEFAULT-VALUE}).")
    String method;

    @Option(names = "--rank", defaultValue = "8", description = "Module rank r (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--batch-size", defaultValue = "32", description = "Images per batch (reference: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--drop-path", defaultValue = "0.1", description = "Drop-path rate while scoring (reference: ${DEFAULT-VALUE}).")
    double dropPath;

    @Option(names = "--normalization", defaultValue = "imagenet", description = "imagenet or half (default: ${DEFAULT-VALUE}).")
    String normalization;

    @Option(names = "--partitions", description = "Spark partitions (default: the default parallelism).")
    Integer partitions;

    @Option(names = "--precision", defaultValue = "fp32",
            description = "fp32 (the reference), or bf16 autocast for the passes; the sums stay float64 (default: ${DEFAULT-VALUE}).")
    String precision;

    @Option(names = "--checkpoint-activations", description = "Score with activation checkpointing (the same scores, less memory).")
    boolean checkpointActivations;

    @Option(names = "--format", defaultValue = "markdown", description = "markdown, csv or json (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--force", description = "Recompute the score sets even when committed ones exist.")
    boolean force;

    @Override
    public Integer call() throws Exception {
        if (!List.of("markdown", "csv", "json").contains(format)) {
            throw new IllegalArgumentException("unknown format '" + format + "': choose markdown, csv or json");
        }
        int[] counts = distinctPositive(batches, "--batches");
        List<Long> seedList = List.copyOf(new LinkedHashSet<>(seeds));
        if (seedList.size() != seeds.size()) {
            throw new IllegalArgumentException("--seeds " + seeds + " names a seed twice");
        }
        var module = AllocateCommand.choice("--method", method, AllocationRule.Module.class);
        Suite s = Suite.load(where.suite);
        TaskSpec t = s.task(where.task);
        BackboneConfig config = BackbonePresets.get(where.preset).withNumClasses(t.classes()).withDropPathRate(dropPath);
        Precision p = Precision.parse(precision);
        Normalization norm = Normalization.named(normalization);
        var space = config.space();
        Budget target = Budget.parse(budget, space.backboneSize());
        long k = topK != null ? topK : target.target();
        if (k < 1 || k > space.scoredSize()) {
            throw new IllegalArgumentException("--top-k " + k + (topK == null ? " (the budget " + budget + "'s count)" : "")
                    + " is outside 1.." + space.scoredSize() + ", the scored parameters of " + where.preset);
        }
        SparkSessions.refuseUnsupported(p);
        SparkSession spark = SparkSessions.get("spt stability " + where.task);
        Configuration hadoop = limits.applyTo(spark.sparkContext().hadoopConfiguration());
        String sha = org.sptspark.model.CheckpointFiles.checkedSha256(hadoop, where.backbone, config);
        String folder = StabilitySummary.folder(where.lake, s.name(), t.name(), where.preset, sha);
        PrintWriter err = spec.commandLine().getErr();
        long start = System.nanoTime();

        var rule = AllocationRule.defaults(module, rank);
        var warned = new TreeSet<String>();
        var scored = new ArrayList<Stability.Scored>();
        var sets = new ArrayList<StabilitySummary.ScoreSet>();
        int max = counts[counts.length - 1];
        for (long seed : seedList) {
            var request = new DistributedSensitivity.Request(t, where.data, where.backbone, sha, config, norm, batchSize, max,
                    seed, partitions != null ? partitions : Math.min(max, spark.sparkContext().defaultParallelism()),
                    1 << 20, p, checkpointActivations);
            List<SensitivityScores> bySeed = committed(hadoop, folder, counts, request);
            if (bySeed != null) {
                progress(err, "seed %d: committed scores reused for %s batches", seed, list(counts));
            } else {
                progress(err, "seed %d: scoring %d batches of %d, keeping the sums after %s", seed, max, batchSize,
                        list(counts));
                bySeed = score(spark, hadoop, s, t, config, sha, folder, request, counts);
            }
            for (int i = 0; i < counts.length; i++) {
                SensitivityScores scores = bySeed.get(i);
                TuningPlan plan = new BudgetAllocator(scores, rule).allocate(List.of(target), false, w -> {
                    if (warned.add(w)) {
                        err.println("warning: " + w);
                        err.flush();
                    }
                }).get(0);
                var setting = new Stability.Setting(counts[i], seed);
                scored.add(new Stability.Scored(setting, scores, plan));
                sets.add(new StabilitySummary.ScoreSet(counts[i], seed,
                        StabilitySummary.scoresFolder(folder, counts[i], batchSize, seed), scores.id(), plan.k(),
                        plan.totals().achieved(), List.copyOf(Stability.structured(plan))));
            }
        }
        progress(err, "comparing %d score sets (top %,d of %,d scalars) and their plans at %s", scored.size(), k,
                space.scoredSize(), target.label());
        var comparisons = Stability.compare(scored, k);
        var summary = new StabilitySummary(s.name(), t.name(), where.preset, sha, module.id(), rank, target.label(),
                target.target(), k, batchSize, dropPath, p.label(), space.scoredSize(), sets, comparisons,
                (System.nanoTime() - start) / 1e9, Instant.now().toString());
        String file = summary.write(hadoop, where.lake);
        var out = spec.commandLine().getOut();
        out.print(StabilitySummary.render(List.of(summary), format));
        out.flush();
        progress(err, "summary committed to %s", file);
        return 0;
    }

    /** The committed score sets of one seed at every count, or null when one is missing or was made otherwise. */
    private List<SensitivityScores> committed(Configuration hadoop, String folder, int[] counts,
            DistributedSensitivity.Request request) {
        if (force) {
            return null;
        }
        var out = new ArrayList<SensitivityScores>();
        for (int n : counts) {
            String dir = StabilitySummary.scoresFolder(folder, n, request.batchSize(), request.seed());
            if (!ScoresStore.committed(hadoop, dir)) {
                return null;
            }
            ScoresManifest m = ScoresStore.manifest(hadoop, dir);
            if (m.batches() != n || m.batchSize() != request.batchSize() || m.seed() != request.seed()
                    || m.dropPath() != request.backbone().dropPathRate()
                    || !request.precision().label().equals(m.precision()) || !normalization.equals(m.normalization())) {
                return null;
            }
            out.add(ScoresStore.read(hadoop, dir));
        }
        return out;
    }

    /** One job for the seed's largest count; each count's scores committed, then read back with their ids. */
    private List<SensitivityScores> score(SparkSession spark, Configuration hadoop, Suite s, TaskSpec t, BackboneConfig config,
            String sha, String folder, DistributedSensitivity.Request request, int[] counts) {
        var results = DistributedSensitivity.runPrefixes(spark, request, counts, DistributedSensitivity.PartitionHook.NONE);
        var out = new ArrayList<SensitivityScores>();
        for (int i = 0; i < counts.length; i++) {
            var result = results.get(i);
            var prefix = new DistributedSensitivity.Request(request.task(), request.dataRoot(), request.checkpoint(),
                    request.checkpointSha256(), request.backbone(), request.normalization(), request.batchSize(), counts[i],
                    request.seed(), request.partitions(), request.blockSize(), request.precision(),
                    request.checkpointActivations());
            var provenance = org.sptspark.spark.Sweep.provenance(s.name(), t, where.data, where.backbone, where.preset, config,
                    sha, prefix, result, normalization, Versions.json(spark.version()).toString());
            String dir = StabilitySummary.scoresFolder(folder, counts[i], request.batchSize(), request.seed());
            ScoresStore.write(hadoop, dir, result.scores(), provenance);
            out.add(ScoresStore.read(hadoop, dir));
        }
        progress(spec.commandLine().getErr(), "seed %d: %d batches scored in %.1f s; score sets committed under %s",
                request.seed(), request.batches(), results.get(0).seconds(), folder);
        return out;
    }

    /** The counts, distinct, positive and ascending. */
    static int[] distinctPositive(List<Integer> values, String option) {
        var sorted = new TreeSet<Integer>();
        for (int v : values) {
            if (v < 1) {
                throw new IllegalArgumentException(option + " " + values + ": every batch count must be at least 1");
            }
            if (!sorted.add(v)) {
                throw new IllegalArgumentException(option + " " + values + " names " + v + " twice");
            }
        }
        return sorted.stream().mapToInt(Integer::intValue).toArray();
    }

    private static String list(int[] counts) {
        return java.util.Arrays.stream(counts).mapToObj(Integer::toString).collect(java.util.stream.Collectors.joining(", "));
    }

    private static void progress(PrintWriter err, String format, Object... args) {
        err.println("stability: " + String.format(Locale.ROOT, format, args));
        err.flush();
    }
}
