package org.sptspark.tuning;

import ai.djl.ndarray.NDArray;
import java.util.List;
import java.util.Map;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.TensorSpec;
import org.sptspark.modules.Adapter;
import org.sptspark.modules.Lora;
import org.sptspark.modules.ModuleType;
import org.sptspark.modules.SparseDelta;
import org.sptspark.modules.WholeTensor;
import org.sptspark.snella.Kernel;

/**
 * The registered module types. A new kind of module is one class implementing
 * {@link ModuleType} and a line here; a new method adds its {@link Method} constant.
 */
public final class ModuleTypes {

    /** In the order artifacts are recognised: a tensor's own name (whole) last. */
    public static final List<ModuleType> ALL = List.of(SparseDelta.TYPE, Lora.TYPE, Adapter.TYPE, Kernel.TYPE,
            WholeTensor.TYPE);

    private ModuleTypes() {}

    /** The type that implements a (non-frozen) decision. */
    public static ModuleType forDecision(TensorDecision decision) {
        for (ModuleType type : ALL) {
            if (type.implementsDecision(decision)) {
                return type;
            }
        }
        throw new IllegalArgumentException("no module type implements the decision " + decision.kind());
    }

    /** The decision an artifact's tensors record for a backbone tensor: the first type that recognises them, else frozen. */
    public static TensorDecision recognize(TensorSpec tensor, Map<String, NDArray> tensors, int rank, String source) {
        for (ModuleType type : ALL) {
            TensorDecision d = type.recognize(tensor, tensors, rank, source);
            if (d != null) {
                return d;
            }
        }
        return new TensorDecision.Frozen();
    }
}
