package org.sptspark.report;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * A run's comparison, as VTAB reports it: top-1 per task and method (a method at a budget is its
 * own column), the mean of each group, the mean of the group means, and the plain mean; and where
 * each method's budget went, per operation and per block. Built from the lake's results and
 * allocation tables; printed as Markdown, CSV or JSON.
 */
public final class Report {

    /** One training's result. */
    public record Result(String task, String group, String method, String budget, long achieved,
            long trainableWithHead, double top1, long testImages, String artifact, long artifactBytes) {

        public String column() {
            return budget == null ? method : method + "@" + budget;
        }
    }

    /** One tensor's allocation in a plan (SPT) or a final SNELLA competition. */
    public record Allocation(String task, String method, String budget, String tensor, int block, String operation,
            String role, String decision, long trainable) {

        public String column() {
            return budget == null ? method : method + "@" + budget;
        }

        /** The SPT paper's operation categories: q, k, v, proj, fc1, fc2 (matrices), norms, biases. */
        public String category() {
            if (tensor.contains("norm")) {
                return "norms";
            }
            if (tensor.endsWith(".bias")) {
                return "biases";
            }
            return "matrix".equals(role) ? operation : "other";
        }
    }

    /** The operation categories, in the SPT paper's order. */
    public static final List<String> CATEGORIES = List.of("q", "k", "v", "proj", "fc1", "fc2", "norms", "biases", "other");

    private final String run;
    private final List<Result> results;
    private final List<Allocation> allocation;
    private final List<String> columns = new ArrayList<>();
    private final Map<String, String> groups = new LinkedHashMap<>();
    private final Map<String, Map<String, Double>> table = new LinkedHashMap<>();
    private long checkpointBytes = -1;
    private String suite;

    public Report(String run, List<Result> results, List<Allocation> allocation) {
        if (results.isEmpty()) {
            throw new IllegalArgumentException("run " + run + " has no results");
        }
        this.run = run;
        this.results = List.copyOf(results);
        this.allocation = List.copyOf(allocation);
        var cols = new LinkedHashSet<String>();
        for (Result r : results) {
            cols.add(r.column());
            groups.putIfAbsent(r.task(), r.group() == null ? "" : r.group());
            table.computeIfAbsent(r.task(), k -> new LinkedHashMap<>()).put(r.column(), r.top1());
        }
        columns.addAll(cols);
    }

    /** Records the size of the backbone checkpoint the artifacts compare with (JSON {@code checkpointBytes}). */
    public Report withCheckpointBytes(long bytes) {
        checkpointBytes = bytes;
        return this;
    }

    /** Names the run's suite, so that the papers' published numbers for it (VTAB-1k, FGVC) are shown beside ours. */
    public Report withSuite(String name) {
        suite = name;
        return this;
    }

    /**
     * The published numbers for the run's suite, from the papers (see the {@code source}), or
     * {@code null} when the suite has none: {@code source}, {@code columns} (group names and the mean
     * of group means for VTAB-1k, tasks and the mean for FGVC) and {@code rows} (method to values in %).
     */
    public JsonObject published() {
        if (suite == null) {
            return null;
        }
        try (var in = Report.class.getResourceAsStream("/org/sptspark/report/published.json")) {
            JsonObject all = com.google.gson.JsonParser.parseReader(
                    new java.io.InputStreamReader(in, java.nio.charset.StandardCharsets.UTF_8)).getAsJsonObject();
            if (!all.has(suite)) {
                return null;
            }
            JsonObject out = all.getAsJsonObject(suite).deepCopy();
            out.addProperty("source", all.get("source").getAsString());
            return out;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read the published numbers", e);
        }
    }

    /** Our value of a column of the published table: a group's mean, a task's top-1, or a mean. */
    public double ours(String publishedColumn, String column) {
        if (publishedColumn.equals("mean of group means")) {
            return meanOfGroupMeans(column);
        }
        if (publishedColumn.equals("mean")) {
            return mean(column);
        }
        if (groups().contains(publishedColumn)) {
            return groupMean(publishedColumn, column);
        }
        return top1(publishedColumn, column);
    }

    public List<String> columns() {
        return List.copyOf(columns);
    }

    /** Top-1 of a task in a column, or NaN where the run has none. */
    public double top1(String task, String column) {
        Double v = table.getOrDefault(task, Map.of()).get(column);
        return v == null ? Double.NaN : v;
    }

    /** The groups in order of first appearance. */
    public List<String> groups() {
        return List.copyOf(new LinkedHashSet<>(groups.values()));
    }

    /** The mean top-1 of a group's tasks in a column (those the column has), NaN if none. */
    public double groupMean(String group, String column) {
        return mean(groups.entrySet().stream().filter(e -> e.getValue().equals(group)).map(Map.Entry::getKey).toList(), column);
    }

    /** VTAB's headline: the mean of the group means (NaN when a group has no value in the column). */
    public double meanOfGroupMeans(String column) {
        double sum = 0;
        for (String g : groups()) {
            double m = groupMean(g, column);
            if (Double.isNaN(m)) {
                return Double.NaN;
            }
            sum += m;
        }
        return sum / groups().size();
    }

    /** The plain mean over the column's tasks. */
    public double mean(String column) {
        return mean(new ArrayList<>(table.keySet()), column);
    }

    private double mean(List<String> tasks, String column) {
        double sum = 0;
        int n = 0;
        for (String t : tasks) {
            double v = top1(t, column);
            if (!Double.isNaN(v)) {
                sum += v;
                n++;
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    /**
     * Where a (task, column)'s budget went: trainable parameters per operation category, per
     * block, and the matrices that got a LoRA/Adapter module.
     */
    public record Spread(String task, String column, long total, Map<String, Long> byCategory, Map<Integer, Long> byBlock,
            List<String> modules) {}

    public List<Spread> spreads() {
        var keys = new LinkedHashMap<String, List<Allocation>>();
        for (Allocation a : allocation) {
            keys.computeIfAbsent(a.task() + "\u0000" + a.column(), k -> new ArrayList<>()).add(a);
        }
        var out = new ArrayList<Spread>();
        for (List<Allocation> rows : keys.values()) {
            var byCategory = new LinkedHashMap<String, Long>();
            CATEGORIES.forEach(c -> byCategory.put(c, 0L));
            var byBlock = new TreeMap<Integer, Long>();
            var modules = new ArrayList<String>();
            long total = 0;
            for (Allocation a : rows) {
                byCategory.merge(a.category(), a.trainable(), Long::sum);
                byBlock.merge(a.block(), a.trainable(), Long::sum);
                total += a.trainable();
                if (a.decision().equals("lora") || a.decision().equals("adapter")) {
                    modules.add(a.tensor());
                }
            }
            out.add(new Spread(rows.get(0).task(), rows.get(0).column(), total, byCategory, byBlock, modules));
        }
        return out;
    }

    /** The comparison and the allocation summaries as Markdown tables. */
    public String markdown() {
        var sb = new StringBuilder();
        sb.append("## Run ").append(run).append(": top-1 (%) on test\n\n");
        sb.append("| task | group |");
        columns.forEach(c -> sb.append(' ').append(c).append(" |"));
        sb.append("\n| --- | --- |");
        columns.forEach(c -> sb.append(" ---: |"));
        sb.append('\n');
        for (String task : table.keySet()) {
            sb.append("| ").append(task).append(" | ").append(groups.get(task)).append(" |");
            columns.forEach(c -> sb.append(' ').append(percent(top1(task, c))).append(" |"));
            sb.append('\n');
        }
        for (String g : groups()) {
            sb.append("| mean ").append(g).append(" | |");
            columns.forEach(c -> sb.append(' ').append(percent(groupMean(g, c))).append(" |"));
            sb.append('\n');
        }
        sb.append("| mean of group means | |");
        columns.forEach(c -> sb.append(' ').append(percent(meanOfGroupMeans(c))).append(" |"));
        sb.append("\n| mean | |");
        columns.forEach(c -> sb.append(' ').append(percent(mean(c))).append(" |"));
        sb.append('\n');
        JsonObject published = published();
        if (published != null) {
            List<String> pc = new ArrayList<>();
            published.getAsJsonArray("columns").forEach(e -> pc.add(e.getAsString()));
            sb.append("\n## Beside the published numbers: top-1 (%)\n\n").append(published.get("source").getAsString())
                    .append("\n\n| method | source |");
            pc.forEach(c -> sb.append(' ').append(c).append(" |"));
            sb.append("\n| --- | --- |");
            pc.forEach(c -> sb.append(" ---: |"));
            sb.append('\n');
            for (String column : columns) {
                sb.append("| ").append(column).append(" | ours, run ").append(run).append(" |");
                pc.forEach(c -> sb.append(' ').append(percent(ours(c, column))).append(" |"));
                sb.append('\n');
            }
            for (var e : published.getAsJsonObject("rows").entrySet()) {
                sb.append("| ").append(e.getKey()).append(" | published |");
                e.getValue().getAsJsonArray().forEach(v -> sb.append(' ')
                        .append(String.format(Locale.ROOT, "%.1f", v.getAsDouble())).append(" |"));
                sb.append('\n');
            }
        }
        List<Spread> spreads = spreads();
        if (!spreads.isEmpty()) {
            sb.append("\n## Where the budget went: share of trainable parameters per operation (%)\n\n");
            sb.append("| task | method | trainable |");
            CATEGORIES.forEach(c -> sb.append(' ').append(c).append(" |"));
            sb.append(" modules |\n| --- | --- | ---: |");
            CATEGORIES.forEach(c -> sb.append(" ---: |"));
            sb.append(" ---: |\n");
            for (Spread s : spreads) {
                sb.append("| ").append(s.task()).append(" | ").append(s.column()).append(" | ")
                        .append(String.format(Locale.ROOT, "%,d", s.total())).append(" |");
                CATEGORIES.forEach(c -> sb.append(' ')
                        .append(percent(s.total() == 0 ? Double.NaN : (double) s.byCategory().get(c) / s.total())).append(" |"));
                sb.append(' ').append(s.modules().size()).append(" |\n");
            }
        }
        return sb.toString();
    }

    /** The comparison table as CSV: one row per task, then the group means and the means; top-1 in %. */
    public String csv() {
        var sb = new StringBuilder("task,group");
        columns.forEach(c -> sb.append(',').append(csvCell(c)));
        sb.append('\n');
        for (String task : table.keySet()) {
            sb.append(csvCell(task)).append(',').append(csvCell(groups.get(task)));
            columns.forEach(c -> sb.append(',').append(csvNumber(top1(task, c))));
            sb.append('\n');
        }
        for (String g : groups()) {
            sb.append(csvCell("mean " + g)).append(',');
            columns.forEach(c -> sb.append(',').append(csvNumber(groupMean(g, c))));
            sb.append('\n');
        }
        sb.append("mean of group means,");
        columns.forEach(c -> sb.append(',').append(csvNumber(meanOfGroupMeans(c))));
        sb.append("\nmean,");
        columns.forEach(c -> sb.append(',').append(csvNumber(mean(c))));
        sb.append('\n');
        return sb.toString();
    }

    /**
     * Everything as one JSON object, for notebooks: the comparison ({@code columns}, {@code rows},
     * {@code groupMeans}, {@code meanOfGroupMeans}, {@code mean}; top-1 as fractions), the raw
     * {@code results} and {@code allocation} rows, and the {@code spreads}.
     */
    public String json() {
        Gson gson = new GsonBuilder().serializeSpecialFloatingPointValues().serializeNulls().setPrettyPrinting().create();
        var o = new JsonObject();
        o.addProperty("run", run);
        var cols = new JsonArray();
        columns.forEach(cols::add);
        o.add("columns", cols);
        var rows = new JsonArray();
        for (String task : table.keySet()) {
            var r = new JsonObject();
            r.addProperty("task", task);
            r.addProperty("group", groups.get(task));
            var values = new JsonObject();
            columns.forEach(c -> addNumber(values, c, top1(task, c)));
            r.add("top1", values);
            rows.add(r);
        }
        o.add("rows", rows);
        var gm = new JsonObject();
        for (String g : groups()) {
            var values = new JsonObject();
            columns.forEach(c -> addNumber(values, c, groupMean(g, c)));
            gm.add(g, values);
        }
        o.add("groupMeans", gm);
        var mgm = new JsonObject();
        columns.forEach(c -> addNumber(mgm, c, meanOfGroupMeans(c)));
        o.add("meanOfGroupMeans", mgm);
        var mean = new JsonObject();
        columns.forEach(c -> addNumber(mean, c, mean(c)));
        o.add("mean", mean);
        if (checkpointBytes >= 0) {
            o.addProperty("checkpointBytes", checkpointBytes);
        }
        JsonObject published = published();
        if (published != null) {
            var ours = new JsonObject();
            for (String column : columns) {
                var values = new JsonArray();
                published.getAsJsonArray("columns").forEach(c -> {
                    double v = ours(c.getAsString(), column);
                    values.add(Double.isNaN(v) ? null : 100 * v);
                });
                ours.add(column, values);
            }
            published.add("ours", ours);
            o.add("published", published);
        }
        o.add("results", gson.toJsonTree(results));
        o.add("allocation", gson.toJsonTree(allocation));
        o.add("spreads", gson.toJsonTree(spreads()));
        return gson.toJson(o);
    }

    private static void addNumber(JsonObject o, String key, double v) {
        if (Double.isNaN(v)) {
            o.add(key, com.google.gson.JsonNull.INSTANCE);
        } else {
            o.addProperty(key, v);
        }
    }

    private static String percent(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1f", 100 * v);
    }

    private static String csvNumber(double v) {
        return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.2f", 100 * v);
    }

    private static String csvCell(String s) {
        if (s.contains(",") || s.contains("\"") || s.contains("\n")) {
            return '"' + s.replace("\"", "\"\"") + '"';
        }
        return s;
    }
}
