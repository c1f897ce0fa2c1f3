package org.sptspark.tuning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.sptspark.data.ImageBatch;
import org.sptspark.model.Backprop;
import org.sptspark.model.Gradients;
import org.sptspark.modules.Trainable;

/**
 * Trains a {@link TunedModel} under a {@link Recipe}: shuffled mini-batches, mean cross-entropy,
 * {@link AdamW} at the epoch's scheduled learning rate. Deterministic on CPU for a given seed:
 * the shuffle, the backbone's drop-path and the engine's generator (the modules' dropout and
 * drop-path, reseeded per segment of the forward pass) are all derived from the recipe's seed,
 * the epoch and the step.
 */
public final class Trainer {

    private Trainer() {}

    /**
     * One epoch's figures.
     *
     * @param loss mean training loss over the epoch's images
     * @param accuracy training top-1 of the epoch (with dropout and drop-path active)
     * @param monitorAccuracy top-1 on the monitoring split if it was evaluated after this epoch, else NaN
     */
    public record Epoch(int epoch, int epochs, double lr, double loss, double accuracy, double imagesPerSecond,
            double monitorAccuracy) {}

    /**
     * @param epochs per-epoch figures
     * @param seconds wall time of training, monitoring excluded
     * @param steps optimizer steps
     * @param optimizerStateBytes AdamW's moments at the end
     */
    public record Result(List<Epoch> epochs, double seconds, long steps, long optimizerStateBytes) {
        public Epoch last() {
            return epochs.get(epochs.size() - 1);
        }
    }

    /**
     * @param monitor evaluates on the monitoring split every {@code recipe.evalEvery()} epochs and
     *     after the last (may be {@code null})
     * @param progress receives each epoch's figures
     */
    public static Result train(TunedModel tuned, LabeledImages data, Recipe recipe, Supplier<Accuracy> monitor,
            Consumer<Epoch> progress) {
        var epochs = new ArrayList<Epoch>();
        NDManager root = tuned.model().manager();
        recipe.precision().requireSupported(root.getDevice());
        tuned.model().setPrecision(recipe.precision());
        tuned.setActivationCheckpointing(recipe.checkpointActivations());
        double trainingNanos = 0;
        try (AdamW optimizer = new AdamW(root)) {
            int n = data.count();
            for (int epoch = 0; epoch < recipe.epochs(); epoch++) {
                long started = System.nanoTime();
                double lr = recipe.lr(epoch);
                tuned.startEpoch(epoch);
                int[] order = shuffle(n, recipe.seed(), epoch);
                double lossSum = 0;
                long correct = 0;
                int step = 0;
                for (int from = 0; from < n; from += recipe.batchSize(), step++) {
                    int to = Math.min(n, from + recipe.batchSize());
                    long stepSeed = mix(recipe.seed(), epoch, step);
                    synchronized (Gradients.ENGINE_LOCK) {
                        try (NDManager scope = root.newSubManager()) {
                            NDArray x = data.images(order, from, to, scope).toDevice(root.getDevice(), false);
                            long[] labels = data.labels(order, from, to);
                            NDArray y = scope.create(labels).toDevice(root.getDevice(), false);
                            Step taken = step(tuned, x, y, stepSeed, optimizer, lr, recipe.weightDecay(),
                                    "epoch " + epoch + ", step " + step);
                            lossSum += taken.loss() * (to - from);
                            correct += count(taken.logits().argMax(1).toLongArray(), labels);
                        }
                    }
                }
                double seconds = (System.nanoTime() - started) / 1e9;
                trainingNanos += System.nanoTime() - started;
                boolean last = epoch == recipe.epochs() - 1;
                double monitored = Double.NaN;
                if (monitor != null && (last || recipe.evalEvery() > 0 && (epoch + 1) % recipe.evalEvery() == 0)) {
                    monitored = monitor.get().top1();
                }
                var e = new Epoch(epoch + 1, recipe.epochs(), lr, lossSum / n, (double) correct / n, n / seconds, monitored);
                epochs.add(e);
                if (progress != null) {
                    progress.accept(e);
                }
            }
            return new Result(epochs, trainingNanos / 1e9, optimizer.steps(), optimizer.stateBytes());
        }
    }

    /** Top-1 of the model in inference mode over a stream of batches. */
    public static Accuracy evaluate(TunedModel tuned, Iterable<ImageBatch> batches, int classes) {
        var accuracy = Accuracy.empty(classes);
        NDManager root = tuned.model().manager();
        for (ImageBatch batch : batches) {
            try (NDManager scope = root.newSubManager()) {
                NDArray x = batch.images(scope).toDevice(root.getDevice(), false);
                NDArray logits = tuned.forward(x, false, 0);
                accuracy.add(logits.argMax(1).toLongArray(), batch.labels());
            }
        }
        return accuracy;
    }

    /** One step's mean loss and its logits (in the images' manager). */
    public record Step(double loss, NDArray logits) {}

    /**
     * One optimisation step, as training takes it and the training benchmark times it: the
     * forward pass in training mode (its random masks drawn from {@code seed}), cross-entropy,
     * backward (with activation checkpointing if the model has it set), SNELLA's recomputation,
     * AdamW. The caller holds {@link Gradients#ENGINE_LOCK}.
     *
     * @param where names the step in the error raised when the loss is not finite
     * @throws IllegalStateException when the loss is not finite, before any update, naming where
     *     the non-finite values are
     */
    public static Step step(TunedModel tuned, NDArray x, NDArray y, long seed, AdamW optimizer, double lr, double weightDecay,
            String where) {
        Backprop.Pass pass = tuned.backward(x, y, seed, (loss, logits) -> {
            if (!Float.isFinite(loss)) {
                throw new IllegalStateException("training diverged: loss " + loss + " at " + where
                        + " (lower the learning rate); " + diagnose(tuned, x, logits));
            }
        });
        tuned.afterBackward();
        optimizer.step(tuned.trainables(), lr, weightDecay);
        return new Step(pass.loss(), pass.logits());
    }

    /** Where the non-finite values are: the batch, the logits, or which trained tensors. */
    static String diagnose(TunedModel tuned, NDArray x, NDArray logits) {
        var bad = new ArrayList<String>();
        for (Trainable t : tuned.trainables()) {
            if (!finite(t.value())) {
                bad.add(t.name());
            }
        }
        return "images finite: " + finite(x) + ", logits finite: " + finite(logits) + ", non-finite trained tensors: " + bad;
    }

    private static boolean finite(NDArray a) {
        for (float v : a.toFloatArray()) {
            if (!Float.isFinite(v)) {
                return false;
            }
        }
        return true;
    }

    /** Fisher-Yates over {@code 0..n-1}, seeded by the run's seed and the epoch. */
    static int[] shuffle(int n, long seed, int epoch) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        var random = new SplittableRandom(mix(seed, epoch, -1));
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }

    static long mix(long seed, int epoch, int step) {
        long h = seed * 0x9E3779B97F4A7C15L + epoch;
        h = (h ^ (h >>> 31)) * 0xBF58476D1CE4E5B9L + step;
        return h ^ (h >>> 29);
    }

    private static long count(long[] predicted, long[] labels) {
        long c = 0;
        for (int i = 0; i < labels.length; i++) {
            if (predicted[i] == labels[i]) {
                c++;
            }
        }
        return c;
    }
}
