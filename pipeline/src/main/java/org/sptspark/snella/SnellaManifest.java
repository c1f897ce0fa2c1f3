package org.sptspark.snella;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.sptspark.allocation.AllocationTable;
import org.sptspark.allocation.Budget;
import org.sptspark.model.ParameterSpace;

/**
 * SNELLA's settings and final allocation, as a SNELLA artifact's manifest records them under
 * {@code snella}, and the allocation table's rows they give.
 *
 * @param entries matrix entries that competed
 * @param nonZero the delta's non-zero entries at the end
 */
public record SnellaManifest(int rank, int heads, double initSparsity, double targetSparsity, int initWarmup, int finalWarmup,
        int maskInterval, double beta1, double beta2, long entries, long nonZero, List<Matrix> matrices) {

    /**
     * One competing matrix.
     *
     * @param kept its non-zero entries at the end
     * @param score its last competition score, absent when it never competed
     */
    public record Matrix(String tensor, long entries, long kept, Double score) {}

    /** The record of a finished competition under these options, for a task of this target sparsity. */
    public static SnellaManifest of(SnellaOptions options, double targetSparsity, Competition competition) {
        var matrices = new ArrayList<Matrix>();
        for (Competition.MatrixState k : competition.states()) {
            matrices.add(new Matrix(k.tensor(), k.entries(), k.kept(), Double.isNaN(k.score()) ? null : k.score()));
        }
        return new SnellaManifest(options.rank(), options.heads(), options.initSparsity(), targetSparsity,
                options.initWarmup(), options.finalWarmup(), options.maskInterval(), options.beta1(), options.beta2(),
                competition.allocator().totalEntries(), competition.nonZeros(), matrices);
    }

    /** Each competing matrix's kept entries, in the manifest's order. */
    public Map<String, Long> keptByTensor() {
        var out = new LinkedHashMap<String, Long>();
        matrices.forEach(m -> out.put(m.tensor(), m.kept()));
        return out;
    }

    /**
     * The allocation table's rows: one per competing matrix, with the entries it kept as both
     * {@code count_in_top_k} and {@code trainable}; {@code plan_id} is the artifact's folder.
     *
     * @param budget the target sparsity's label and non-zero count
     * @param achieved the delta's non-zero entries
     */
    public List<Row> allocationRows(String run, String suite, String task, String artifact, Budget budget, long achieved,
            ParameterSpace space) {
        var rows = new ArrayList<Row>();
        for (var e : keptByTensor().entrySet()) {
            rows.add(AllocationTable.row(run, suite, task, "snella", budget, achieved, artifact, space.get(e.getKey()),
                    e.getValue(), "snella", e.getValue()));
        }
        return rows;
    }
}
