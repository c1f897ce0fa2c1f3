package org.sptspark.snella;

import java.io.Serializable;
import java.math.BigDecimal;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * SNELLA's settings. The defaults are the reference's VTAB-1k scripts ({@code scripts/vtab/snella32}):
 * rank 32 over 2 kernel heads, initial sparsity 0.01, no warm-ups, re-allocation every epoch,
 * EMA factors 0.85 and 0.85; the target sparsity is per task there (see {@link #parse}).
 *
 * @param rank {@code q}, the factors' total width ({@code q/2} per head)
 * @param heads kernel heads {@code h}, with alternating signs
 * @param initSparsity the fraction of each matrix zeroed before the first re-allocation
 * @param targetSparsity the fraction of all entries zeroed at the end, per task name; key
 *     {@code "*"} for the others
 * @param initWarmup epochs at the initial volume
 * @param finalWarmup epochs at the target volume after the decrease
 * @param maskInterval epochs between re-allocations while the volume decreases
 * @param beta1 EMA factor of the importance {@code |p grad|}
 * @param beta2 EMA factor of the uncertainty {@code |I - I_bar|}
 * @param batchSize per task name (key {@code "*"} for the others); tasks without one train at the
 *     recipe's batch size
 * @param weightDecay per task name, as {@code batchSize}
 */
public record SnellaOptions(int rank, int heads, double initSparsity, Map<String, Double> targetSparsity, int initWarmup,
        int finalWarmup, int maskInterval, double beta1, double beta2, Map<String, Double> batchSize,
        Map<String, Double> weightDecay) implements Serializable {

    /** The reference's default target sparsity ({@code --target_ratio}). */
    public static final double DEFAULT_TARGET = 0.9;

    public SnellaOptions {
        if (rank < heads || heads < 1 || rank % heads != 0) {
            throw new IllegalArgumentException("SNELLA's rank must be a positive multiple of its " + heads + " heads, not " + rank);
        }
        if (!(beta1 > 0 && beta1 < 1 && beta2 > 0 && beta2 < 1)) {
            throw new IllegalArgumentException("SNELLA's EMA factors must be in (0, 1), not " + beta1 + " and " + beta2);
        }
        if (!targetSparsity.containsKey("*")) {
            throw new IllegalArgumentException("SNELLA's target sparsity needs a default for other tasks");
        }
        for (var e : targetSparsity.entrySet()) {
            if (!(e.getValue() >= 0 && e.getValue() < 1)) {
                throw new IllegalArgumentException("target sparsity for " + e.getKey() + " must be in [0, 1), not " + e.getValue());
            }
        }
        if (!(initSparsity >= 0 && initSparsity < 1)) {
            throw new IllegalArgumentException("initial sparsity must be in [0, 1), not " + initSparsity);
        }
        for (var e : batchSize.entrySet()) {
            if (!(e.getValue() >= 1) || e.getValue() != Math.rint(e.getValue())) {
                throw new IllegalArgumentException("SNELLA's batch size for " + e.getKey() + " must be a positive integer, not "
                        + e.getValue());
            }
        }
        for (var e : weightDecay.entrySet()) {
            if (!(e.getValue() >= 0)) {
                throw new IllegalArgumentException("SNELLA's weight decay for " + e.getKey() + " must be non-negative, not "
                        + e.getValue());
            }
        }
        targetSparsity = Collections.unmodifiableMap(new LinkedHashMap<>(targetSparsity));
        batchSize = Collections.unmodifiableMap(new LinkedHashMap<>(batchSize));
        weightDecay = Collections.unmodifiableMap(new LinkedHashMap<>(weightDecay));
    }

    /** The reference's settings with one target for every task. */
    public static SnellaOptions defaults() {
        return new SnellaOptions(32, 2, 0.01, Map.of("*", DEFAULT_TARGET), 0, 0, 1, 0.85, 0.85, Map.of(), Map.of());
    }

    /**
     * Target sparsities as written on command lines and in {@code conf/}: a default, then
     * {@code task=ratio} overrides, comma-separated: {@code "0.9,cifar=0.8,dtd=0.93"}.
     */
    public static Map<String, Double> parse(String text) {
        var map = parseMap(text);
        map.putIfAbsent("*", DEFAULT_TARGET);
        return map;
    }

    /**
     * Per-task values as {@link #parse} reads them, without a default: {@code "cifar=8,dtd=8"} or
     * {@code "16,cifar=8"} ({@code "*"} for the others); empty text gives an empty map.
     */
    public static Map<String, Double> parseMap(String text) {
        var map = new LinkedHashMap<String, Double>();
        for (String part : text.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            int eq = p.indexOf('=');
            String key = eq < 0 ? "*" : p.substring(0, eq).trim();
            String value = eq < 0 ? p : p.substring(eq + 1).trim();
            try {
                map.put(key, Double.parseDouble(value));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad SNELLA setting '" + p + "' in '" + text
                        + "': write a default value then task=value pairs, e.g. 0.9,cifar=0.8", e);
            }
        }
        return map;
    }

    /**
     * A task's batch size, where these options set one (the reference scripts set it per task);
     * empty where the sweep's recipe applies.
     */
    public java.util.OptionalInt batchSize(String task) {
        Double batch = batchSize.getOrDefault(task, batchSize.get("*"));
        return batch == null ? java.util.OptionalInt.empty() : java.util.OptionalInt.of(batch.intValue());
    }

    /** A task's weight decay, as {@link #batchSize(String)}. */
    public java.util.OptionalDouble weightDecay(String task) {
        Double decay = weightDecay.getOrDefault(task, weightDecay.get("*"));
        return decay == null ? java.util.OptionalDouble.empty() : java.util.OptionalDouble.of(decay);
    }

    public SnellaOptions withTargets(Map<String, Double> targets) {
        return new SnellaOptions(rank, heads, initSparsity, targets, initWarmup, finalWarmup, maskInterval, beta1, beta2,
                batchSize, weightDecay);
    }

    public SnellaOptions withRank(int r) {
        return new SnellaOptions(r, heads, initSparsity, targetSparsity, initWarmup, finalWarmup, maskInterval, beta1, beta2,
                batchSize, weightDecay);
    }

    /** Refuses a training too short for the schedule, before any work starts. */
    public void checkEpochs(int epochs) {
        if (epochs - 1 - finalWarmup <= initWarmup) {
            throw new IllegalArgumentException("SNELLA's schedule needs more than initial warm-up + final warm-up + 1 = "
                    + (initWarmup + finalWarmup + 1) + " epochs, not " + epochs + " (raise --epochs or lower the warm-ups)");
        }
    }

    /** The target sparsity of a task. */
    public double target(String task) {
        return targetSparsity.getOrDefault(task, targetSparsity.get("*"));
    }

    /** The budget label of a task's runs, e.g. {@code sparsity0.8}: names artifact folders and table rows. */
    public String label(String task) {
        return "sparsity" + BigDecimal.valueOf(target(task)).stripTrailingZeros().toPlainString().toLowerCase(Locale.ROOT);
    }
}
