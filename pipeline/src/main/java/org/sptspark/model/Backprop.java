package org.sptspark.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;

/**
 * One batch's forward pass, mean cross-entropy and backward pass through a {@link Backbone} of any
 * family: whole, or with activation checkpointing.
 *
 * <p>Whole, the autograd graph of every block lives until the backward pass ends, and every
 * intermediate array's handle until the images' manager closes. With
 * checkpointing, the forward pass keeps only each block's input (one array per block: {@code
 * (batch, tokens, dim)} in a ViT, a stage's feature map in Swin and ConvNeXt) and frees the rest
 * as each block ends; the last block runs with the head, its graph kept, and the loss is
 * back-propagated through both; the backward pass then runs the other blocks again from the
 * second to last, one at a time, each with its graph, and back-propagates into it from the
 * gradient of its output {@code G} through {@code sum(out * G)}, whose gradient with respect to
 * {@code out} is {@code G} exactly. The gradient this leaves on the block's input is the next
 * seed. A block run again draws the masks it drew the first time: the backbone's drop-path
 * depends on the forward's seed and the block's index (see {@link Backbone#block}), and a
 * tuning method's own randomness is reseeded per segment by its {@link Hooks#enter}. The same
 * operations run on the same values, so the gradients equal those of the whole pass (bit for bit
 * in float32 on the CPU, where the tests check every method). The activations held are one
 * block's plus each block's input; the cost is one more forward pass of the blocks from the first
 * one that trains anything to the second to last (and of the embedding, when it trains).
 *
 * <p>The caller holds {@link Gradients#ENGINE_LOCK} and no gradient collector; every array this
 * makes that outlives the call (the logits) belongs to the images' manager.
 */
public final class Backprop {

    private Backprop() {}

    /** What a tuning method does around the blocks. */
    public interface Hooks extends VisionTransformer.SegmentListener {

        /**
         * With checkpointing, right after the gradient went back through block {@code index}, while
         * the arrays of its recomputation still exist (SNELLA back-propagates into its kernels here).
         */
        default void afterBlockBackward(int index) {}

        /**
         * The first segment anything trains in ({@link VisionTransformer#EMBEDDING}, a block, or the
         * depth when only the final norm and head train; see {@link #firstSegment}): with
         * checkpointing, the backward pass stops there.
         */
        int firstTrainedSegment();

        /** Hooks that do nothing around the segments, for a pass whose trained tensors start at {@code first}. */
        static Hooks none(int first) {
            return new Hooks() {
                @Override
                public void enter(int segment, NDManager scope) {}

                @Override
                public int firstTrainedSegment() {
                    return first;
                }
            };
        }
    }

    /** The first segment of the forward pass that uses any of {@code tensors} (see {@link VisionTransformer.SegmentListener}). */
    public static int firstSegment(Backbone model, Iterable<TensorSpec> tensors) {
        int first = model.depth();
        for (TensorSpec t : tensors) {
            int segment = t.block() >= 0 ? t.block()
                    : t.operation().equals("norm") || t.operation().equals("head.norm") || ParameterSpace.isHead(t.name())
                    ? model.depth() : VisionTransformer.EMBEDDING;
            first = Math.min(first, segment);
        }
        return first;
    }

    /** Inspects the loss before anything is back-propagated; throws to stop the step. */
    @FunctionalInterface
    public interface LossCheck {
        LossCheck NONE = (loss, logits) -> {};

        void check(float loss, NDArray logits);
    }

    /** The batch's mean loss and its logits (in the images' manager, off the graph). */
    public record Pass(float loss, NDArray logits) {}

    /**
     * Forward and backward in training mode; gradients accumulate into whatever requires them.
     *
     * @param dropPathSeed seeds the backbone's drop-path masks
     * @param checkpoint keep only the blocks' inputs and run every block but the last (which runs once,
     *     with the head) again in the backward pass
     */
    public static Pass run(Backbone model, ParameterStore store, NDArray images, NDArray labels,
            long dropPathSeed, boolean checkpoint, Hooks hooks, LossCheck check) {
        return checkpoint ? checkpointed(model, store, images, labels, dropPathSeed, hooks, check)
                : whole(model, store, images, labels, dropPathSeed, hooks, check);
    }

    private static Pass whole(Backbone model, ParameterStore store, NDArray images, NDArray labels,
            long dropPathSeed, Hooks hooks, LossCheck check) {
        try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            NDArray logits = model.forward(store, images, true, dropPathSeed, hooks);
            NDArray loss = loss(labels, logits);
            float value = loss.getFloat();
            check.check(value, logits);
            collector.backward(loss);
            return new Pass(value, logits);
        }
    }

    private static Pass checkpointed(Backbone model, ParameterStore store, NDArray images, NDArray labels,
            long dropPathSeed, Hooks hooks, LossCheck check) {
        NDManager scope = images.getManager();
        int depth = model.depth();
        int first = hooks.firstTrainedSegment();
        // when anything before the head trains, the last block runs once, in the head's segment, so
        // that the gradient reaching it comes from the head as in the whole pass (not as a seed of
        // another layout, whose reductions could sum in another order)
        int tail = first < depth ? depth - 1 : depth;
        // inputs[i] is block i's input (inputs[depth] the last block's output when it runs here); no graph is kept
        NDArray[] inputs = new NDArray[depth + 1];
        try {
            try (NDManager segment = scope.newSubManager()) {
                hooks.enter(VisionTransformer.EMBEDDING, segment);
                inputs[0] = alias(model.embed(store, alias(images, segment), true), scope);
            }
            for (int i = 0; i < tail; i++) {
                try (NDManager segment = scope.newSubManager()) {
                    hooks.enter(i, segment);
                    inputs[i + 1] = alias(model.block(i, store, alias(inputs[i], segment), true, dropPathSeed), scope);
                }
                if (i < first) {
                    release(inputs, i); // nothing before the first trained segment runs again
                }
            }
            float value;
            NDArray logits;
            NDArray seed = null;
            try (NDManager segment = scope.newSubManager()) {
                // the last block's input needs its gradient only when a segment before it trains
                boolean more = tail < depth && tail > first;
                NDArray x = more ? leaf(inputs[tail], segment) : alias(inputs[tail], segment);
                try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                    NDArray features = x;
                    if (tail < depth) {
                        hooks.enter(tail, segment);
                        features = model.block(tail, store, x, true, dropPathSeed);
                    }
                    hooks.enter(depth, segment);
                    logits = model.classify(store, features, true);
                    NDArray loss = loss(labels, logits);
                    value = loss.getFloat();
                    check.check(value, logits);
                    collector.backward(loss);
                }
                if (tail < depth) {
                    hooks.afterBlockBackward(tail);
                }
                if (more) {
                    seed = x.getGradient();
                    seed.attach(scope);
                }
                logits = alias(logits, scope);
            }
            release(inputs, tail);
            for (int i = tail - 1; i >= Math.max(0, first); i--) {
                try (NDManager segment = scope.newSubManager()) {
                    // block i's input needs its gradient only when a segment before it trains
                    boolean more = i > first;
                    NDArray x = more ? leaf(inputs[i], segment) : alias(inputs[i], segment);
                    try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                        hooks.enter(i, segment);
                        NDArray out = model.block(i, store, x, true, dropPathSeed);
                        collector.backward(out.mul(seed).sum());
                    }
                    hooks.afterBlockBackward(i);
                    seed.close();
                    seed = null;
                    if (more) {
                        seed = x.getGradient();
                        seed.attach(scope);
                    }
                }
                release(inputs, i);
            }
            // the embedding's parameters (trained by full fine-tuning) take the rest
            if (first == VisionTransformer.EMBEDDING) {
                try (NDManager segment = scope.newSubManager();
                        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                    hooks.enter(VisionTransformer.EMBEDDING, segment);
                    NDArray tokens = model.embed(store, alias(images, segment), true);
                    collector.backward(tokens.mul(seed).sum());
                }
            }
            if (seed != null) {
                seed.close();
            }
            return new Pass(value, logits);
        } finally {
            for (int i = 0; i < inputs.length; i++) {
                release(inputs, i);
            }
        }
    }

    private static void release(NDArray[] arrays, int i) {
        if (arrays[i] != null) {
            arrays[i].close();
            arrays[i] = null;
        }
    }

    private static NDArray loss(NDArray labels, NDArray logits) {
        return Loss.softmaxCrossEntropyLoss().evaluate(new NDList(labels), new NDList(logits));
    }

    /**
     * The same values, detached, in {@code into}: work on it belongs to {@code into}, and it outlives
     * the manager the values came from.
     */
    private static NDArray alias(NDArray a, NDManager into) {
        NDArray view = a.stopGradient();
        view.attach(into);
        return view;
    }

    /** The values as a leaf that collects its gradient, in {@code into}. */
    private static NDArray leaf(NDArray a, NDManager into) {
        NDArray x = alias(a, into);
        x.setRequiresGradient(true);
        return x;
    }
}
