package org.sptspark.modules;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.Tensors;

/**
 * SPT's unstructured entries as a sparse delta: a trainable value vector at the planned flat
 * indices, scattered into a zero tensor and added to the frozen weight in each forward pass.
 * Gradients and optimizer state are the size of the budget; the backbone tensor is never written.
 * Exported as {@code <tensor>.delta_index} (int64) and {@code <tensor>.delta_value}.
 *
 * <p>With {@link Unstructured#MASKED_FULL} (benchmarks only) it trains the whole tensor under a
 * 0/1 gradient mask instead, as the reference does, and exports nothing.
 */
public final class SparseDelta implements TuningModule {

    /** Implements {@link TensorDecision.Sparse}. */
    public static final ModuleType TYPE = new ModuleType() {
        @Override
        public String id() {
            return "sparse";
        }

        @Override
        public boolean implementsDecision(TensorDecision decision) {
            return decision instanceof TensorDecision.Sparse;
        }

        @Override
        public TuningModule create(ModuleContext context, TensorSpec tensor, TensorDecision decision) {
            return new SparseDelta(context, tensor, ((TensorDecision.Sparse) decision).indices());
        }

        @Override
        public TensorDecision recognize(TensorSpec tensor, Map<String, NDArray> tensors, int rank, String source) {
            NDArray stored = tensors.get(tensor.name() + TensorNames.DELTA_INDEX);
            if (stored == null) {
                return null;
            }
            long[] index = stored.toLongArray();
            int[] ints = new int[index.length];
            for (int i = 0; i < index.length; i++) {
                if (index[i] < 0 || index[i] >= tensor.size()) {
                    throw new IllegalArgumentException(source + ": delta index " + index[i] + " is outside '"
                            + tensor.name() + "'");
                }
                ints[i] = (int) index[i];
            }
            return new TensorDecision.Sparse(ints);
        }
    };

    private final String tensor;
    private final NDArray index;
    private final Trainable values;

    private SparseDelta(ModuleContext context, TensorSpec t, int[] indices) {
        tensor = t.name();
        NDArray parameter = context.model().parameter(tensor).getArray();
        var device = parameter.getDevice();
        if (context.unstructured() == Unstructured.MASKED_FULL) {
            float[] mask = new float[(int) t.size()];
            for (int i : indices) {
                mask[i] = 1f;
            }
            index = null;
            values = new Trainable(tensor, parameter, false, Tensors.constant(context.manager(), mask, t.shape(), device));
            return;
        }
        long[] flat = Arrays.stream(indices).asLongStream().toArray();
        NDArray idx = Tensors.constant(context.manager(), flat, device);
        NDArray v = context.manager().zeros(new Shape(flat.length), DataType.FLOAT32, device);
        index = idx;
        values = Trainable.of(tensor + TensorNames.DELTA_VALUE, v, false);
        Shape shape = t.shape();
        Shape size = new Shape(t.size());
        context.override(tensor, base -> context.forwardScope().zeros(size, DataType.FLOAT32, base.getDevice())
                .scatter(idx, v, 0).reshape(shape).add(base));
    }

    @Override
    public String tensor() {
        return tensor;
    }

    @Override
    public List<Trainable> trainables() {
        return List.of(values);
    }

    @Override
    public List<String> exportedNames() {
        return List.of(tensor + TensorNames.DELTA_INDEX, values.name());
    }

    @Override
    public void export(NDManager into, NDList out) {
        out.add(TuningModule.exported(index, tensor + TensorNames.DELTA_INDEX, into));
        out.add(TuningModule.exported(values.value(), values.name(), into));
    }

    @Override
    public void load(Map<String, NDArray> tensors, String source) {
        TuningModule.super.load(tensors, source);
        long[] stored = tensors.get(tensor + TensorNames.DELTA_INDEX).toLongArray();
        if (!Arrays.equals(stored, index.toLongArray())) {
            throw new IllegalArgumentException(source + ": delta indices of '" + tensor + "' disagree with the layout");
        }
    }

    @Override
    public void merge(NDArray weight, NDManager scratch) {
        float[] base = weight.toFloatArray();
        long[] positions = index.toLongArray();
        float[] delta = values.value().toFloatArray();
        for (int i = 0; i < positions.length; i++) {
            base[(int) positions[i]] += delta[i];
        }
        Tensors.assign(weight, base);
    }
}
