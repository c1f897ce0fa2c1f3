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
import org.sptspark.model.Backbone;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.Backbones;
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

    /** The learning rate of the benchmark's AdamW steps. */
    public static final double LR = 1e-3;

    /** The weight decay of the benchmark's AdamW steps (on matrices only, as training). */
    public static final double WEIGHT_DECAY = 1e-4;

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
    public static Row measure(BackboneConfig config, String method, String budget, int rank, int batch, int warmup,
            int steps) {
        return measure(config, method, budget, rank, batch, warmup, steps, ai.djl.engine.Engine.getInstance().defaultDevice(),
                Precision.FP32);
    }

    /** As {@link #measure(BackboneConfig, String, String, int, int, int, int)}, with activation checkpointing or without. */
    public static Row measure(BackboneConfig config, String method, String budget, int rank, int batch, int warmup,
            int steps, boolean checkpointActivations) {
        return measure(config, method, budget, rank, batch, warmup, steps, ai.djl.engine.Engine.getInstance().defaultDevice(),
                Precision.FP32, checkpointActivations);
    }

    /** As {@link #measure(BackboneConfig, String, String, int, int, int, int)}, on a device and in a precision. */
    public static Row measure(BackboneConfig config, String method, String budget, int rank, int batch, int warmup,
            int steps, Device device, Precision precision) {
        return measure(config, method, budget, rank, batch, warmup, steps, device, precision, false);
    }

    /** As {@link #measure(BackboneConfig, String, String, int, int, int, int)}, on a device, in a precision, checkpointed or not. */
    public static Row measure(BackboneConfig config, String method, String budget, int rank, int batch, int warmup,
            int steps, Device device, Precision precision, boolean checkpointActivations) {
        try (Workload w = Workload.setUp(config, method, budget, rank, batch, device, precision)) {
            w.tuned().setActivationCheckpointing(checkpointActivations);
            double[] times = new double[steps];
            for (int i = 0; i < warmup + steps; i++) {
                double seconds = w.step();
                if (i >= warmup) {
                    times[i - warmup] = seconds;
                }
            }
            Arrays.sort(times);
            return w.row(times[steps / 2]);
        }
    }

    /**
     * One (preset, method) row set up once: the model, the method's modules on it, AdamW and a
     * batch of random images; each {@link #step()} is one training step on that batch, as
     * {@link #measure} times it.
     */
    public static final class Workload implements BenchWorkload {
        private final BackboneConfig config;
        private final String method;
        private final boolean masked;
        private final Method m;
        private final Device device;
        private final Precision precision;
        private final int batch;
        private final NDManager manager;
        private final Backbone model;
        private final TuningLayout layout;
        private final String budgetLabel;
        private final TunedModel tuned;
        private final AdamW adam;
        private final NDArray images;
        private final NDArray labels;
        private int steps;
        private double loss = Double.NaN;

        private Workload(BackboneConfig config, String method, String budget, int rank, int batch, Device device,
                Precision precision) {
            this.config = config;
            this.method = method;
            this.masked = method.equals(MASKED);
            this.m = masked ? Method.SPT_LORA : Method.parse(method);
            this.device = device;
            this.precision = precision;
            this.batch = batch;
            precision.requireSupported(device);
            manager = NDManager.newBaseManager(device);
            TunedModel t = null;
            AdamW a = null;
            try {
                model = Backbones.create(manager, config, 1);
                model.setPrecision(precision);
                String label = null;
                if (m.needsPlan()) {
                    var rule = AllocationRule.defaults(m.planModule(), rank);
                    Budget b = Budget.parse(budget, model.space().backboneSize());
                    TuningPlan plan = new BudgetAllocator(AllocationBenchmark.randomScores(config, 5), rule)
                            .allocate(List.of(b)).get(0);
                    layout = TuningLayout.fromPlan(m, plan, PlanJson.id(plan), model.space());
                    label = b.label();
                } else if (m == Method.SNELLA) {
                    // SNELLA at the reference's rank 32, whatever the LoRA rank
                    layout = TuningLayout.baseline(m, model.space(), SnellaOptions.defaults().rank());
                } else {
                    layout = TuningLayout.baseline(m, model.space(), rank);
                }
                budgetLabel = label;
                var mode = masked ? Unstructured.MASKED_FULL : Unstructured.DELTA;
                t = TunedModel.forTraining(model, layout, 0, mode);
                a = new AdamW(manager);
                if (m == Method.SNELLA) {
                    // at the default target sparsity, as training ends (its memory does not depend on the sparsity;
                    // its artifact does)
                    t.hook(Competition.class).start(SnellaOptions.defaults(), SnellaOptions.DEFAULT_TARGET, 2);
                    t.startEpoch(1);
                }
                images = manager.create(ModelBenchmark.randomImages(config, batch, 3),
                        new ai.djl.ndarray.types.Shape(batch, 3, config.imageSize(), config.imageSize()));
                labels = manager.create(ModelBenchmark.randomLabels(config, batch, 4));
            } catch (RuntimeException e) {
                if (a != null) {
                    a.close();
                }
                if (t != null) {
                    t.close();
                }
                manager.close();
                throw e;
            }
            tuned = t;
            adam = a;
        }

        /**
         * @param budget SPT's budget, planned as {@link #measure} plans it
         * @param rank the LoRA/Adapter rank
         */
        public static Workload setUp(BackboneConfig config, String method, String budget, int rank, int batch) {
            return setUp(config, method, budget, rank, batch, ai.djl.engine.Engine.getInstance().defaultDevice(),
                    Precision.FP32);
        }

        /** As {@link #setUp(BackboneConfig, String, String, int, int)}, on a device and in a precision. */
        public static Workload setUp(BackboneConfig config, String method, String budget, int rank, int batch, Device device,
                Precision precision) {
            if (!methods().contains(method)) {
                throw new IllegalArgumentException("unknown method '" + method + "': choose from " + methods());
            }
            return new Workload(config, method, budget, rank, batch, device, precision);
        }

        /** One training step (forward, cross-entropy, backward, AdamW) on the row's batch; its wall seconds. */
        @Override
        public double step() {
            int i = steps++;
            long t0 = System.nanoTime();
            synchronized (Gradients.ENGINE_LOCK) {
                try (NDManager step = manager.newSubManager()) {
                    NDArray x = images.duplicate();
                    x.attach(step);
                    NDArray y = labels.duplicate();
                    y.attach(step);
                    loss = Trainer.step(tuned, x, y, i, adam, LR, WEIGHT_DECAY, "benchmark step " + i).loss();
                    // a read of the last updated value waits for the device's queue: the time is the whole step's
                    synchronize(tuned, step);
                }
            }
            return (System.nanoTime() - t0) / 1e9;
        }

        @Override
        public double loss() {
            return loss;
        }

        public BackboneConfig config() {
            return config;
        }

        /** The method's name as the benchmark was given it ({@value #MASKED} included). */
        public String method() {
            return method;
        }

        /** Whether SPT's sparse entries train the reference's way (a masked whole matrix). */
        public boolean masked() {
            return masked;
        }

        public Backbone model() {
            return model;
        }

        public TuningLayout layout() {
            return layout;
        }

        public TunedModel tuned() {
            return tuned;
        }

        /** The SPT budget's label, or {@code null} for a baseline. */
        public String budgetLabel() {
            return budgetLabel;
        }

        /** The row's images {@code (batch, 3, size, size)}, the same batch at every step. */
        public NDArray images() {
            return images;
        }

        /** The row's labels {@code (batch)}, int64. */
        public NDArray labels() {
            return labels;
        }

        /**
         * The row's figures with this step time: the process's peak memory now, AdamW's state, the
         * artifact (exported once) against the checkpoint.
         */
        public Row row(double stepSeconds) {
            // training's peak, before the export below copies the artifact through the Java heap
            long peak = peakRss();
            long deviceBytes = device.isGpu() ? CudaUtils.getGpuMemory(device).getCommitted() : -1;
            try {
                long artifact = -1;
                if (!masked) {
                    try (NDManager scratch = NDManager.newBaseManager()) {
                        var counter = new CountingStream();
                        tuned.export(scratch).encode(counter, NDList.Encoding.SAFETENSORS);
                        artifact = counter.bytes;
                    }
                }
                var counter = new CountingStream();
                Checkpoints.write(model, counter);
                long checkpoint = counter.bytes;
                return new Row(config.name(), method, budgetLabel, batch, tuned.tunedScalars(), tuned.trainableScalars(),
                        adam.stateBytes(), stepSeconds, batch / stepSeconds, peak, artifact, checkpoint, device.toString(),
                        precision.label(), loss, deviceBytes);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public void close() {
            try {
                adam.close();
                tuned.close();
            } finally {
                manager.close();
            }
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

    /**
     * Resets this process's peak resident set to its current size (Linux: {@code 5} written to
     * {@code /proc/self/clear_refs}), so a later {@link #peakRss()} is the peak since; false where
     * it cannot.
     */
    public static boolean resetPeakRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
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
