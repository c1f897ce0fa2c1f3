package org.sptspark.sensitivity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import java.util.LinkedHashMap;
import java.util.Map;
import org.sptspark.model.Backprop;
import org.sptspark.model.Gradients;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.Backbone;

/**
 * SPT's stage 1 on one device, without Spark: for each batch, the mean cross-entropy of the
 * model in training mode (drop-path active, seeded per batch), back-propagated, and
 * {@code (dL_b/dw)^2} added to a float64 accumulator on the device for every scored tensor.
 *
 * <p>The model should hold the backbone with a freshly initialised head (a zero head would give
 * zero backbone gradients); tensors SPT does not score (head, class token, patch and position
 * embeddings) are frozen here, so their gradients are not computed.
 */
public final class SensitivityScorer implements AutoCloseable {

    private final Backbone model;
    private final NDManager manager;
    private final ParameterStore store;
    private final Map<String, NDArray> sums = new LinkedHashMap<>();
    private final Backprop.Hooks hooks;
    private boolean checkpointing;
    private int batches;

    /** @param manager owns the accumulators; on the model's device */
    public SensitivityScorer(Backbone model, NDManager manager) {
        this.model = model;
        this.manager = manager.newSubManager();
        this.store = new ParameterStore(manager, false);
        hooks = Backprop.Hooks.none(Backprop.firstSegment(model,
                model.space().tensors().stream().filter(TensorSpec::isScored).toList()));
        for (TensorSpec t : model.space().tensors()) {
            Parameter p = model.parameter(t.name());
            p.freeze(!t.isScored());
            if (t.isScored()) {
                sums.put(t.name(), this.manager.zeros(t.shape(), DataType.FLOAT64));
            }
        }
    }

    /**
     * Whether each batch's backward pass checkpoints activations (see {@link Backprop}): the same
     * scores, with one block's activations in memory instead of all, for one more forward pass.
     */
    public SensitivityScorer checkpointActivations(boolean on) {
        checkpointing = on;
        return this;
    }

    /**
     * Adds one batch's squared gradients.
     *
     * @param images {@code (B, 3, S, S)}, normalised
     * @param labels {@code (B)} int64
     * @param dropPathSeed seeds this batch's drop-path masks (derive it from the run seed and batch index)
     * @param batch names the batch in errors
     * @throws IllegalStateException when the loss is NaN or infinite
     */
    public void add(NDArray images, NDArray labels, long dropPathSeed, String batch) {
        synchronized (Gradients.ENGINE_LOCK) {
            try (NDManager step = manager.newSubManager()) {
                NDArray x = images.duplicate();
                x.attach(step);
                NDArray y = labels.duplicate();
                y.attach(step);
                Gradients.zero(model);
                Backprop.LossCheck finite = (value, logits) -> {
                    if (!Float.isFinite(value)) {
                        throw new IllegalStateException("loss is " + value + " in " + batch
                                + ": check the backbone's weights and the batch's images");
                    }
                };
                Backprop.run(model, store, x, y, dropPathSeed, checkpointing, hooks, finite);
                for (var e : sums.entrySet()) {
                    // the gradient handle and its float64 square belong to this step, not to the model
                    NDArray g = model.parameter(e.getKey()).getArray().getGradient();
                    g.attach(step);
                    e.getValue().addi(g.toType(DataType.FLOAT64, false).square());
                }
            }
            batches++;
        }
    }

    /** Blocks until the device has run every kernel queued so far (one accumulator entry read back). */
    public void awaitDevice() {
        if (!sums.isEmpty()) {
            NDArray last = null;
            for (NDArray acc : sums.values()) {
                last = acc;
            }
            try (NDArray flat = last.flatten(); NDArray first = flat.get(0)) {
                first.getDouble();
            }
        }
    }

    public int batches() {
        return batches;
    }

    /** The accumulated scores, by tensor name, row-major. */
    public Map<String, double[]> sums() {
        var out = new LinkedHashMap<String, double[]>();
        sums.forEach((name, acc) -> out.put(name, acc.toDoubleArray()));
        return out;
    }

    @Override
    public void close() {
        manager.close();
    }
}
