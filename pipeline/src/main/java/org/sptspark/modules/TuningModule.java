package org.sptspark.modules;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.List;
import java.util.Map;
import org.sptspark.model.Tensors;

/**
 * What one method trains on one backbone tensor, as a tuner layer in PEFT: its trainable arrays
 * (made and hooked into the forward pass by its {@link ModuleType}), and how they are exported to
 * an artifact, set back from one, and folded into the backbone's weight.
 */
public interface TuningModule {

    /** The backbone tensor this module tunes. */
    String tensor();

    /** The arrays the optimizer updates, in a fixed order. */
    List<Trainable> trainables();

    /** Names of the artifact tensors {@link #export} writes, in order: by default its trainables'. */
    default List<String> exportedNames() {
        return trainables().stream().map(Trainable::name).toList();
    }

    /**
     * Adds CPU copies of the artifact tensors, named as {@link #exportedNames}, to {@code out}: by
     * default each trainable as it stands.
     */
    default void export(NDManager into, NDList out) {
        for (Trainable t : trainables()) {
            out.add(exported(t.value(), t.name(), into));
        }
    }

    /**
     * Sets the module from an artifact's tensors, which hold at least its {@link #exportedNames}.
     *
     * @throws IllegalArgumentException when a tensor's shape or content does not fit the module
     */
    default void load(Map<String, NDArray> tensors, String source) {
        for (Trainable t : trainables()) {
            NDArray a = tensors.get(t.name());
            if (!a.getShape().equals(t.value().getShape())) {
                throw new IllegalArgumentException(source + ": tensor '" + t.name() + "' has shape " + a.getShape()
                        + ", expected " + t.value().getShape());
            }
            Tensors.assign(t.value(), a.toFloatArray());
        }
    }

    /**
     * Refuses, before any tensor is changed, a merge this module cannot take part in.
     *
     * @throws IllegalArgumentException saying why the module has no place in a plain checkpoint
     */
    default void checkMergeable() {}

    /** Folds the module into the backbone's own {@code weight}, so the plain model computes what it does. */
    void merge(NDArray weight, NDManager scratch);

    /** CPU copies of {@code value} named {@code name}, attached to {@code into}. */
    static NDArray exported(NDArray value, String name, NDManager into) {
        NDArray copy = value.toDevice(ai.djl.Device.cpu(), true);
        copy.attach(into);
        copy.setName(name);
        return copy;
    }
}
