package org.sptspark.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.util.cuda.CudaUtils;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.Budget;
import org.sptspark.allocation.BudgetAllocator;
import org.sptspark.allocation.PlanJson;
import org.sptspark.allocation.TuningPlan;
import org.sptspark.bench.AllocationBenchmark;
import org.sptspark.bench.ModelBenchmark;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.Gradients;
import org.sptspark.model.Precision;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.modules.Trainable;
import org.sptspark.modules.Unstructured;
import org.sptspark.snella.Competition;
import org.sptspark.snella.SnellaOptions;
import org.sptspark.tuning.AdamW;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.Trainer;
import org.sptspark.tuning.TunedModel;
import org.sptspark.tuning.TuningLayout;

/**
 * Training steps per preset and method on random images, with what each method costs: trained
 * scalars, the scalars the optimizer actually updates, AdamW's state, the process's peak
 * resident memory, and the artifact against the full checkpoint.
 *
 * <p>{@value #MASKED} is the reference's way of tuning SPT's unstructured entries, measured for
 * comparison: the same plan, but every matrix with sparse entries trainable whole with a masked
 * gradient, so its gradient and optimizer state are the matrix's size.
 */
public final class TrainingBenchmark {

    /** The reference's masked-full-gradient SPT-LoRA, for comparison rows. */
    public static final String MASKED = "spt-lora-masked";

    /**
     * @param tuned scalars the method trains (the head included)
     * @param updated scalars the optimizer updates (masked tensors whole)
     * @param optimizerBytes AdamW's two moments
     * @param stepSeconds median forward+backward+update of one batch
     * @param peakRssBytes the process's peak resident set (VmHWM) after the timed steps, before the
     *     artifact's export; per method only when each runs in its own JVM
     * @param artifactBytes the safetensors the method's artifact holds (-1: the method writes none)
     * @param checkpointBytes the full checkpoint with the task's head
     * @param device where the steps ran
     * @param precision their arithmetic
     * @param loss the last step's loss
     * @param deviceBytes on a GPU, the device memory in use after the timed steps (the caching
     *     allocator's reserve and the context, as {@code cudaMemGetInfo} sees it); -1 on the CPU
     */
    public record Row(String preset, String method, String budget, int batch, long tuned, long updated,
            long optimizerBytes, double stepSeconds, double imagesPerSecond, long peakRssBytes, long artifactBytes,
            long checkpointBytes, String device, String precision, double loss, long deviceBytes) {}

    private TrainingBenchmark() {}

    /** The methods a benchmark may name. */
    public static List<String> methods() {
        var out = new java.util.ArrayList<String>();
        Arrays.stream(Method.values()).map(Method::id).forEach(out::add);
        out.add(MASKED);
        return out;
    }

    /**
     * @param budget SPT's budget (e.g. {@code 0.4M} or {@code 0.47%}), planned with the sweep's rule
     *     ({@link AllocationRule#defaults(AllocationRule.Module, int)}) on random scores: a benchmark
     *     has no task, and a step's cost follows the plan's shape (which matrices get modules, how
     *     many entries), not which entries are chosen
     * @param rank the LoRA/Adapter rank
     */
    public static Row measure(VitConfig config, String method, String budget, int rank, int batch, int warmup,
            int steps) {
        return measure(config, method, budget, rank, batch, warmup, steps, ai.djl.engine.Engine.getInstance().defaultDevice(),
                Precision.FP32);
    }

    /** As {@link #measure(VitConfig, String, String, int, int, int, int)}, on a device and in a precision. */
    public static Row measure(VitConfig config, String method, String budget, int rank, int batch, int warmup,
            int steps, Device device, Precision precision) {
        boolean masked = method.equals(MASKED);
        Method m = masked ? Method.SPT_LORA : Method.parse(method);
        precision.requireSupported(device);
        try (NDManager manager = NDManager.newBaseManager(device)) {
            VisionTransformer model = VisionTransformer.create(manager, config, 1);
            model.setPrecision(precision);
            TuningLayout layout;
            String budgetLabel = null;
            if (m.needsPlan()) {
                var rule = AllocationRule.defaults(m.planModule(), rank);
                Budget b = Budget.parse(budget, model.space().backboneSize());
                TuningPlan plan = new BudgetAllocator(AllocationBenchmark.randomScores(config, 5), rule)
                        .allocate(List.of(b)).get(0);
                layout = TuningLayout.fromPlan(m, plan, PlanJson.id(plan), model.space());
                budgetLabel = b.label();
            } else if (m == Method.SNELLA) {
                // SNELLA at the reference's rank 32, whatever the LoRA rank
                layout = TuningLayout.baseline(m, model.space(), SnellaOptions.defaults().rank());
            } else {
                layout = TuningLayout.baseline(m, model.space(), rank);
            }
            var mode = masked ? Unstructured.MASKED_FULL : Unstructured.DELTA;
            try (var tuned = TunedModel.forTraining(model, layout, 0, mode); AdamW adam = new AdamW(manager)) {
                if (m == Method.SNELLA) {
                    // at the default target sparsity, as training ends (its memory does not depend on the sparsity;
                    // its artifact does)
                    tuned.hook(Competition.class).start(SnellaOptions.defaults(), SnellaOptions.DEFAULT_TARGET, 2);
                    tuned.startEpoch(1);
                }
                NDArray images = manager.create(ModelBenchmark.randomImages(config, batch, 3),
                        new ai.djl.ndarray.types.Shape(batch, 3, config.imageSize(), config.imageSize()));
                NDArray labels = manager.create(ModelBenchmark.randomLabels(config, batch, 4));
                double[] times = new double[steps];
                double loss = Double.NaN;
                for (int i = 0; i < warmup + steps; i++) {
                    long t0 = System.nanoTime();
                    synchronized (Gradients.ENGINE_LOCK) {
                        try (NDManager step = manager.newSubManager()) {
                            NDArray x = images.duplicate();
                            x.attach(step);
                            NDArray y = labels.duplicate();
                            y.attach(step);
                            loss = Trainer.step(tuned, x, y, i, adam, 1e-3, 1e-4, "benchmark step " + i).loss();
                            // a read of the last updated value waits for the device's queue: the time is the whole step's
                            synchronize(tuned, step);
                        }
                    }
                    if (i >= warmup) {
                        times[i - warmup] = (System.nanoTime() - t0) / 1e9;
                    }
                }
                Arrays.sort(times);
                double median = times[steps / 2];
                // training's peak, before the export below copies the artifact through the Java heap
                long peak = peakRss();
                long deviceBytes = device.isGpu() ? CudaUtils.getGpuMemory(device).getCommitted() : -1;
                long artifact = -1;
                if (!masked) {
                    try (NDManager scratch = NDManager.newBaseManager()) {
                        var counter = new CountingStream();
                        tuned.export(scratch).encode(counter, NDList.Encoding.SAFETENSORS);
                        artifact = counter.bytes;
                    }
                }
                long checkpoint;
                var counter = new CountingStream();
                Checkpoints.write(model, counter);
                checkpoint = counter.bytes;
                return new Row(config.name(), method, budgetLabel, batch, tuned.tunedScalars(), tuned.trainableScalars(),
                        adam.stateBytes(), median, batch / median, peak, artifact, checkpoint, device.toString(),
                        precision.label(), loss, deviceBytes);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Waits until every queued kernel of the step has run (one scalar read back from the device). */
    static void synchronize(TunedModel tuned, NDManager scope) {
        Trainable last = null;
        for (Trainable t : tuned.trainables()) {
            last = t;
        }
        if (last != null) {
            NDArray first = last.value().flatten().get(0);
            first.attach(scope);
            first.getFloat();
        }
    }

    /** This process's peak resident set from {@code /proc/self/status}, or -1 where there is none. */
    public static long peakRss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    private static final class CountingStream extends OutputStream {
        long bytes;

        @Override
        public void write(int b) {
            bytes++;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            bytes += len;
        }
    }
}
