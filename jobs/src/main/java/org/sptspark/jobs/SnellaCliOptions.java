package org.sptspark.jobs;

import org.sptspark.snella.SnellaOptions;
import picocli.CommandLine.Option;

/** SNELLA's options; the defaults are the reference's VTAB-1k scripts (scripts/vtab/snella32). */
final class SnellaCliOptions {

    @Option(names = "--snella-sparsity", defaultValue = "0.9", description = "SNELLA's target sparsity: a default,"
            + " then task=ratio overrides, e.g. 0.9,cifar=0.8,dtd=0.93 (default: ${DEFAULT-VALUE}; conf/spt.conf"
            + " lists the reference's per-task values).")
    String sparsity;

    @Option(names = "--snella-rank", defaultValue = "32", description = "SNELLA's factor width q, over 2 kernel heads (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--snella-init-sparsity", defaultValue = "0.01", description = "Sparsity of every matrix before the first re-allocation (default: ${DEFAULT-VALUE}).")
    double initSparsity;

    @Option(names = "--snella-init-warmup", defaultValue = "0", description = "Epochs at the initial volume (default: ${DEFAULT-VALUE}).")
    int initWarmup;

    @Option(names = "--snella-final-warmup", defaultValue = "0", description = "Epochs at the target volume after the cubic decrease (default: ${DEFAULT-VALUE}).")
    int finalWarmup;

    @Option(names = "--snella-mask-interval", defaultValue = "1", description = "Epochs between re-allocations (default: ${DEFAULT-VALUE}).")
    int maskInterval;

    @Option(names = "--snella-beta1", defaultValue = "0.85", description = "EMA factor of the importance |p grad| (default: ${DEFAULT-VALUE}).")
    double beta1;

    @Option(names = "--snella-beta2", defaultValue = "0.85", description = "EMA factor of the uncertainty (default: ${DEFAULT-VALUE}).")
    double beta2;

    @Option(names = "--snella-batch-size", defaultValue = "", description = "SNELLA's batch size per task, e.g."
            + " cifar=8,dtd=8 (a leading value applies to the others); tasks without one use --batch-size (default:"
            + " '${DEFAULT-VALUE}', empty for none; conf/spt.conf lists the reference scripts' values).")
    String batchSize;

    @Option(names = "--snella-weight-decay", defaultValue = "", description = "SNELLA's weight decay per task, as"
            + " --snella-batch-size; tasks without one use --weight-decay (default: '${DEFAULT-VALUE}', empty for none).")
    String weightDecay;

    SnellaOptions options() {
        return new SnellaOptions(rank, 2, initSparsity, SnellaOptions.parse(sparsity), initWarmup, finalWarmup,
                maskInterval, beta1, beta2, SnellaOptions.parseMap(batchSize), SnellaOptions.parseMap(weightDecay));
    }
}
