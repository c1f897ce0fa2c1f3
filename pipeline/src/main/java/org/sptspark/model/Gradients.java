package org.sptspark.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Gradient bookkeeping shared by every job that back-propagates.
 *
 * <p>DJL's PyTorch engine allows one {@code GradientCollector} per JVM at a time (a second one
 * throws). The jobs run all their gradient work (sensitivity partitions, trainings) through
 * {@link #run} on one thread per JVM; code that drives a model from its own thread (tests,
 * benchmarks, {@code spt pretrain}) synchronises each step on {@link #LOCK}. On a cluster, run one
 * gradient task per executor JVM ({@code spark.executor.cores} = {@code spark.task.cpus}).
 */
public final class Gradients {

    /** Held for the whole forward-backward-read of one batch. */
    public static final Object LOCK = new Object();

    /**
     * The one thread of this JVM that trains. libtorch keeps autograd state per thread, and DJL
     * sets it as a collector opens and closes; trainings that ran one after another but on
     * different Spark task threads of one JVM were seen to end in a NaN loss after a few dozen
     * runs, while the same sweep on one task thread never did. So every training in a JVM runs
     * on this thread, one at a time.
     */
    private static final ExecutorService THREAD = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "spt-gradients");
        t.setDaemon(true);
        return t;
    });

    private Gradients() {}

    /**
     * Runs {@code work} on this JVM's gradient thread and waits for it; its exceptions are
     * rethrown here (unchecked ones as they are).
     */
    public static <T> T run(Callable<T> work) {
        if (Thread.currentThread().getName().equals("spt-gradients")) {
            try {
                return work.call();
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        Future<T> result = THREAD.submit(work);
        try {
            return result.get();
        } catch (InterruptedException e) {
            result.cancel(true);
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the gradient thread", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(cause);
        }
    }

    /** Zeroes the accumulated gradient of every trainable parameter (PyTorch accumulates across backward calls). */
    public static void zero(VisionTransformer model) {
        for (Parameter p : model.namedParameters().values()) {
            if (p.requiresGradient() && p.getArray().hasGradient()) {
                try (NDArray g = p.getArray().getGradient()) {
                    g.subi(g);
                }
            }
        }
    }
}
