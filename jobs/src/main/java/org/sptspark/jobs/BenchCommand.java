package org.sptspark.jobs;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sptspark.model.ModelBenchmark;
import org.sptspark.model.VitConfig;
import org.sptspark.model.VitPresets;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Benchmarks that print figures for BENCHMARKS.md. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks that print figures.",
        subcommands = {BenchCommand.Model.class})
final class BenchCommand implements Runnable {

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Forward+backward throughput per preset against the engine's GEMM rate. */
    @Command(name = "model", mixinStandardHelpOptions = true,
            description = "Forward+backward images/s and GFLOP/s per preset (all parameters trainable), "
                    + "against the GEMM GFLOP/s of the same engine and device.")
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
            List<VitConfig> configs = presets.stream().map(VitPresets::get).toList();
            PrintWriter out = spec.commandLine().getOut();
            out.printf(Locale.ROOT, "engine %s %s, %d cores, intra-op threads %s%n",
                    ai.djl.engine.Engine.getInstance().getEngineName(), ai.djl.engine.Engine.getInstance().getVersion(),
                    Runtime.getRuntime().availableProcessors(), System.getProperty("ai.djl.pytorch.num_threads", "default"));
            double gemm = ModelBenchmark.gemmGflops(gemmSize, 5);
            out.printf(Locale.ROOT, "GEMM %d^3 fp32: %.1f GFLOP/s%n", gemmSize, gemm);
            out.printf(Locale.ROOT, "%-24s %5s %9s %9s %9s %10s %9s %8s%n",
                    "preset", "batch", "fwd s", "bwd s", "step s", "images/s", "GFLOP/s", "of GEMM");
            out.flush();
            for (VitConfig config : configs) {
                var r = ModelBenchmark.forwardBackward(config, batch, warmup, iterations);
                double step = r.forwardSeconds() + r.backwardSeconds();
                out.printf(Locale.ROOT, "%-24s %5d %9.3f %9.3f %9.3f %10.1f %9.1f %7.0f%%%n", config.name(), batch,
                        r.forwardSeconds(), r.backwardSeconds(), step, r.imagesPerSecond(), r.gflops(),
                        100 * r.gflops() / gemm);
                out.flush();
            }
            return 0;
        }
    }
}
