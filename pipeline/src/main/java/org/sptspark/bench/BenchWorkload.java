package org.sptspark.bench;

/**
 * A benchmark workload set up once and stepped many times: one forward+backward
 * ({@link ModelBenchmark#workload}), one sensitivity batch ({@link SensitivityBenchmark#workload})
 * or one training step ({@link TrainingBenchmark.Workload}). {@code spt bench peer} interleaves
 * such steps with a PyTorch peer's.
 */
public interface BenchWorkload extends AutoCloseable {

    /** Runs one step, waits until the device has finished it, and returns its wall seconds. */
    double step();

    /** The last step's loss (NaN before the first). */
    double loss();

    @Override
    void close();
}
