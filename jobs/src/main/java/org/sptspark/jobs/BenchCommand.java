package org.sptspark.jobs;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.Budget;
import org.sptspark.bench.AllocationBenchmark;
import org.sptspark.bench.ModelBenchmark;
import org.sptspark.bench.PreprocessBenchmark;
import org.sptspark.bench.SensitivityBenchmark;
import org.sptspark.data.DataLimits;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.BackbonePresets;
import org.sptspark.model.VitPresets;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Benchmarks that print figures for BENCHMARKS.md. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks that print figures.",
        subcommands = {BenchCommand.Model.class, BenchCommand.Allocate.class, BenchCommand.Data.class,
            BenchCommand.Sensitivity.class, BenchCommand.Train.class, BenchGpuCommand.class,
            BenchPeerCommand.class})
final class BenchCommand implements Runnable {

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Forward+backward throughput per preset against the engine's GEMM rate. */
    @Command(name = "model", mixinStandardHelpOptions = true,
            description = {"Time forward+backward per preset: images/s and GFLOP/s, all parameters trainable.",
                "Compared with the GEMM GFLOP/s of the same engine and device."})
    static final class Model implements Callable<Integer> {

        @Spec
        CommandSpec spec;

        @Option(names = "--presets", split = ",",
                defaultValue = "vit_tiny_patch16_224,vit_small_patch16_224,vit_base_patch16_224",
                description = "Comma-separated presets (default: ${DEFAULT-VALUE}).")
        List<String> presets;

        @Option(names = "--batch", defaultValue = "32", description = "Batch size (default: ${DEFAULT-VALUE}).")
        int batch;

        @Option(names = "--warmup", defaultValue = "1", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--iterations", defaultValue = "3", description = "Timed steps; medians are reported (default: ${DEFAULT-VALUE}).")
        int iterations;

        @Option(names = "--gemm-size", defaultValue = "2048", description = "Matrix size of the GEMM ceiling (default: ${DEFAULT-VALUE}).")
        int gemmSize;

        @Override
        public Integer call() {
            if (batch < 1 || iterations < 1 || warmup < 0) {
                throw new IllegalArgumentException("--batch and --iterations must be positive, --warmup not negative");
            }
            List<BackboneConfig> configs = presets.stream().map(BackbonePresets::get).toList();
            PrintWriter out = spec.commandLine().getOut();
            out.printf(Locale.ROOT, "engine %s %s, %d cores, intra-op threads %s%n",
                    ai.djl.engine.Engine.getInstance().getEngineName(), ai.djl.engine.Engine.getInstance().getVersion(),
                    Runtime.getRuntime().availableProcessors(), System.getProperty("ai.djl.pytorch.num_threads", "default"));
            double gemm = ModelBenchmark.gemmGflops(gemmSize, 5);
            out.printf(Locale.ROOT, "GEMM %d^3 fp32: %.1f GFLOP/s%n", gemmSize, gemm);
            out.printf(Locale.ROOT, "%-30s %5s %9s %9s %9s %10s %9s %8s%n",
                    "preset", "batch", "fwd s", "bwd s", "step s", "images/s", "GFLOP/s", "of GEMM");
            out.flush();
            for (BackboneConfig config : configs) {
                var r = ModelBenchmark.forwardBackward(config, batch, warmup, iterations);
                double step = r.forwardSeconds() + r.backwardSeconds();
                out.printf(Locale.ROOT, "%-30s %5d %9.3f %9.3f %9.3f %10.1f %9.1f %7.0f%%%n", config.name(), batch,
                        r.forwardSeconds(), r.backwardSeconds(), step, r.imagesPerSecond(), r.gflops(),
                        100 * r.gflops() / gemm);
                out.flush();
            }
            return 0;
        }
    }

    /** The allocator on random scores of each preset's size. */
    @Command(name = "allocate", mixinStandardHelpOptions = true,
            description = {"Time the SPT allocator on random scores of each preset's size.",
                "ViT-H needs JAVA_OPTS=-Xmx8g."})
    static final class Allocate implements Callable<Integer> {

        @Spec
        CommandSpec spec;

        @Option(names = "--presets", split = ",", defaultValue = "vit_base_patch16_224,vit_huge_patch14_224",
                description = "Comma-separated presets (default: ${DEFAULT-VALUE}).")
        List<String> presets;

        @Option(names = "--budgets", split = ",", defaultValue = "0.2M,0.4M,0.8M",
                description = "Budgets allocated in one call (default: ${DEFAULT-VALUE}).")
        List<String> budgets;

        @Option(names = "--repeat", defaultValue = "3", description = "Timed calls; the fastest is reported (default: ${DEFAULT-VALUE}).")
        int repeat;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            out.printf(Locale.ROOT, "%-24s %12s %8s %10s %10s %10s %10s %10s%n", "preset", "scores", "seconds",
                    "score MB", "alloc MB", "ratio", "target", "achieved");
            for (String name : presets) {
                BackboneConfig config = BackbonePresets.get(name);
                var scores = AllocationBenchmark.randomScores(config, 1);
                List<Budget> parsed = budgets.stream().map(b -> Budget.parse(b, scores.space().backboneSize())).toList();
                AllocationBenchmark.Result best = null;
                for (int i = 0; i < Math.max(1, repeat); i++) {
                    var r = AllocationBenchmark.run(scores, AllocationRule.defaults(AllocationRule.Module.LORA), parsed);
                    if (best == null || r.seconds() < best.seconds()) {
                        best = r;
                    }
                }
                for (int b = 0; b < parsed.size(); b++) {
                    var plan = best.plans().get(b);
                    out.printf(Locale.ROOT, "%-24s %12d %8.3f %10.0f %10.0f %10.2f %10d %10d%n", b == 0 ? name : "",
                            best.scoredParameters(), best.seconds(), best.scoreBytes() / 1e6, best.allocatedBytes() / 1e6,
                            (double) best.allocatedBytes() / best.scoreBytes(), plan.budget().target(),
                            plan.totals().achieved());
                }
                out.flush();
            }
            return 0;
        }
    }

    /** Decode + preprocess throughput per core. */
    @Command(name = "data", mixinStandardHelpOptions = true,
            description = {"Time image decoding, bicubic resizing and normalisation on one core.",
                "Images/s for a 500x375 JPEG and for a 32x32 PNG; then decoding alone against refusing a",
                "decompression bomb from its header: ms and heap allocated per image."})
    static final class Data implements Callable<Integer> {

        @Spec
        CommandSpec spec;

        @Option(names = "--size", defaultValue = "224", description = "Output side (default: ${DEFAULT-VALUE}).")
        int size;

        @Option(names = "--seconds", defaultValue = "5", description = "Seconds per input kind (default: ${DEFAULT-VALUE}).")
        double seconds;

        @Option(names = "--bomb", negatable = true, defaultValue = "true",
                description = "Also time decoding alone and refusing a 20000x20000 decompression bomb (--no-bomb: skip).")
        boolean bomb;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            out.printf(Locale.ROOT, "%-22s %8s %8s %12s%n", "input", "bytes", "output", "images/s/core");
            for (var input : List.of(
                    new Object[] {"jpeg 500x375", PreprocessBenchmark.sample(500, 375, "jpg")},
                    new Object[] {"png 32x32", PreprocessBenchmark.sample(32, 32, "png")})) {
                var r = PreprocessBenchmark.run((String) input[0], (byte[]) input[1], size, seconds);
                out.printf(Locale.ROOT, "%-22s %8d %5dx%-3d %12.1f%n", r.input(), r.bytes(), size, size, r.imagesPerSecond());
                out.flush();
            }
            if (bomb) {
                // decoding alone, against refusing a decompression bomb from its header (PIL's limit)
                out.printf(Locale.ROOT, "%n%-28s %9s %12s %16s%n", "decode only", "bytes", "ms/image", "allocated/image");
                for (var input : List.of(
                        new Object[] {"jpeg 500x375", PreprocessBenchmark.sample(500, 375, "jpg"), 200},
                        new Object[] {"png 32x32", PreprocessBenchmark.sample(32, 32, "png"), 2000},
                        new Object[] {"png 20000x20000 bomb", PreprocessBenchmark.decompressionBomb(20000, 20000, true), 2000})) {
                    var c = PreprocessBenchmark.cost((String) input[0], (byte[]) input[1], DataLimits.PIL_MAX_IMAGE_PIXELS,
                            (Integer) input[2]);
                    out.printf(Locale.ROOT, "%-28s %9d %12.3f %13.1f KB%s%n", c.input(), c.bytes(), c.milliseconds(),
                            c.allocatedBytes() / 1024.0, c.refused() ? " (refused)" : "");
                    out.flush();
                }
            }
            return 0;
        }
    }

    /** The sensitivity scorer on the reference workload. */
    @Command(name = "sensitivity", mixinStandardHelpOptions = true,
            description = {"Time SPT sensitivity scoring on random images, per preset, on this JVM's device.",
                "Forward, backward and grad^2 accumulation over the reference workload (16 batches of 32):",
                "seconds, images/s and this JVM's peak RSS so far (one preset and mode per run for a row's own peak;",
                "MALLOC_MMAP_THRESHOLD_=131072 keeps heap fragmentation out of it)."})
    static final class Sensitivity implements Callable<Integer> {

        @Spec
        CommandSpec spec;

        @Option(names = "--presets", split = ",", defaultValue = "vit_tiny_patch16_224,vit_small_patch16_224,vit_base_patch16_224",
                description = "Comma-separated presets (default: ${DEFAULT-VALUE}).")
        List<String> presets;

        @Option(names = "--batches", defaultValue = "16", description = "Batches (reference: ${DEFAULT-VALUE}).")
        int batches;

        @Option(names = "--batch-size", defaultValue = "32", description = "Images per batch (reference: ${DEFAULT-VALUE}).")
        int batchSize;

        @Mixin
        CheckpointingOption checkpointing;

        @Override
        public Integer call() {
            List<Boolean> modes = checkpointing.modes();
            PrintWriter out = spec.commandLine().getOut();
            out.printf(Locale.ROOT, "threads %s; %d batches of %d, drop-path 0.1, random images (decoding excluded)%n",
                    System.getProperty("ai.djl.pytorch.num_threads", "default"), batches, batchSize);
            out.printf(Locale.ROOT, "%-30s %5s %8s %10s %12s %12s%n", "preset", "ckpt", "images", "seconds", "images/s",
                    "peak RSS");
            out.flush();
            for (String name : presets) {
                BackboneConfig config = BackbonePresets.get(name).withDropPathRate(0.1);
                for (boolean checkpoint : modes) {
                    double seconds = SensitivityBenchmark.sensitivitySeconds(config, batchSize, batches,
                            ai.djl.engine.Engine.getInstance().defaultDevice(), org.sptspark.model.Precision.FP32, checkpoint);
                    out.printf(Locale.ROOT, "%-30s %5s %8d %10.1f %12.2f %9.0f MB%n", name, checkpoint ? "on" : "off",
                            batches * batchSize, seconds, batches * batchSize / seconds,
                            org.sptspark.bench.TrainingBenchmark.peakRss() / 1048576.0);
                    out.flush();
                }
            }
            return 0;
        }
    }

    /**
     * Training cost per preset and method. Each row's time and memory come from two fresh JVMs:
     * the time from one with glibc's default allocator, the peak from one with a fixed mmap
     * threshold, so neither setting distorts the other figure.
     */
    @Command(name = "train", mixinStandardHelpOptions = true,
            description = {"Measure a training step's cost per preset and method: time, memory, artifact size.",
                "Step time, trained and updated scalars, AdamW state, peak process memory (RSS) and artifact size",
                "vs the full checkpoint; spt-lora-masked is the reference's masked-full-gradient unstructured",
                "tuning on the same plan. Each (preset, method, checkpointing) runs in two fresh JVMs: the step",
                "time (--warmup, then --steps) from one with glibc's default allocator, the peak RSS (after 1",
                "warm-up step and 1 step) from one with MALLOC_MMAP_THRESHOLD_=131072 (a fixed mmap threshold: the",
                "default one rises after large frees and the heap's fragmentation then inflates the peak, while",
                "the fixed one makes every large tensor an mmap, which slows steps by up to 2x). The bench sets",
                "both itself (MALLOC_MMAP_THRESHOLD_ and GLIBC_TUNABLES from the environment are not passed on)."})
    static final class Train implements Callable<Integer> {

        /** The mmap threshold of the memory runs, in bytes. */
        static final String MMAP_THRESHOLD = "131072";

        @Spec
        CommandSpec spec;

        @Option(names = "--presets", split = ",", defaultValue = "vit_demo_patch4_32,vit_base_patch16_224",
                description = "Comma-separated presets (default: ${DEFAULT-VALUE}).")
        List<String> presets;

        @Option(names = "--methods", split = ",",
                defaultValue = "linear,bias,lora,adapter,full,spt-lora,spt-adapter,spt-lora-masked,snella",
                description = "Comma-separated methods (default: ${DEFAULT-VALUE}).")
        List<String> methods;

        @Option(names = "--budget", defaultValue = "0.47%",
                description = "SPT budget, planned on random scores (default: 0.47%%, which is 0.4M of ViT-B).")
        String budget;

        @Option(names = "--rank", defaultValue = "8", description = "LoRA/Adapter rank (default: ${DEFAULT-VALUE}).")
        int rank;

        @Option(names = "--batch", defaultValue = "32", description = "Batch size (default: ${DEFAULT-VALUE}).")
        int batch;

        @Option(names = "--warmup", defaultValue = "1", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--steps", defaultValue = "3", description = "Timed steps; the median is reported (default: ${DEFAULT-VALUE}).")
        int steps;

        @Mixin
        CheckpointingOption checkpointing;

        @Option(names = "--in-process", description = "Run every row in this JVM, time and memory together (peak memory is then cumulative).")
        boolean inProcess;

        @Override
        public Integer call() throws Exception {
            if (batch < 1 || steps < 1 || warmup < 0) {
                throw new IllegalArgumentException("--batch and --steps must be positive, --warmup not negative");
            }
            for (String m : methods) {
                if (!org.sptspark.bench.TrainingBenchmark.methods().contains(m)) {
                    throw new IllegalArgumentException("unknown method '" + m + "': choose from "
                            + org.sptspark.bench.TrainingBenchmark.methods());
                }
            }
            List<Boolean> modes = checkpointing.modes();
            presets.forEach(BackbonePresets::get);
            PrintWriter out = spec.commandLine().getOut();
            out.printf(Locale.ROOT, "engine %s %s, %d cores; batch %d, median of %d steps; AdamW; %s%n",
                    ai.djl.engine.Engine.getInstance().getEngineName(), ai.djl.engine.Engine.getInstance().getVersion(),
                    Runtime.getRuntime().availableProcessors(), batch, steps,
                    inProcess ? "one JVM (peak RSS cumulative)"
                            : "two JVMs per row: step time with the default allocator, peak RSS with MALLOC_MMAP_THRESHOLD_="
                                    + MMAP_THRESHOLD);
            out.printf(Locale.ROOT, "%-22s %-16s %5s %7s %12s %12s %12s %9s %8s %10s %12s %14s%n", "preset", "method", "ckpt",
                    "budget", "trained", "updated", "AdamW bytes", "step s", "img/s", "peak RSS", "artifact B", "checkpoint B");
            out.flush();
            var gson = new com.google.gson.Gson();
            for (String preset : presets) {
                for (String method : methods) {
                    for (boolean checkpoint : modes) {
                        org.sptspark.bench.TrainingBenchmark.Row r;
                        long peak;
                        if (inProcess) {
                            r = org.sptspark.bench.TrainingBenchmark.measure(BackbonePresets.get(preset), method, budget, rank,
                                    batch, warmup, steps, checkpoint);
                            peak = r.peakRssBytes();
                        } else {
                            var row = org.sptspark.bench.TrainingBenchmark.Row.class;
                            r = gson.fromJson(fork(preset, method, checkpoint, warmup, steps, false), row);
                            // the peak of the first steps: AdamW's moments and every activation exist by the second
                            peak = gson.fromJson(fork(preset, method, checkpoint, 1, 1, true), row).peakRssBytes();
                        }
                        out.printf(Locale.ROOT, "%-22s %-16s %5s %7s %,12d %,12d %,12d %9.3f %8.1f %7.0f MB %12s %,14d%n",
                                r.preset(), r.method(), checkpoint ? "on" : "off", r.budget() == null ? "-" : r.budget(),
                                r.tuned(), r.updated(), r.optimizerBytes(), r.stepSeconds(), r.imagesPerSecond(),
                                peak / 1048576.0,
                                r.artifactBytes() < 0 ? "-" : String.format(Locale.ROOT, "%,d", r.artifactBytes()),
                                r.checkpointBytes());
                        out.flush();
                    }
                }
            }
            return 0;
        }

        /**
         * Runs one row in a fresh JVM with this JVM's flags and class path, with the mmap threshold
         * fixed when {@code forMemory} and glibc's default allocator otherwise; returns its JSON.
         */
        private String fork(String preset, String method, boolean checkpoint, int warm, int timed, boolean forMemory)
                throws Exception {
            var command = new java.util.ArrayList<String>();
            command.add(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString());
            command.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
            command.add("-cp");
            command.add(System.getProperty("java.class.path"));
            command.add(Row.class.getName());
            command.addAll(List.of(preset, method, budget, String.valueOf(rank), String.valueOf(batch),
                    String.valueOf(warm), String.valueOf(timed), String.valueOf(checkpoint)));
            var builder = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
            // the bench sets the allocator itself: a threshold from the caller's environment would distort one figure
            builder.environment().remove("GLIBC_TUNABLES");
            if (forMemory) {
                builder.environment().put("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD);
            } else {
                builder.environment().remove("MALLOC_MMAP_THRESHOLD_");
            }
            Process p = builder.start();
            String output = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (p.waitFor() != 0) {
                throw new IllegalStateException("benchmark JVM for " + preset + " " + method + " ("
                        + (forMemory ? "memory" : "time") + " run, checkpointing " + (checkpoint ? "on" : "off")
                        + ") failed (exit " + p.exitValue() + ")");
            }
            return output.lines().filter(l -> l.startsWith("ROW ")).findFirst()
                    .orElseThrow(() -> new IllegalStateException("benchmark JVM printed no row")).substring(4);
        }
    }

    /** Entry point of one forked benchmark row: prints {@code ROW <json>}. */
    static final class Row {
        private Row() {}

        public static void main(String[] a) {
            var r = org.sptspark.bench.TrainingBenchmark.measure(BackbonePresets.get(a[0]), a[1], a[2], Integer.parseInt(a[3]),
                    Integer.parseInt(a[4]), Integer.parseInt(a[5]), Integer.parseInt(a[6]), Boolean.parseBoolean(a[7]));
            System.out.println("ROW " + new com.google.gson.Gson().toJson(r));
            System.exit(0);
        }
    }
}
