package org.sptspark.tuning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import org.sptspark.model.Tensors;
import org.sptspark.modules.Trainable;

/**
 * PyTorch's {@code torch.optim.AdamW} update, exactly: decoupled decay {@code w *= 1 - lr wd},
 * moments {@code m = b1 m + (1-b1) g}, {@code v = b2 v + (1-b2) g^2}, and
 * {@code w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)}.
 *
 * <p>Written here rather than taken from DJL because DJL's {@code AdamW} folds the bias
 * corrections into the learning rate (the epsilon-hat variant, which differs from PyTorch's
 * update for small second moments), applies one decay to every parameter, and keys its state
 * by parameter id; the reference trains with PyTorch's update and decay on matrices only.
 *
 * <p>State lives on the parameters' devices and is the size of the trainable set: two float32
 * moments per trained scalar.
 */
public final class AdamW implements AutoCloseable {

    private final double beta1;
    private final double beta2;
    private final double eps;
    private final NDManager manager;
    private final Map<String, NDArray[]> moments = new HashMap<>();
    private long steps;

    public AdamW(NDManager parent) {
        this(parent, 0.9, 0.999, 1e-8);
    }

    public AdamW(NDManager parent, double beta1, double beta2, double eps) {
        this.manager = parent.newSubManager();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
    }

    /**
     * One update of every trainable from its accumulated gradient, which is then zeroed. A
     * trainable's mask, if any, multiplies its gradient first.
     */
    public void step(Collection<Trainable> params, double lr, double weightDecay) {
        steps++;
        double bc1 = 1 - Math.pow(beta1, steps);
        double bc2 = 1 - Math.pow(beta2, steps);
        try (NDManager scratch = manager.newSubManager()) {
            for (Trainable p : params) {
                NDArray grad = p.value().getGradient();
                grad.attach(scratch);
                NDArray g = p.mask() == null ? grad : grad.mul(p.mask());
                NDArray[] mv = moments.computeIfAbsent(p.name(), k -> new NDArray[] {
                        manager.zeros(p.value().getShape(), p.value().getDataType(), p.value().getDevice()),
                        manager.zeros(p.value().getShape(), p.value().getDataType(), p.value().getDevice())});
                mv[0].muli(beta1).addi(g.mul(1 - beta1));
                mv[1].muli(beta2).addi(g.square().muli(1 - beta2));
                NDArray w = p.value().stopGradient();
                w.attach(scratch);
                if (p.decay() && weightDecay > 0) {
                    w.muli(1 - lr * weightDecay);
                }
                NDArray denom = mv[1].sqrt();
                denom.attach(scratch);
                denom.divi(Math.sqrt(bc2)).addi(eps);
                NDArray update = mv[0].div(denom);
                update.attach(scratch);
                w.subi(update.muli(lr / bc1));
                Tensors.zero(grad);
            }
        }
    }

    /** Steps taken. */
    public long steps() {
        return steps;
    }

    /** Bytes of optimizer state held now. */
    public long stateBytes() {
        long bytes = 0;
        for (NDArray[] mv : moments.values()) {
            bytes += 2 * mv[0].size() * mv[0].getDataType().getNumOfBytes();
        }
        return bytes;
    }

    @Override
    public void close() {
        manager.close();
    }
}
