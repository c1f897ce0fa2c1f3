package org.sptspark.modules;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.function.UnaryOperator;
import org.sptspark.model.Backbone;
import org.sptspark.model.VisionTransformer;

/**
 * What a module sees of the tuned model it belongs to: the frozen backbone, the manager that owns
 * module arrays, the two ways of hooking the forward pass, and the regularisers modules share.
 */
public interface ModuleContext {

    /** The frozen backbone; modules never write its tensors (only {@link TuningModule#merge} does). */
    Backbone model();

    /** Owns every array a module creates; closed with the tuned model. */
    NDManager manager();

    /** Seeds the modules' initial values. */
    long seed();

    /** How sparse entries are trained. */
    Unstructured unstructured();

    /**
     * Whether the model is an overlay: an artifact laid over a backbone it shares, whose own
     * tensors must not be written or trained in place.
     */
    boolean isOverlay();

    /** An overlay's tensor of this name (e.g. its head, whose class count is the artifact's), else {@code null}. */
    Shape overlayShape(String name);

    /** Serves {@code value(base)} instead of a backbone parameter's array in each forward pass. */
    void override(String parameter, UnaryOperator<NDArray> value);

    /** Installs a branch on a block linear layer for each forward pass. */
    void branch(String linear, VisionTransformer.LinearBranch branch);

    /**
     * The manager of the forward pass under way: arrays made while computing a forward belong to
     * its images' manager.
     *
     * @throws IllegalStateException outside the tuned model's forward
     */
    NDManager forwardScope();

    /**
     * Dropout on a module's input. Modules reading the same array (LoRA on q, k and v all read the
     * block's normalised tokens) share one mask.
     */
    NDArray dropout(NDArray input);

    /** Per-sample drop-path on a module's output in training, from the engine's generator. */
    NDArray dropPath(NDArray branch, boolean training);
}
