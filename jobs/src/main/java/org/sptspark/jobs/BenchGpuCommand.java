package org.sptspark.jobs;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import com.google.gson.GsonBuilder;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.sptspark.bench.SensitivityBenchmark;
import org.sptspark.bench.TrainingBenchmark;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.Precision;
import org.sptspark.model.StateDict;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.model.VitInitializer;
import org.sptspark.model.VitPresets;
import org.sptspark.model.VitReference;
import org.sptspark.sensitivity.SensitivityScorer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The device check a GPU node runs first: correctness on the device it finds (the committed ViT
 * reference fixture against PyTorch's float64 values, the sensitivity scorer against the CPU, one
 * finite training step per method), then the timings and memory of the reference workloads on
 * ViT-B/16. One table on the console, everything in a JSON file. {@code --small} runs it at a
 * preset small enough for the CPU, as the tests do.
 */
@Command(name = "gpu", mixinStandardHelpOptions = true,
        description = {"Check and time the device this JVM finds (the GPU, else the CPU).",
            "Correctness: the ViT reference fixture against PyTorch's float64 logits, loss and gradients; the sensitivity",
            "scorer on the device against the CPU; one finite training step per method. Then sensitivity (the reference",
            "workload) and one training step per method on ViT-B/16, per precision. Exits 1 when a check fails."})
final class BenchGpuCommand implements Callable<Integer> {

    /** Methods the step check and the timings cover (SPT's two at the budget, the baselines, SNELLA). */
    static final List<String> METHODS = List.of("linear", "bias", "lora", "adapter", "full", "spt-lora", "spt-adapter",
            "snella");

    @Spec
    CommandSpec spec;

    @Option(names = "--device", defaultValue = "auto",
            description = "auto (the engine's default: gpu(0) where CUDA natives see a GPU), cpu, or gpu:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--precisions", split = ",", defaultValue = "fp32,bf16",
            description = "Precisions to check and time; one the natives cannot run is reported as skipped (default: ${DEFAULT-VALUE}).")
    List<String> precisions;

    @Option(names = "--fixture", description = "Folder of the ViT reference fixture (weights.safetensors, reference.npz); "
            + "default: the spt.fixtures system property, which the launchers set.")
    Path fixture;

    @Option(names = "--preset", defaultValue = "vit_base_patch16_224", description = "Timed preset (default: ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = "--batches", defaultValue = "16", description = "Sensitivity batches (reference: ${DEFAULT-VALUE}).")
    int batches;

    @Option(names = "--batch-size", defaultValue = "32", description = "Sensitivity batch size (reference: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--train-batch", defaultValue = "64", description = "Training batch (default: ${DEFAULT-VALUE}).")
    int trainBatch;

    @Option(names = "--methods", split = ",", defaultValue = "linear,bias,lora,adapter,full,spt-lora,spt-adapter,snella",
            description = "Methods (default: ${DEFAULT-VALUE}).")
    List<String> methods;

    @Option(names = "--budget", defaultValue = "0.47%", description = "SPT's budget (default: 0.47%%, 0.4M of ViT-B).")
    String budget;

    @Option(names = "--steps", defaultValue = "5", description = "Timed training steps; the median is reported (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--warmup", defaultValue = "2", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--small", description = "A CPU-sized run: preset vit_demo_patch4_32, 2 batches of 8, training batch 8, 1 step.")
    boolean small;

    @Option(names = "--no-timings", description = "Only the correctness checks.")
    boolean noTimings;

    @Option(names = "--json", description = "Write every figure here as JSON (default: none).")
    Path json;

    /** One line of the table. */
    record Row(String part, String what, String device, String precision, String figure, String limit, String status) {}

    private final List<Row> rows = new ArrayList<>();
    private final Map<String, Object> figures = new LinkedHashMap<>();
    private PrintWriter out;

    @Override
    public Integer call() throws Exception {
        if (small) {
            preset = "vit_demo_patch4_32";
            batches = 2;
            batchSize = 8;
            trainBatch = 8;
            steps = 1;
            warmup = 0;
        }
        Path fixtureDir = fixture != null ? fixture
                : System.getProperty("spt.fixtures") == null ? null : Path.of(System.getProperty("spt.fixtures"), "vit-reference");
        if (fixtureDir == null || !Files.isRegularFile(fixtureDir.resolve("reference.npz"))) {
            throw new IllegalArgumentException("--fixture: no reference.npz in " + fixtureDir
                    + " (the folder of the ViT reference fixture: pipeline/src/test/resources/fixtures/vit-reference)");
        }
        List<Precision> wanted = precisions.stream().map(Precision::parse).toList();
        methods.forEach(m -> {
            if (!TrainingBenchmark.methods().contains(m)) {
                throw new IllegalArgumentException("--methods: unknown method '" + m + "': choose from " + TrainingBenchmark.methods());
            }
        });
        VitConfig timed = VitPresets.get(preset);
        Device dev = parseDevice(device);
        out = spec.commandLine().getOut();
        Engine engine = Engine.getInstance();
        out.printf(Locale.ROOT, "engine %s %s on %s (GPUs visible: %d), %d cores, intra-op threads %s%n", engine.getEngineName(),
                engine.getVersion(), dev, engine.getGpuCount(), Runtime.getRuntime().availableProcessors(),
                System.getProperty("ai.djl.pytorch.num_threads", "default"));
        out.flush();
        figures.put("engine", engine.getEngineName() + " " + engine.getVersion());
        figures.put("device", dev.toString());
        figures.put("gpus", engine.getGpuCount());

        for (Precision p : wanted) {
            String unsupported = unsupported(p, dev);
            if (unsupported != null) {
                add(new Row("all", "checks and timings", dev.toString(), p.label(), "-", "-", "skipped: " + unsupported));
                continue;
            }
            checkFixture(fixtureDir, dev, p);
            checkScorer(fixtureDir, dev, p);
            for (String m : methods) {
                var r = TrainingBenchmark.measure(VitPresets.get("vit_demo_patch4_32"), m, budget, 8, 4, 0, 1, dev, p);
                add(new Row("step", m + " (vit_demo_patch4_32, batch 4)", dev.toString(), p.label(),
                        String.format(Locale.ROOT, "loss %.4f", r.loss()), "finite", Double.isFinite(r.loss()) ? "ok" : "FAILED"));
            }
        }
        if (!noTimings) {
            for (Precision p : wanted) {
                if (unsupported(p, dev) != null) {
                    continue;
                }
                VitConfig scored = timed.withDropPathRate(0.1);
                SensitivityBenchmark.sensitivitySeconds(scored, batchSize, 1, dev, p); // warm-up: kernels, allocator
                double seconds = SensitivityBenchmark.sensitivitySeconds(scored, batchSize, batches, dev, p);
                String what = "sensitivity " + timed.name() + " " + batches + "x" + batchSize;
                add(new Row("time", what, dev.toString(), p.label(),
                        String.format(Locale.ROOT, "%.3f s (%.1f img/s)", seconds, batches * batchSize / seconds), "-", "measured"));
                figures.put(what + " " + p.label() + " seconds", seconds);
                for (String m : methods) {
                    var r = TrainingBenchmark.measure(timed, m, budget, 8, trainBatch, warmup, steps, dev, p);
                    String step = "step " + m + " " + timed.name() + " batch " + trainBatch;
                    String memory = r.deviceBytes() >= 0
                            ? String.format(Locale.ROOT, "device in use %.0f MB", r.deviceBytes() / 1048576.0)
                            : String.format(Locale.ROOT, "peak RSS %.0f MB", r.peakRssBytes() / 1048576.0);
                    add(new Row("time", step, dev.toString(), p.label(),
                            String.format(Locale.ROOT, "%.4f s (%.1f img/s), %s", r.stepSeconds(), r.imagesPerSecond(), memory),
                            "-", "measured"));
                    figures.put(step + " " + p.label(), r);
                }
            }
        }
        long failed = rows.stream().filter(r -> r.status().equals("FAILED")).count();
        figures.put("rows", rows);
        figures.put("failed", failed);
        if (json != null) {
            Files.writeString(json, new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create()
                    .toJson(figures), StandardCharsets.UTF_8);
            out.println("figures written to " + json);
        }
        out.println(failed == 0 ? "device check passed" : "device check FAILED: " + failed + " check(s)");
        out.flush();
        return failed == 0 ? 0 : 1;
    }

    /** Why this JVM cannot run a precision on the device, or {@code null}. */
    private static String unsupported(Precision p, Device dev) {
        try {
            p.requireSupported(dev);
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    /** (a) The fixture's forward and backward pass on the device against PyTorch's float64 values. */
    private void checkFixture(Path dir, Device dev, Precision p) throws IOException {
        // float32 on the CPU keeps 1e-4 (the reference test's bound); a GPU convolves in TF32 by cuDNN's
        // default; bf16 keeps 8 significant bits, and its gradients, two more bf16 products deep, drift
        // further (measured on the CPU with torch 1.13, whose bf16 products also sum in bf16: logits 2.7e-2,
        // worst gradient 0.15), while a cut or wrong graph errs by about 1
        double limit = p == Precision.BF16 ? 5e-2 : dev.isGpu() ? 2e-3 : 1e-4;
        double gradientLimit = p == Precision.BF16 ? 0.3 : limit;
        try (NDManager manager = NDManager.newBaseManager(dev)) {
            var model = VisionTransformer.create(manager, VitReference.CONFIG, 1);
            try (StateDict dict = Checkpoints.read(dir.resolve("weights.safetensors"), manager)) {
                Checkpoints.load(model, dict, Checkpoints.HeadPolicy.LOAD);
            }
            model.setPrecision(p);
            Map<String, NDArray> ref = VitReference.read(dir, manager);
            double logitsError;
            double lossError;
            synchronized (org.sptspark.model.Gradients.ENGINE_LOCK) {
                try (NDManager batch = manager.newSubManager();
                        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                    NDArray x = ref.get("x").toDevice(dev, true);
                    x.attach(batch);
                    NDArray y = ref.get("labels").toDevice(dev, true);
                    y.attach(batch);
                    NDArray logits = model.forward(new ParameterStore(manager, false), new NDList(x), true).head();
                    NDArray loss = Loss.softmaxCrossEntropyLoss().evaluate(new NDList(y), new NDList(logits));
                    collector.backward(loss);
                    logitsError = VitReference.relativeError(VitReference.doubles(logits), VitReference.doubles(ref.get("logits")));
                    double expected = ref.get("loss").toType(DataType.FLOAT64, false).getDouble();
                    lossError = Math.abs(loss.toType(DataType.FLOAT64, false).getDouble() - expected) / Math.abs(expected);
                }
            }
            double worst = 0;
            String worstName = "";
            for (String name : model.namedParameters().keySet()) {
                if (name.endsWith(".attn.k.bias")) {
                    continue; // zero in exact arithmetic (softmax ignores the shift): no scale to compare against
                }
                try (NDArray grad = model.parameter(name).getArray().getGradient()) {
                    double e = VitReference.relativeError(VitReference.doubles(grad), VitReference.doubles(ref.get("grad/" + name)));
                    if (!(e <= worst)) {
                        worst = e;
                        worstName = name;
                    }
                }
            }
            check("fixture", "logits vs PyTorch float64", dev, p, logitsError, limit);
            check("fixture", "loss vs PyTorch float64", dev, p, lossError, limit);
            check("fixture", "worst gradient vs PyTorch float64 (" + worstName + ")", dev, p, worst, gradientLimit);
        }
    }

    /** (b) The sensitivity scorer on the device against the same scorer on the CPU in float32. */
    private void checkScorer(Path dir, Device dev, Precision p) throws IOException {
        Map<String, double[]> onDevice = score(dir, dev, p);
        Map<String, double[]> onCpu = score(dir, Device.cpu(), Precision.FP32);
        double worst = 0;
        for (var e : onCpu.entrySet()) {
            if (!e.getKey().endsWith(".attn.k.bias")) { // zero in exact arithmetic: its rounding has no scale
                worst = Math.max(worst, VitReference.relativeError(onDevice.get(e.getKey()), e.getValue()));
            }
        }
        // squared gradients double the gradients' relative error
        check("scorer", "sensitivity sums vs the CPU in fp32 (2 batches, drop-path 0.1)", dev, p, worst,
                p == Precision.BF16 ? 0.6 : 1e-3);
    }

    private static Map<String, double[]> score(Path dir, Device dev, Precision p) throws IOException {
        try (NDManager manager = NDManager.newBaseManager(dev)) {
            var model = VisionTransformer.create(manager, VitReference.CONFIG.withDropPathRate(0.1), 1);
            try (StateDict dict = Checkpoints.read(dir.resolve("weights.safetensors"), manager)) {
                Checkpoints.load(model, dict, Checkpoints.HeadPolicy.LOAD);
            }
            VitInitializer.reinitializeHead(model, 0);
            model.setPrecision(p);
            Map<String, NDArray> ref = VitReference.read(dir, manager);
            try (var scorer = new SensitivityScorer(model, manager)) {
                for (int b = 0; b < 2; b++) {
                    try (NDManager step = manager.newSubManager()) {
                        NDArray x = ref.get("x").toDevice(dev, true);
                        x.attach(step);
                        NDArray y = ref.get("labels").toDevice(dev, true);
                        y.attach(step);
                        scorer.add(x, y, b, "check batch " + b);
                    }
                }
                return scorer.sums();
            }
        }
    }

    private void check(String part, String what, Device dev, Precision p, double error, double limit) {
        add(new Row(part, what, dev.toString(), p.label(), String.format(Locale.ROOT, "%.2e", error),
                String.format(Locale.ROOT, "< %.0e", limit), error < limit ? "ok" : "FAILED"));
    }

    private void add(Row r) {
        rows.add(r);
        out.printf(Locale.ROOT, "%-7s %-62s %-8s %-5s %-44s %-8s %s%n", r.part(), r.what(), r.device(), r.precision(),
                r.figure(), r.limit(), r.status());
        out.flush();
    }

    static Device parseDevice(String s) {
        String d = s.strip().toLowerCase(Locale.ROOT);
        if (d.equals("auto")) {
            return Engine.getInstance().defaultDevice();
        }
        if (d.equals("cpu")) {
            return Device.cpu();
        }
        if (d.matches("gpu(:\\d+)?")) {
            int id = d.contains(":") ? Integer.parseInt(d.substring(4)) : 0;
            if (id >= Engine.getInstance().getGpuCount()) {
                throw new IllegalArgumentException("--device " + s + ": the engine sees " + Engine.getInstance().getGpuCount()
                        + " GPU(s) (CPU natives, or no CUDA device)");
            }
            return Device.gpu(id);
        }
        throw new IllegalArgumentException("--device " + s + ": expected auto, cpu or gpu:N");
    }
}
