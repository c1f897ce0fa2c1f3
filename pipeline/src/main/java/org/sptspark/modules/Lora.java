package org.sptspark.modules;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import java.util.List;
import java.util.Map;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.Tensors;

/**
 * LoRA on one matrix: a parallel branch {@code B(A(dropout(x)))} with drop-path on its output and
 * no {@code alpha/r} scaling, as the reference; A {@code (r, in)} is kaiming-uniform
 * ({@code a = sqrt 5}), B {@code (out, r)} zero. The branch on {@code attn.proj} sees no dropout.
 * Exported as {@code <linear>.lora_A} and {@code <linear>.lora_B}; merged as {@code W += B A}.
 */
public final class Lora implements TuningModule {

    /** Implements {@link TensorDecision.Structured} with {@link AllocationRule.Module#LORA}. */
    public static final ModuleType TYPE = new ModuleType() {
        @Override
        public String id() {
            return "lora";
        }

        @Override
        public boolean implementsDecision(TensorDecision decision) {
            return decision instanceof TensorDecision.Structured s && s.module() == AllocationRule.Module.LORA;
        }

        @Override
        public TuningModule create(ModuleContext context, TensorSpec tensor, TensorDecision decision) {
            return new Lora(context, tensor, ((TensorDecision.Structured) decision).rank());
        }

        @Override
        public TensorDecision recognize(TensorSpec tensor, Map<String, NDArray> tensors, int rank, String source) {
            return tensors.containsKey(TensorNames.layerOf(tensor.name()) + TensorNames.LORA_A) ? decision(tensor, rank) : null;
        }
    };

    /** LoRA of this rank on a matrix. */
    public static TensorDecision decision(TensorSpec matrix, int rank) {
        var module = AllocationRule.Module.LORA;
        return new TensorDecision.Structured(module, rank, module.cost(rank, matrix.rows(), matrix.cols()));
    }

    private final String tensor;
    private final Trainable a;
    private final Trainable b;

    private Lora(ModuleContext context, TensorSpec t, int rank) {
        tensor = t.name();
        String linear = TensorNames.linearOf(tensor);
        var device = context.model().parameter(tensor).getArray().getDevice();
        NDArray down = Tensors.constant(context.manager(),
                Initializers.kaimingUniform(rank, t.cols(), context.seed(), linear + TensorNames.LORA_A),
                new Shape(rank, t.cols()), device);
        NDArray up = context.manager().zeros(new Shape(t.rows(), rank), DataType.FLOAT32, device);
        a = Trainable.of(linear + TensorNames.LORA_A, down, true);
        b = Trainable.of(linear + TensorNames.LORA_B, up, true);
        boolean dropout = !t.operation().equals("proj");
        context.branch(linear, (x, y, training) -> {
            NDArray in = dropout && training ? context.dropout(x) : x;
            NDArray delta = Linear.linear(Linear.linear(in, down).head(), up).head();
            return y.add(context.dropPath(delta, training));
        });
    }

    @Override
    public String tensor() {
        return tensor;
    }

    @Override
    public List<Trainable> trainables() {
        return List.of(a, b);
    }

    @Override
    public void merge(NDArray weight, NDManager scratch) {
        NDArray product = b.value().matMul(a.value());
        product.attach(scratch);
        NDArray sum = product.add(weight);
        Tensors.assign(weight, sum.toFloatArray());
    }
}
