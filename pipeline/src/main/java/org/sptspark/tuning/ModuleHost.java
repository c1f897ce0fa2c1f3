package org.sptspark.tuning;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.norm.Dropout;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.Backbone;
import org.sptspark.model.VisionTransformer;
import org.sptspark.modules.ModuleContext;
import org.sptspark.modules.Unstructured;

/**
 * What the modules of one {@link TunedModel} see of it, and the forward hooks they install: the
 * parameter values served in place of backbone tensors, the branches on linear layers, the
 * forward pass's manager and the dropout mask modules reading one input share.
 */
final class ModuleHost implements ModuleContext {

    private final Backbone model;
    private final NDManager manager;
    private final long seed;
    private final Unstructured mode;
    private final Map<String, NDArray> overlay;
    private final Map<Parameter, UnaryOperator<NDArray>> overrides = new HashMap<>();
    private final Map<String, VisionTransformer.LinearBranch> branches = new LinkedHashMap<>();
    private NDManager scope;
    private long forwardSeed;
    private boolean training;
    private NDArray lastDropoutInput;
    private NDArray lastDropoutOutput;

    ModuleHost(Backbone model, NDManager manager, long seed, Unstructured mode, Map<String, NDArray> overlay) {
        this.model = model;
        this.manager = manager;
        this.seed = seed;
        this.mode = mode;
        this.overlay = overlay;
    }

    /**
     * Starts a forward pass whose arrays belong to {@code scope}; with the modules' branches when
     * {@code withBranches}. In training, {@code seed} seeds the modules' randomness per segment.
     */
    void beginForward(NDManager scope, boolean withBranches, boolean training, long seed) {
        this.scope = scope;
        this.training = training;
        this.forwardSeed = seed;
        model.clearBranches();
        if (withBranches) {
            branches.forEach(model::setBranch);
        }
    }

    /**
     * Starts this overlay's part of a mixed batch's inference ({@link TunedModel#forwardMixed}):
     * arrays go to {@code scope}; the model's own branches are left alone, since the mixed pass
     * asks each group for its branches.
     */
    void beginRows(NDManager scope) {
        this.scope = scope;
        this.training = false;
        this.forwardSeed = 0;
    }

    /** Whether the forward pass serves something else than the stored array for this parameter. */
    boolean overrides(Parameter parameter) {
        return overrides.containsKey(parameter);
    }

    /** The branch a module installed on this block linear layer, or {@code null}. */
    VisionTransformer.LinearBranch branch(String linear) {
        return branches.get(linear);
    }

    /**
     * Enters a segment of the forward pass (see {@link VisionTransformer.SegmentListener}): its
     * arrays go to {@code segmentScope}, and in training the engine's generator, which draws the
     * modules' dropout and drop-path masks, is seeded from the forward's seed and the segment, so
     * that a segment run again (activation checkpointing) draws the same masks.
     */
    void enter(int segment, NDManager segmentScope) {
        scope = segmentScope;
        lastDropoutInput = null;
        lastDropoutOutput = null;
        if (training) {
            Engine.getInstance().setRandomSeed(segmentSeed(forwardSeed, segment));
        }
    }

    /** A non-negative int seed for one segment (the engine takes an int): SplitMix64's finaliser over the pair. */
    static int segmentSeed(long seed, int segment) {
        long h = seed * 0x9E3779B97F4A7C15L + segment;
        h = (h ^ (h >>> 30)) * 0xBF58476D1CE4E5B9L;
        h = (h ^ (h >>> 27)) * 0x94D049BB133111EBL;
        return (int) ((h ^ (h >>> 31)) >>> 33);
    }

    void endForward() {
        scope = null;
        lastDropoutInput = null;
        lastDropoutOutput = null;
    }

    /** The value the forward pass uses for a parameter whose stored array is {@code base}. */
    NDArray value(Parameter parameter, NDArray base) {
        UnaryOperator<NDArray> f = overrides.get(parameter);
        return f == null ? base : f.apply(base);
    }

    @Override
    public Backbone model() {
        return model;
    }

    @Override
    public NDManager manager() {
        return manager;
    }

    @Override
    public long seed() {
        return seed;
    }

    @Override
    public Unstructured unstructured() {
        return mode;
    }

    @Override
    public boolean isOverlay() {
        return overlay != null;
    }

    @Override
    public Shape overlayShape(String name) {
        return overlay != null && ParameterSpace.isHead(name) ? overlay.get(name).getShape() : null;
    }

    @Override
    public void override(String parameter, UnaryOperator<NDArray> value) {
        overrides.put(model.parameter(parameter), value);
    }

    @Override
    public void branch(String linear, VisionTransformer.LinearBranch branch) {
        branches.put(linear, branch);
    }

    @Override
    public NDManager forwardScope() {
        if (scope == null) {
            throw new IllegalStateException("call TunedModel.forward, not the model's own forward");
        }
        return scope;
    }

    @Override
    public NDArray dropout(NDArray input) {
        if (input != lastDropoutInput) {
            lastDropoutInput = input;
            lastDropoutOutput = Dropout.dropout(input, TunedModel.MODULE_DROPOUT, true).head();
        }
        return lastDropoutOutput;
    }

    @Override
    public NDArray dropPath(NDArray branch, boolean training) {
        if (!training) {
            return branch;
        }
        Shape s = branch.getShape();
        long[] dims = new long[s.dimension()];
        java.util.Arrays.fill(dims, 1);
        dims[0] = s.get(0);
        double keep = 1 - TunedModel.MODULE_DROP_PATH;
        NDArray mask = branch.getManager().randomUniform(0f, 1f, new Shape(dims), DataType.FLOAT32, branch.getDevice())
                .lt(keep).toType(DataType.FLOAT32, false).div(keep);
        return branch.mul(mask);
    }
}
