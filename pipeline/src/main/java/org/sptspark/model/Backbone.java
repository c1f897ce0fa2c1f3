package org.sptspark.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import java.util.Map;

/**
 * A backbone model of any family ({@link VisionTransformer}, {@link SwinTransformer}, {@link
 * ConvNext}): its parameters under timm's names, in {@link ParameterSpace} order, and its forward
 * pass from images to logits.
 */
public interface Backbone {

    BackboneConfig config();

    ParameterSpace space();

    /** Parameters by timm name, in {@link ParameterSpace} order. */
    Map<String, Parameter> namedParameters();

    /** The parameter with this timm name, or an error naming it. */
    default Parameter parameter(String name) {
        Parameter p = namedParameters().get(name);
        if (p == null) {
            throw new IllegalArgumentException("no parameter '" + name + "' in " + config().name());
        }
        return p;
    }

    /** The manager that owns the parameters. */
    default NDManager manager() {
        return namedParameters().values().iterator().next().getArray().getManager();
    }

    /** Sets every parameter's gradient requirement: {@code false} freezes the whole model. */
    default void setTrainable(boolean trainable) {
        namedParameters().values().forEach(p -> p.freeze(!trainable));
    }

    /**
     * Logits {@code (batch, classes)} of normalised images {@code (batch, channels, size, size)}; every
     * intermediate array belongs to the images' manager. Drop-path, active only in training, draws
     * its masks from {@code dropPathSeed} alone.
     */
    default NDArray logits(ParameterStore store, NDArray images, boolean training, long dropPathSeed) {
        return forward(store, images, training, dropPathSeed, VisionTransformer.SegmentListener.NONE);
    }

    /**
     * As {@link #logits}, calling {@code listener} as each segment starts: {@link
     * VisionTransformer#EMBEDDING} (the patch embedding or stem), each block by its index over all
     * stages (a stage's downsampling runs in its first block's segment), and {@link #depth} (the
     * final norm, pooling and head). A tuning method sets its per-segment state there. The
     * segments are {@link #embed}, {@link #block} and {@link #classify}, which activation
     * checkpointing also runs one at a time ({@link Backprop}).
     */
    default NDArray forward(ParameterStore store, NDArray images, boolean training, long dropPathSeed,
            VisionTransformer.SegmentListener listener) {
        listener.enter(VisionTransformer.EMBEDDING, images.getManager());
        NDArray x = embed(store, images, training);
        for (int i = 0; i < depth(); i++) {
            listener.enter(i, x.getManager());
            x = block(i, store, x, training, dropPathSeed);
        }
        listener.enter(depth(), x.getManager());
        return classify(store, x, training);
    }

    /** The first segment: the patch embedding or stem, in the images' manager. */
    NDArray embed(ParameterStore store, NDArray images, boolean training);

    /**
     * Block {@code index} (counted over all stages; a stage's first block runs the stage's
     * downsampling first) on the previous segment's output, its arrays in {@code x}'s manager. Its
     * drop-path masks depend on the forward's seed and the block's index only, so a block run again
     * (activation checkpointing) draws the masks it drew the first time.
     */
    NDArray block(int index, ParameterStore store, NDArray x, boolean training, long dropPathSeed);

    /** The last segment: the final norm, pooling (or the class token) and the head: logits. */
    NDArray classify(ParameterStore store, NDArray x, boolean training);

    /** The number of blocks, over all stages. */
    int depth();

    /**
     * Installs (or with {@code null} removes) a branch on the block linear layer named by its timm
     * prefix, e.g. {@code blocks.3.attn.q}, {@code layers.2.blocks.1.mlp.fc1}, {@code
     * stages.1.blocks.0.mlp.fc2}: a LoRA branch, an Adapter.
     */
    void setBranch(String linear, VisionTransformer.LinearBranch branch);

    /** Removes every installed branch: the model computes the plain backbone function again. */
    void clearBranches();

    /**
     * Sets the arithmetic of the matrix products; parameters stay float32. A ViT takes every
     * {@link Precision}; the other families compute in float32 only so far and refuse the others
     * ({@link BackboneConfig#requirePrecision}).
     */
    default void setPrecision(Precision precision) {
        config().requirePrecision(precision);
    }
}
