package org.sptspark.modules;

import ai.djl.ndarray.NDArray;
import java.util.List;
import java.util.Map;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.TensorSpec;

/**
 * One kind of module: the {@link TensorDecision}s it implements, how it builds a module for a
 * tensor, and how it recognises its tensors in an artifact. A tuned model composes the modules
 * its layout's decisions call for; adding a method is one new type (and its registration).
 */
public interface ModuleType {

    /** Its name in errors and docs. */
    String id();

    /** Whether this type implements the decision. */
    boolean implementsDecision(TensorDecision decision);

    /** The module for one backbone tensor, its arrays made and its forward hook installed on {@code context}. */
    TuningModule create(ModuleContext context, TensorSpec tensor, TensorDecision decision);

    /**
     * The decision an artifact's tensors record for this backbone tensor, or {@code null} when
     * none of this type's tensors for it are there.
     *
     * @param rank the artifact's module rank
     * @throws IllegalArgumentException when its tensors are there but do not fit the tensor
     */
    TensorDecision recognize(TensorSpec tensor, Map<String, NDArray> tensors, int rank, String source);

    /**
     * Work across all of this type's modules in one model (SNELLA's competition for non-zeros),
     * called by the trainer around each epoch and step; {@code null} for independent modules.
     */
    default TrainingHook hook(List<TuningModule> modules, ModuleContext context) {
        return null;
    }
}
