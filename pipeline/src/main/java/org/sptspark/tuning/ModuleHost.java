package org.sptspark.tuning;

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
import org.sptspark.model.VisionTransformer;
import org.sptspark.modules.ModuleContext;
import org.sptspark.modules.Unstructured;

/**
 * What the modules of one {@link TunedModel} see of it, and the forward hooks they install: the
 * parameter values served in place of backbone tensors, the branches on linear layers, the
 * forward pass's manager and the dropout mask modules reading one input share.
 */
final class ModuleHost implements ModuleContext {

    private final VisionTransformer model;
    private final NDManager manager;
    private final long seed;
    private final Unstructured mode;
    private final Map<String, NDArray> overlay;
    private final Map<Parameter, UnaryOperator<NDArray>> overrides = new HashMap<>();
    private final Map<String, VisionTransformer.LinearBranch> branches = new LinkedHashMap<>();
    private NDManager scope;
    private NDArray lastDropoutInput;
    private NDArray lastDropoutOutput;

    ModuleHost(VisionTransformer model, NDManager manager, long seed, Unstructured mode, Map<String, NDArray> overlay) {
        this.model = model;
        this.manager = manager;
        this.seed = seed;
        this.mode = mode;
        this.overlay = overlay;
    }

    /** Starts a forward pass whose arrays belong to {@code scope}; with the modules' branches when {@code withBranches}. */
    void beginForward(NDManager scope, boolean withBranches) {
        this.scope = scope;
        model.clearBranches();
        if (withBranches) {
            branches.forEach(model::setBranch);
        }
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
    public VisionTransformer model() {
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
