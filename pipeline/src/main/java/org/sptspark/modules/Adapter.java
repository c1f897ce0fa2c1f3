package org.sptspark.modules;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.Tensors;

/**
 * An Adapter after one linear layer: {@code y + droppath(up(GELU(down(dropout(y)))))}, down
 * kaiming-uniform with PyTorch's default bias, up zero. As in the reference, the module on
 * {@code attn.proj} reads the layer's input instead (its width is the same) and sees no dropout.
 * Exported as {@code <linear>.adapter_down.weight/bias} and {@code <linear>.adapter_up.weight/bias}.
 * Non-linear, so it has no place in a plain checkpoint and is never merged.
 */
public final class Adapter implements TuningModule {

    /** Implements {@link TensorDecision.Structured} with {@link AllocationRule.Module#ADAPTER}. */
    public static final ModuleType TYPE = new ModuleType() {
        @Override
        public String id() {
            return "adapter";
        }

        @Override
        public boolean implementsDecision(TensorDecision decision) {
            return decision instanceof TensorDecision.Structured s && s.module() == AllocationRule.Module.ADAPTER;
        }

        @Override
        public TuningModule create(ModuleContext context, TensorSpec tensor, TensorDecision decision) {
            return new Adapter(context, tensor, ((TensorDecision.Structured) decision).rank());
        }

        @Override
        public TensorDecision recognize(TensorSpec tensor, Map<String, NDArray> tensors, int rank, String source) {
            return tensors.containsKey(TensorNames.layerOf(tensor.name()) + TensorNames.ADAPTER_DOWN + "weight")
                    ? decision(tensor, rank) : null;
        }
    };

    /** An Adapter of this rank after a matrix's layer. */
    public static TensorDecision decision(TensorSpec matrix, int rank) {
        var module = AllocationRule.Module.ADAPTER;
        return new TensorDecision.Structured(module, rank, module.cost(rank, matrix.rows(), matrix.cols()));
    }

    private final String tensor;
    private final List<Trainable> trainables;

    private Adapter(ModuleContext context, TensorSpec t, int rank) {
        tensor = t.name();
        String linear = TensorNames.linearOf(tensor);
        var device = context.model().parameter(tensor).getArray().getDevice();
        NDManager m = context.manager();
        int width = t.rows();
        String down = linear + TensorNames.ADAPTER_DOWN;
        String up = linear + TensorNames.ADAPTER_UP;
        long seed = context.seed();
        NDArray dw = Tensors.constant(m, Initializers.kaimingUniform(rank, width, seed, down + "weight"),
                new Shape(rank, width), device);
        NDArray db = Tensors.constant(m, Arrays.copyOf(Initializers.kaimingUniform(1, width, seed, down + "bias"), rank),
                new Shape(rank), device);
        NDArray uw = m.zeros(new Shape(width, rank), DataType.FLOAT32, device);
        NDArray ub = m.zeros(new Shape(width), DataType.FLOAT32, device);
        trainables = List.of(Trainable.of(down + "weight", dw, true), Trainable.of(down + "bias", db, false),
                Trainable.of(up + "weight", uw, true), Trainable.of(up + "bias", ub, false));
        boolean proj = t.operation().equals("proj");
        context.branch(linear, (x, y, training) -> {
            NDArray source = proj ? x : y;
            NDArray in = !proj && training ? context.dropout(source) : source;
            NDArray hidden = Activation.gelu(Linear.linear(in, dw, db).head());
            NDArray delta = Linear.linear(hidden, uw, ub).head();
            return y.add(context.dropPath(delta, training));
        });
    }

    @Override
    public String tensor() {
        return tensor;
    }

    @Override
    public List<Trainable> trainables() {
        return trainables;
    }

    @Override
    public void checkMergeable() {
        throw new IllegalArgumentException("artifacts with Adapter modules cannot be merged: an Adapter is a"
                + " non-linear bottleneck (" + tensor + ") with no place in a plain ViT checkpoint;"
                + " load the artifact with its backbone instead");
    }

    @Override
    public void merge(NDArray weight, NDManager scratch) {
        checkMergeable();
    }
}
