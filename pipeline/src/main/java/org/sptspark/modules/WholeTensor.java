package org.sptspark.modules;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Map;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.TensorSpec;

/**
 * A tensor trained whole: the model's own parameter, updated in place (full fine-tuning, BitFit,
 * the class token, the head). In an overlay the module holds its own copy, served in the
 * parameter's place, so the shared backbone is never written. Exported under the tensor's name.
 */
public final class WholeTensor implements TuningModule {

    /** Implements {@link TensorDecision.Whole}. */
    public static final ModuleType TYPE = new ModuleType() {
        @Override
        public String id() {
            return "whole";
        }

        @Override
        public boolean implementsDecision(TensorDecision decision) {
            return decision instanceof TensorDecision.Whole;
        }

        @Override
        public TuningModule create(ModuleContext context, TensorSpec tensor, TensorDecision decision) {
            return new WholeTensor(context, tensor);
        }

        @Override
        public TensorDecision recognize(TensorSpec tensor, Map<String, NDArray> tensors, int rank, String source) {
            return tensors.containsKey(tensor.name()) ? new TensorDecision.Whole(tensor.size()) : null;
        }
    };

    private final Trainable trainable;

    private WholeTensor(ModuleContext context, TensorSpec tensor) {
        String name = tensor.name();
        // timm's groups: no decay on vectors, the class token and the position tables (ViT's
        // pos_embed, Swin's relative_position_bias_table)
        boolean decay = tensor.shape().dimension() >= 2 && !name.equals("cls_token") && !name.equals("pos_embed")
                && !name.endsWith(".relative_position_bias_table");
        NDArray parameter = context.model().parameter(name).getArray();
        if (!context.isOverlay()) {
            trainable = Trainable.of(name, parameter, decay);
            return;
        }
        Shape shape = context.overlayShape(name) != null ? context.overlayShape(name) : parameter.getShape();
        NDArray own = context.manager().zeros(shape, DataType.FLOAT32, parameter.getDevice());
        trainable = Trainable.of(name, own, decay);
        context.override(name, base -> own);
    }

    @Override
    public String tensor() {
        return trainable.name();
    }

    @Override
    public List<Trainable> trainables() {
        return List.of(trainable);
    }

    /** Already in place: the model's parameter is what was trained. */
    @Override
    public void merge(NDArray weight, NDManager scratch) {}
}
