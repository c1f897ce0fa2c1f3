package org.sptspark.snella;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.core.Linear;
import java.util.List;
import java.util.Map;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.Tensors;
import org.sptspark.modules.ModuleContext;
import org.sptspark.modules.ModuleType;
import org.sptspark.modules.TensorNames;
import org.sptspark.modules.Trainable;
import org.sptspark.modules.TrainingHook;
import org.sptspark.modules.TuningModule;

/**
 * SNELLA's kernelized sparse delta on one matrix ({@link KernelDelta}) as a module: a parallel
 * branch {@code x delta^T} with the same dropout and drop-path as LoRA. Its matrices compete for a
 * shrinking non-zero volume through the model's {@link Competition}. It is exported as the sparse
 * delta it ends with ({@code delta_index}, {@code delta_value}), so its artifacts load and merge as
 * SPT's sparse deltas do; its factors are training state and never leave the trainer.
 */
public final class Kernel implements TuningModule {

    /** Kernel heads, as the reference's default. */
    public static final int HEADS = 2;

    /** Implements {@link TensorDecision.Kernelized}. */
    public static final ModuleType TYPE = new ModuleType() {
        @Override
        public String id() {
            return "snella";
        }

        @Override
        public boolean implementsDecision(TensorDecision decision) {
            return decision instanceof TensorDecision.Kernelized;
        }

        @Override
        public TuningModule create(ModuleContext context, TensorSpec tensor, TensorDecision decision) {
            return new Kernel(context, tensor, ((TensorDecision.Kernelized) decision).rank());
        }

        /** Never: a SNELLA artifact holds sparse deltas, which {@code SparseDelta} recognises. */
        @Override
        public TensorDecision recognize(TensorSpec tensor, Map<String, NDArray> tensors, int rank, String source) {
            return null;
        }

        @Override
        public TrainingHook hook(List<TuningModule> modules, ModuleContext context) {
            return new Competition(modules.stream().map(m -> (Kernel) m).toList(), context.manager());
        }
    };

    /** SNELLA's kernel of this rank on a matrix: its factors and three scalars. */
    public static TensorDecision decision(TensorSpec matrix, int rank) {
        return new TensorDecision.Kernelized(rank, (long) rank * (matrix.rows() + matrix.cols()) + 3);
    }

    final KernelDelta kernel;
    final int block;
    private final String tensor;
    private final List<Trainable> trainables;
    private final NDManager manager;

    private Kernel(ModuleContext context, TensorSpec t, int rank) {
        tensor = t.name();
        block = t.block();
        manager = context.manager();
        String linear = TensorNames.linearOf(tensor);
        var device = context.model().parameter(tensor).getArray().getDevice();
        var k = new KernelDelta(linear, t.rows(), t.cols(), rank, HEADS, context.seed(), manager, device);
        kernel = k;
        String prefix = linear + TensorNames.SNELLA;
        trainables = List.of(Trainable.of(prefix + "in", k.in, true), Trainable.of(prefix + "out", k.out, true),
                Trainable.of(prefix + "alpha", k.alpha, false), Trainable.of(prefix + "gamma", k.gamma, false),
                Trainable.of(prefix + "beta", k.beta, false));
        boolean dropout = !t.operation().equals("proj");
        context.branch(linear, (x, y, training) -> {
            NDArray in = dropout && training ? context.dropout(x) : x;
            NDArray delta = training ? k.proxy(x.getManager()) : k.inference(manager);
            return y.add(context.dropPath(Linear.linear(in, delta).head(), training));
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
    public List<String> exportedNames() {
        return List.of(tensor + TensorNames.DELTA_INDEX, tensor + TensorNames.DELTA_VALUE);
    }

    /** The sparse delta the kernel computes now: its kept entries' positions and values. */
    @Override
    public void export(NDManager into, NDList out) {
        long[] index;
        float[] values;
        try (NDManager scratch = manager.newSubManager()) {
            NDArray delta = kernel.delta(scratch);
            float[] dense = kernel.dense(scratch, false).toFloatArray();
            index = kernel.indices(dense);
            float[] all = delta.toFloatArray();
            values = new float[index.length];
            for (int i = 0; i < index.length; i++) {
                values[i] = all[(int) index[i]];
            }
        }
        NDArray i = into.create(index);
        i.setName(tensor + TensorNames.DELTA_INDEX);
        out.add(i);
        NDArray v = into.create(values);
        v.setName(tensor + TensorNames.DELTA_VALUE);
        out.add(v);
    }

    /** Refused: SNELLA's artifacts are sparse deltas and load as such. */
    @Override
    public void load(Map<String, NDArray> tensors, String source) {
        throw new IllegalArgumentException(source + ": SNELLA's kernel is exported as a sparse delta; load the artifact"
                + " with the layout its tensors describe");
    }

    @Override
    public void merge(NDArray weight, NDManager scratch) {
        NDArray sum = kernel.delta(scratch).add(weight);
        Tensors.assign(weight, sum.toFloatArray());
    }
}
