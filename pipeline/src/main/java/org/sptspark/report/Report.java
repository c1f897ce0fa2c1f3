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

    /**
     * One training's result.
     *
     * @param budgetSelection the split the budget was chosen on per task ({@code val200}), else {@code null}
     * @param maxTop1 the largest test top-1 over the training's evaluations, where it was recorded
     */
    public record Result(String task, String group, String method, String budget, long achieved,
            long trainableWithHead, double top1, long testImages, String artifact, long artifactBytes,
            String budgetSelection, Double maxTop1) {

        /** A result at a given budget, without the max over evaluations. */
        public Result(String task, String group, String method, String budget, long achieved, long trainableWithHead,
                double top1, long testImages, String artifact, long artifactBytes) {
            this(task, group, method, budget, achieved, trainableWithHead, top1, testImages, artifact, artifactBytes, null,
                    null);
        }

        /** {@code spt-lora@20k}, {@code linear}; {@code spt-lora@val200} for a budget chosen per task on val200. */
        public String column() {
            if (budgetSelection != null) {
                return method + "@" + budgetSelection;
            }
            return budget == null ? method : method + "@" + budget;
        }
    }

    /**
     * A budget selection's training (the lake's selection table): trained on {@code train800}, its
     * top-1 on {@code val200}.
     *
     * @param column the column its choice went to ({@code spt-lora@val200})
     * @param chosen whether its budget was the one chosen
     */
    public record Candidate(String task, String column, String method, String budget, long achieved, double top1,
            boolean chosen, String artifact) {}

    /** How the max over evaluations is labelled wherever it is shown. */
    public static final String MAX_LABEL = "max over evaluations, as the reference reports (optimistic: chosen on the"
            + " test split)";

    /**
     * One tensor's allocation in a plan (SPT) or a final SNELLA competition.
     *
     * @param stage and {@code block}: as in {@link org.sptspark.model.TensorSpec} (a ViT's blocks are
     *     all in stage 0; -1 outside the stages and blocks)
     */
    public record Allocation(String task, String method, String budget, String tensor, int stage, int block, String operation,
            String role, String decision, long trainable) {

        public String column() {
            return budget == null ? method : method + "@" + budget;
        }

        /**
         * The SPT paper's operation categories: q, k, v, proj, fc1, fc2 (matrices), norms, biases; the
         * rest (Swin's patch-merging reduction, ConvNeXt's kernels and layer scales) is "other".
         */
        public String category() {
            if (tensor.contains("norm") || operation.contains("norm")) {
                return "norms";
            }
            if (tensor.endsWith(".bias")) {
                return "biases";
            }
            return "matrix".equals(role) && CATEGORIES.contains(operation) ? operation : "other";
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
    private final Map<String, Map<String, Double>> maxTable = new LinkedHashMap<>();
    private final Map<String, Map<String, String>> chosenBudgets = new LinkedHashMap<>();
    private List<Candidate> candidates = List.of();
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
            if (r.maxTop1() != null) {
                maxTable.computeIfAbsent(r.task(), k -> new LinkedHashMap<>()).put(r.column(), r.maxTop1());
            }
            if (r.budgetSelection() != null) {
                chosenBudgets.computeIfAbsent(r.task(), k -> new LinkedHashMap<>()).put(r.column(), r.budget());
            }
        }
        columns.addAll(cols);
    }

    /** Adds a budget selection's trainings (markdown's selection section, JSON {@code selection}). */
    public Report withCandidates(List<Candidate> selection) {
        candidates = List.copyOf(selection);
        return this;
    }

    /** Whether any result recorded the max over evaluations. */
    public boolean hasMaxOverEvaluations() {
        return !maxTable.isEmpty();
    }

    /** The max over evaluations of a task in a column, or NaN where it was not recorded. */
    public double maxTop1(String task, String column) {
        Double v = maxTable.getOrDefault(task, Map.of()).get(column);
        return v == null ? Double.NaN : v;
    }

    /** The budget chosen for a task in a column whose budget was selected per task, else {@code null}. */
    public String chosenBudget(String task, String column) {
        return chosenBudgets.getOrDefault(task, Map.of()).get(column);
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
        return groupMean(table, group, column);
    }

    private double groupMean(Map<String, Map<String, Double>> values, String group, String column) {
        return mean(values, groups.entrySet().stream().filter(e -> e.getValue().equals(group)).map(Map.Entry::getKey)
                .toList(), column);
    }

    /** VTAB's headline: the mean of the group means (NaN when a group has no value in the column). */
    public double meanOfGroupMeans(String column) {
        return meanOfGroupMeans(table, column);
    }

    private double meanOfGroupMeans(Map<String, Map<String, Double>> values, String column) {
        double sum = 0;
        for (String g : groups()) {
            double m = groupMean(values, g, column);
            if (Double.isNaN(m)) {
                return Double.NaN;
            }
            sum += m;
        }
        return sum / groups().size();
    }

    /** The plain mean over the column's tasks. */
    public double mean(String column) {
        return mean(table, new ArrayList<>(table.keySet()), column);
    }

    private static double mean(Map<String, Map<String, Double>> values, List<String> tasks, String column) {
        double sum = 0;
        int n = 0;
        for (String t : tasks) {
            Double boxed = values.getOrDefault(t, Map.of()).get(column);
            double v = boxed == null ? Double.NaN : boxed;
            if (!Double.isNaN(v)) {
                sum += v;
                n++;
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    /**
     * Where a (task, column)'s budget went: trainable parameters per operation category, per
     * stage and per block (-1: outside them), and the matrices that got a LoRA/Adapter module.
     */
    public record Spread(String task, String column, long total, Map<String, Long> byCategory, Map<Integer, Long> byStage,
            Map<Integer, Long> byBlock, List<String> modules) {}

    /** Whether the allocations are of a backbone with several stages (Swin, ConvNeXt). */
    public boolean hierarchical() {
        return allocation.stream().anyMatch(a -> a.stage() > 0);
    }

    public List<Spread> spreads() {
        var keys = new LinkedHashMap<String, List<Allocation>>();
        for (Allocation a : allocation) {
            keys.computeIfAbsent(a.task() + "\u0000" + a.column(), k -> new ArrayList<>()).add(a);
        }
        var out = new ArrayList<Spread>();
        for (List<Allocation> rows : keys.values()) {
            var byCategory = new LinkedHashMap<String, Long>();
            CATEGORIES.forEach(c -> byCategory.put(c, 0L));
            var byStage = new TreeMap<Integer, Long>();
            var byBlock = new TreeMap<Integer, Long>();
            var modules = new ArrayList<String>();
            long total = 0;
            for (Allocation a : rows) {
                byCategory.merge(a.category(), a.trainable(), Long::sum);
                byStage.merge(a.stage(), a.trainable(), Long::sum);
                byBlock.merge(a.block(), a.trainable(), Long::sum);
                total += a.trainable();
                if (a.decision().equals("lora") || a.decision().equals("adapter")) {
                    modules.add(a.tensor());
                }
            }
            out.add(new Spread(rows.get(0).task(), rows.get(0).column(), total, byCategory, byStage, byBlock,
                    modules));
        }
        return out;
    }

    /** The comparison and the allocation summaries as Markdown tables. */
    public String markdown() {
        var sb = new StringBuilder();
        sb.append("## Run ").append(run).append(": top-1 (%) on test\n\n");
        markdownTable(sb, table, true);
        if (!chosenBudgets.isEmpty()) {
            sb.append("\nA column `@val200` chose each task's budget on val200 (trained on train800 at each budget, the"
                    + " best retrained on train800val200); the budget chosen is in brackets.\n");
        }
        if (hasMaxOverEvaluations()) {
            sb.append("\n## Run ").append(run).append(": test top-1 (%), ").append(MAX_LABEL).append("\n\n");
            sb.append("The largest test top-1 over the evaluations every `--eval-every` epochs and after the last, where the"
                    + " trainings recorded it (`spt sweep --report-max-over-evals`); the table above is the final one.\n\n");
            markdownTable(sb, maxTable, false);
        }
        if (!candidates.isEmpty()) {
            sb.append("\n## Budget selection: top-1 (%) on val200 of the trainings on train800\n\n");
            sb.append("| task | column | budget | trainable | val200 top-1 | chosen |\n| --- | --- | --- | ---: | ---: | --- |\n");
            for (Candidate k : candidates) {
                sb.append("| ").append(k.task()).append(" | ").append(k.column()).append(" | ").append(k.budget())
                        .append(" | ").append(String.format(Locale.ROOT, "%,d", k.achieved())).append(" | ")
                        .append(percent(k.top1())).append(" | ").append(k.chosen() ? "yes" : "").append(" |\n");
            }
        }
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
            if (hierarchical()) {
                List<Integer> stages = spreads.stream().flatMap(s -> s.byStage().keySet().stream()).distinct().sorted()
                        .toList();
                sb.append("\n## Where the budget went: share of trainable parameters per stage (%)\n\n");
                sb.append("Stage -1 is outside the stages: the final norm (and the head, which every method trains, is"
                        + " not counted).\n\n| task | method |");
                stages.forEach(st -> sb.append(" stage ").append(st).append(" |"));
                sb.append("\n| --- | --- |");
                stages.forEach(st -> sb.append(" ---: |"));
                sb.append('\n');
                for (Spread s : spreads) {
                    sb.append("| ").append(s.task()).append(" | ").append(s.column()).append(" |");
                    stages.forEach(st -> sb.append(' ').append(percent(s.total() == 0 ? Double.NaN
                            : (double) s.byStage().getOrDefault(st, 0L) / s.total())).append(" |"));
                    sb.append('\n');
                }
            }
        }
        return sb.toString();
    }

    /**
     * The comparison table as CSV: one row per task, then the group means and the means; top-1 in %.
     * Where the run recorded the max over evaluations, a column {@code <column> (max over evaluations)}
     * follows each column that has it.
     */
    public String csv() {
        List<String> withMax = columns.stream().filter(c -> maxTable.values().stream().anyMatch(m -> m.containsKey(c)))
                .toList();
        var sb = new StringBuilder("task,group");
        for (String c : columns) {
            sb.append(',').append(csvCell(c));
            if (withMax.contains(c)) {
                sb.append(',').append(csvCell(c + " (max over evaluations)"));
            }
        }
        sb.append('\n');
        var labels = new ArrayList<String>();
        var rows = new ArrayList<java.util.function.BiFunction<Map<String, Map<String, Double>>, String, Double>>();
        for (String task : table.keySet()) {
            labels.add(csvCell(task) + ',' + csvCell(groups.get(task)));
            rows.add((values, c) -> {
                Double v = values.getOrDefault(task, Map.of()).get(c);
                return v == null ? Double.NaN : v;
            });
        }
        for (String g : groups()) {
            labels.add(csvCell("mean " + g) + ',');
            rows.add((values, c) -> groupMean(values, g, c));
        }
        labels.add("mean of group means,");
        rows.add(this::meanOfGroupMeans);
        labels.add("mean,");
        rows.add((values, c) -> mean(values, new ArrayList<>(table.keySet()), c));
        for (int i = 0; i < labels.size(); i++) {
            sb.append(labels.get(i));
            for (String c : columns) {
                sb.append(',').append(csvNumber(rows.get(i).apply(table, c)));
                if (withMax.contains(c)) {
                    sb.append(',').append(csvNumber(rows.get(i).apply(maxTable, c)));
                }
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /** A comparison table in Markdown: tasks, group means, the mean of group means, the mean. */
    private void markdownTable(StringBuilder sb, Map<String, Map<String, Double>> values, boolean showChosen) {
        sb.append("| task | group |");
        columns.forEach(c -> sb.append(' ').append(c).append(" |"));
        sb.append("\n| --- | --- |");
        columns.forEach(c -> sb.append(" ---: |"));
        sb.append('\n');
        for (String task : table.keySet()) {
            sb.append("| ").append(task).append(" | ").append(groups.get(task)).append(" |");
            for (String c : columns) {
                Double v = values.getOrDefault(task, Map.of()).get(c);
                String budget = showChosen ? chosenBudget(task, c) : null;
                sb.append(' ').append(percent(v == null ? Double.NaN : v)).append(budget == null || v == null ? ""
                        : " (" + budget + ")").append(" |");
            }
            sb.append('\n');
        }
        for (String g : groups()) {
            sb.append("| mean ").append(g).append(" | |");
            columns.forEach(c -> sb.append(' ').append(percent(groupMean(values, g, c))).append(" |"));
            sb.append('\n');
        }
        sb.append("| mean of group means | |");
        columns.forEach(c -> sb.append(' ').append(percent(meanOfGroupMeans(values, c))).append(" |"));
        sb.append("\n| mean | |");
        columns.forEach(c -> sb.append(' ').append(percent(mean(values, new ArrayList<>(table.keySet()), c))).append(" |"));
        sb.append('\n');
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
        if (hasMaxOverEvaluations()) {
            // the same shape as the comparison, of the max over evaluations where recorded
            var max = new JsonObject();
            max.addProperty("label", MAX_LABEL);
            var maxRows = new JsonArray();
            for (String task : table.keySet()) {
                var r = new JsonObject();
                r.addProperty("task", task);
                r.addProperty("group", groups.get(task));
                var values = new JsonObject();
                columns.forEach(c -> addNumber(values, c, maxTop1(task, c)));
                r.add("top1", values);
                maxRows.add(r);
            }
            max.add("rows", maxRows);
            var maxGroups = new JsonObject();
            for (String g : groups()) {
                var values = new JsonObject();
                columns.forEach(c -> addNumber(values, c, groupMean(maxTable, g, c)));
                maxGroups.add(g, values);
            }
            max.add("groupMeans", maxGroups);
            var maxMgm = new JsonObject();
            columns.forEach(c -> addNumber(maxMgm, c, meanOfGroupMeans(maxTable, c)));
            max.add("meanOfGroupMeans", maxMgm);
            var maxMean = new JsonObject();
            columns.forEach(c -> addNumber(maxMean, c, mean(maxTable, new ArrayList<>(table.keySet()), c)));
            max.add("mean", maxMean);
            o.add("maxOverEvaluations", max);
        }
        if (!chosenBudgets.isEmpty()) {
            o.add("chosenBudgets", gson.toJsonTree(chosenBudgets));
        }
        o.add("selection", gson.toJsonTree(candidates));
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
