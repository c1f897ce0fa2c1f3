package org.sptspark.spark;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.sptspark.model.CheckpointFiles;
import org.sptspark.model.Checkpoints;

/**
 * Which artifact a row's task goes through: one committed artifact per task, all trained on one
 * backbone, checked on the driver (manifests, backbone digest, one architecture). A task is
 * named as in its artifact's manifest ({@code fashion_mnist}) or with its suite
 * ({@code demo/fashion_mnist}).
 */
public final class ArtifactRouter implements Serializable {

    private static final long serialVersionUID = 1L;

    private final String backbone;
    private final String sha256;
    private final Map<String, Prediction.Target> byTask;

    private ArtifactRouter(String backbone, String sha256, Map<String, Prediction.Target> byTask) {
        this.backbone = backbone;
        this.sha256 = sha256;
        this.byTask = byTask;
    }

    /**
     * A router over these artifacts.
     *
     * @throws IllegalArgumentException for a missing, uncommitted or foreign artifact, artifacts of
     *     different architectures, or two artifacts for one task
     */
    public static ArtifactRouter of(Configuration hadoop, String backbone, List<String> artifacts) throws IOException {
        var header = CheckpointFiles.header(hadoop, backbone);
        String sha = CheckpointFiles.sha256(hadoop, backbone);
        List<Prediction.Target> targets = Prediction.targets(hadoop, artifacts, sha);
        header.requireFits(targets.get(0).config(), Checkpoints.HeadPolicy.DROP);
        var byTask = new LinkedHashMap<String, Prediction.Target>();
        for (Prediction.Target t : targets) {
            Prediction.Target before = byTask.putIfAbsent(t.task(), t);
            if (before != null) {
                throw new IllegalArgumentException("two artifacts for task " + t.task() + ": " + before.uri() + " and "
                        + t.uri() + "; give one artifact per task");
            }
        }
        return new ArtifactRouter(backbone, sha, byTask);
    }

    /**
     * A router over a run's artifacts of one method (and budget) in a lake's results table, one per
     * task (the latest recorded where a task was trained twice).
     *
     * @param budget the budget label ({@code 20k}), {@code -} for the method's artifacts without a
     *     budget (plain {@code lora} beside {@code lora@20k}), or {@code null} when the method has one
     *     per task
     * @throws IllegalArgumentException when the run, the method or the budget is not in the table,
     *     or a task has artifacts at several budgets and none is given
     */
    public static ArtifactRouter fromLake(SparkSession spark, String backbone, String lake, String run, String method,
            String budget) throws IOException {
        Path table = new Path(new Path(lake, "tables"), "results");
        Configuration hadoop = spark.sparkContext().hadoopConfiguration();
        if (!table.getFileSystem(hadoop).exists(table)) {
            throw new IllegalArgumentException("no results table at " + table + " (run a sweep first)");
        }
        var all = spark.read().parquet(table.toString());
        List<Row> rows = all.where(functions.col("run").equalTo(run))
                .select("task", "method", "budget", "artifact", "recorded_at").collectAsList();
        if (rows.isEmpty()) {
            var runs = new TreeSet<String>();
            all.select("run").distinct().collectAsList().forEach(r -> runs.add(r.getString(0)));
            throw new IllegalArgumentException("no run '" + run + "' in " + table + "; runs there: " + runs);
        }
        var methods = new TreeSet<String>();
        var chosen = new TreeMap<String, Row>();
        var budgets = new TreeMap<String, TreeSet<String>>();
        for (Row r : rows) {
            String m = r.getString(1);
            String b = r.isNullAt(2) ? null : r.getString(2);
            methods.add(m + (b == null ? "" : "@" + b));
            if (!m.equals(method) || (budget != null && !budget.equals(b == null ? "-" : b))) {
                continue;
            }
            budgets.computeIfAbsent(r.getString(0), k -> new TreeSet<>()).add(b == null ? "-" : b);
            Row before = chosen.get(r.getString(0));
            if (before == null || r.getTimestamp(4).after(before.getTimestamp(4))) {
                chosen.put(r.getString(0), r);
            }
        }
        if (chosen.isEmpty()) {
            throw new IllegalArgumentException("run " + run + " has no " + method + (budget == null ? "" : "@" + budget)
                    + " results; it has " + methods);
        }
        for (var e : budgets.entrySet()) {
            if (e.getValue().size() > 1) {
                throw new IllegalArgumentException("task " + e.getKey() + " has " + method + " artifacts at budgets "
                        + e.getValue() + " in run " + run + ": give the budget (- for none)");
            }
        }
        var artifacts = new ArrayList<String>();
        chosen.values().forEach(r -> artifacts.add(r.getString(3)));
        return of(hadoop, backbone, artifacts);
    }

    /** The artifact for a task, or {@code null} when no artifact is for it. */
    public Prediction.Target route(String task) {
        if (task == null) {
            return null;
        }
        Prediction.Target t = byTask.get(task);
        if (t == null && task.indexOf('/') > 0) {
            t = byTask.get(task.substring(task.indexOf('/') + 1));
            if (t != null && !t.id().startsWith(task + "/")) {
                return null; // the task of another suite
            }
        }
        return t;
    }

    /** The artifacts, one per task, in the order given. */
    public Collection<Prediction.Target> targets() {
        return byTask.values();
    }

    /** The tasks routed, for messages. */
    public List<String> tasks() {
        return List.copyOf(byTask.keySet());
    }

    public String backbone() {
        return backbone;
    }

    public String sha256() {
        return sha256;
    }
}
