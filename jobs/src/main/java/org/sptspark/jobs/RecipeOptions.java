package org.sptspark.jobs;

import org.sptspark.model.Precision;
import org.sptspark.tuning.Recipe;
import picocli.CommandLine.Option;

/** The training recipe's options; the defaults are SPT's VTAB-1k recipe. */
final class RecipeOptions {

    @Option(names = "--epochs", defaultValue = "100", description = "Epochs (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--warmup-epochs", defaultValue = "10", description = "Linear warm-up epochs (default: ${DEFAULT-VALUE}).")
    int warmupEpochs;

    @Option(names = "--batch-size", defaultValue = "64", description = "Images per step (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr", defaultValue = "1e-3", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--weight-decay", defaultValue = "1e-4", description = "AdamW decay on matrices (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--warmup-lr", defaultValue = "1e-6", description = "Learning rate of epoch 0 (default: ${DEFAULT-VALUE}).")
    double warmupLr;

    @Option(names = "--min-lr", defaultValue = "1e-5", description = "Cosine floor (default: ${DEFAULT-VALUE}).")
    double minLr;

    @Option(names = "--drop-path", defaultValue = "0.1", description = "Backbone drop-path while training (default: ${DEFAULT-VALUE}).")
    double dropPath;

    @Option(names = "--eval-every", defaultValue = "10", description = "Evaluate on val200 (with sweep's --report-max-over-evals, test too) every N epochs and after the"
            + " last, 0 for after the last only (default: ${DEFAULT-VALUE}).")
    int evalEvery;

    @Option(names = "--seed", defaultValue = "0", description = "Seeds the head, modules, shuffling and masks (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--precision", defaultValue = "fp32",
            description = "fp32, or bf16 autocast (bf16 products, fp32 weights and optimizer; needs a JNI with bf16, see README) (default: ${DEFAULT-VALUE}).")
    String precision;

    @Option(names = "--checkpoint-activations",
            description = "Keep only each block's input in the forward pass and run the blocks (but the last) again in the backward pass: the same gradients with one block's activations (and each block's input) in memory, for about one more forward pass (any method; also the sweep's sensitivity).")
    boolean checkpointActivations;

    Recipe recipe() {
        return Recipe.builder().epochs(epochs).warmupEpochs(Math.min(warmupEpochs, epochs)).batchSize(batchSize).lr(lr)
                .weightDecay(weightDecay).warmupLr(warmupLr).minLr(minLr).dropPath(dropPath).evalEvery(evalEvery).seed(seed)
                .precision(Precision.parse(precision)).checkpointActivations(checkpointActivations).build();
    }
}
