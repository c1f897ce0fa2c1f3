package org.sptspark.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The comparison's means and the budget spreads against values worked by hand. */
class ReportTest {

    static Report.Result r(String task, String group, String method, String budget, double top1) {
        return new Report.Result(task, group, method, budget, 100, 200, top1, 50, "a/" + task + "/" + method, 1000);
    }

    static Report.Allocation a(String tensor, int block, String op, String role, String decision, long trainable) {
        return new Report.Allocation("t1", "spt-lora", "20k", tensor, block >= 0 ? 0 : -1, block, op, role, decision,
                trainable);
    }

    final Report report = new Report("run-1", List.of(
            r("t1", "natural", "spt-lora", "20k", 0.50), r("t2", "natural", "spt-lora", "20k", 0.70),
            r("t3", "structured", "spt-lora", "20k", 0.20), r("t1", "natural", "linear", null, 0.40),
            r("t3", "structured", "linear", null, 0.10)),
            List.of(a("blocks.0.attn.q.weight", 0, "q", "matrix", "unstructured", 30),
                    a("blocks.0.mlp.fc1.weight", 0, "fc1", "matrix", "lora", 50),
                    a("blocks.1.norm1.weight", 1, "norm1", "vector", "whole", 15),
                    a("blocks.1.attn.v.bias", 1, "v", "vector", "unstructured", 5)));

    @Test
    void everyTensorOfEveryFamilyFallsInOneOfThePapersCategories() {
        // name, operation, role: the category the budget table counts it under
        String[][] cases = {
            {"blocks.3.attn.q.weight", "q", "matrix", "q"},
            {"layers.2.blocks.1.mlp.fc1.weight", "fc1", "matrix", "fc1"},
            {"layers.1.downsample.reduction.weight", "downsample.reduction", "matrix", "other"},
            {"layers.1.downsample.norm.weight", "downsample.norm", "vector", "norms"},
            {"stages.1.downsample.0.weight", "downsample.norm", "vector", "norms"},
            {"stages.1.downsample.1.weight", "downsample.conv", "kernel", "other"},
            {"stages.0.blocks.2.conv_dw.weight", "conv_dw", "kernel", "other"},
            {"stages.0.blocks.2.conv_dw.bias", "conv_dw", "vector", "biases"},
            {"stages.0.blocks.2.gamma", "gamma", "vector", "other"},
            {"head.norm.weight", "head.norm", "vector", "norms"},
        };
        for (String[] c : cases) {
            var a = new Report.Allocation("t", "spt-lora", "5k", c[0], 0, 0, c[1], c[2], "unstructured", 1);
            assertEquals(c[3], a.category(), c[0]);
            assertTrue(Report.CATEGORIES.contains(a.category()), c[0]);
        }
    }

    @Test
    void groupMeansAndTheMeanOfGroupMeansAreVtabs() {
        assertEquals(List.of("spt-lora@20k", "linear"), report.columns());
        // natural: (0.5 + 0.7) / 2 = 0.6; structured: 0.2; mean of group means (0.6 + 0.2) / 2 = 0.4; plain mean 1.4 / 3
        assertEquals(0.6, report.groupMean("natural", "spt-lora@20k"), 1e-12);
        assertEquals(0.4, report.meanOfGroupMeans("spt-lora@20k"), 1e-12);
        assertEquals(1.4 / 3, report.mean("spt-lora@20k"), 1e-12);
        // linear has no t2: natural is t1 alone
        assertEquals(0.4, report.groupMean("natural", "linear"), 1e-12);
        assertEquals(0.25, report.meanOfGroupMeans("linear"), 1e-12);
        assertTrue(Double.isNaN(report.top1("t2", "linear")));
    }

    @Test
    void theSpreadSharesTheBudgetByOperationAndBlock() {
        Report.Spread s = report.spreads().get(0);
        assertEquals(100, s.total());
        assertEquals(30L, s.byCategory().get("q"));
        assertEquals(50L, s.byCategory().get("fc1"));
        assertEquals(15L, s.byCategory().get("norms"));
        assertEquals(5L, s.byCategory().get("biases"));
        assertEquals(80L, s.byBlock().get(0));
        assertEquals(20L, s.byBlock().get(1));
        assertEquals(List.of("blocks.0.mlp.fc1.weight"), s.modules());
    }

    /** A Swin's run: the spread per stage (shares worked by hand), shown only for hierarchical backbones. */
    @Test
    void aHierarchicalRunSharesTheBudgetByStage() {
        Report swin = new Report("run-s", List.of(r("t1", "natural", "spt-lora", "20k", 0.5)), List.of(
                new Report.Allocation("t1", "spt-lora", "20k", "layers.0.blocks.1.attn.q.weight", 0, 1, "q", "matrix",
                        "unstructured", 10),
                new Report.Allocation("t1", "spt-lora", "20k", "layers.1.downsample.reduction.weight", 1, 2,
                        "downsample.reduction", "matrix", "lora", 60),
                new Report.Allocation("t1", "spt-lora", "20k", "layers.2.blocks.0.mlp.fc1.weight", 2, 4, "fc1", "matrix",
                        "unstructured", 25),
                new Report.Allocation("t1", "spt-lora", "20k", "norm.weight", -1, -1, "norm", "vector", "whole", 5)));
        assertTrue(swin.hierarchical());
        Report.Spread s = swin.spreads().get(0);
        assertEquals(java.util.Map.of(-1, 5L, 0, 10L, 1, 60L, 2, 25L), s.byStage());
        // 5, 10, 60 and 25 of 100
        String md = swin.markdown();
        assertTrue(md.contains("per stage (%)"), md);
        assertTrue(md.contains("| task | method | stage -1 | stage 0 | stage 1 | stage 2 |\n"), md);
        assertTrue(md.contains("| t1 | spt-lora@20k | 5.0 | 10.0 | 60.0 | 25.0 |\n"), md);
        // a ViT's run (one stage) has no such table
        assertTrue(!report.hierarchical() && !report.markdown().contains("per stage"));
    }

    @Test
    void theFormatsCarryTheSameNumbers() {
        String md = report.markdown();
        assertTrue(md.contains("| mean of group means | | 40.0 | 25.0 |"), md);
        assertTrue(md.contains("| t2 | natural | 70.0 | - |"), md);
        String csv = report.csv();
        assertTrue(csv.startsWith("task,group,spt-lora@20k,linear\n"), csv);
        assertTrue(csv.contains("\nt2,natural,70.00,\n"), csv);
        var json = JsonParser.parseString(report.json()).getAsJsonObject();
        assertEquals(0.4, json.getAsJsonObject("meanOfGroupMeans").get("spt-lora@20k").getAsDouble(), 1e-12);
        assertTrue(json.getAsJsonArray("rows").get(1).getAsJsonObject().getAsJsonObject("top1").get("linear").isJsonNull());
        assertEquals(4, json.getAsJsonArray("allocation").size());
    }

    @Test
    void vtabRunsShowThePublishedNumbersBesideOurs() {
        Report vtab = new Report("run-2", List.of(r("cifar", "natural", "spt-lora", "0.4M", 0.70),
                r("dtd", "natural", "spt-lora", "0.4M", 0.60), r("eurosat", "specialized", "spt-lora", "0.4M", 0.90),
                r("dmlab", "structured", "spt-lora", "0.4M", 0.45)), List.of()).withSuite("vtab-1k");
        // ours in the published layout: natural (0.7 + 0.6) / 2 = 0.65, specialized 0.9, structured 0.45, their mean 2.0 / 3
        assertEquals(0.65, vtab.ours("natural", "spt-lora@0.4M"), 1e-12);
        assertEquals(2.0 / 3, vtab.ours("mean of group means", "spt-lora@0.4M"), 1e-12);
        String md = vtab.markdown();
        assertTrue(md.contains("| spt-lora@0.4M | ours, run run-2 | 65.0 | 90.0 | 45.0 | 66.7 |"), md);
        assertTrue(md.contains("| SPT-LoRA | published | 81.9 | 85.9 | 61.3 | 76.4 |"), md);
        var json = JsonParser.parseString(vtab.json()).getAsJsonObject().getAsJsonObject("published");
        assertEquals(76.4, json.getAsJsonObject("rows").getAsJsonArray("SPT-Adapter").get(3).getAsDouble(), 1e-12);
        // the published means are the means of the published group means, as VTAB reports them
        for (var e : json.getAsJsonObject("rows").entrySet()) {
            var v = e.getValue().getAsJsonArray();
            double mean = (v.get(0).getAsDouble() + v.get(1).getAsDouble() + v.get(2).getAsDouble()) / 3;
            assertEquals(v.get(3).getAsDouble(), mean, 0.051, e.getKey());
        }
        // the demo suite has no published counterpart
        assertEquals(null, report.withSuite("demo").published());
    }

    /**
     * A run with a budget chosen per task on val200 and the max over evaluations recorded: the column
     * {@code spt-lora@val200} with each task's chosen budget, a second table of the max, labelled as
     * the reference's (optimistic) figure, in every format; the selection's trainings listed.
     */
    @Test
    void aSelectedBudgetAndTheMaxOverEvaluationsAreShownAndLabelled() {
        Report selected = new Report("run-3", List.of(
                new Report.Result("t1", "natural", "spt-lora", "20k", 100, 200, 0.50, 50, "a/t1", 1000, "val200", 0.60),
                new Report.Result("t3", "structured", "spt-lora", "10k", 100, 200, 0.20, 50, "a/t3", 1000, "val200", 0.30),
                new Report.Result("t1", "natural", "linear", null, 0, 10, 0.40, 50, "a/t1l", 10, null, 0.40),
                new Report.Result("t3", "structured", "linear", null, 0, 10, 0.10, 50, "a/t3l", 10, null, null)),
                List.of()).withCandidates(List.of(
                        new Report.Candidate("t1", "spt-lora@val200", "spt-lora", "10k", 9_900, 0.25, false, "s/t1/10k"),
                        new Report.Candidate("t1", "spt-lora@val200", "spt-lora", "20k", 19_800, 0.5, true, "s/t1/20k")));
        assertEquals(List.of("spt-lora@val200", "linear"), selected.columns());
        assertEquals("20k", selected.chosenBudget("t1", "spt-lora@val200"));
        assertEquals(0.60, selected.maxTop1("t1", "spt-lora@val200"), 1e-12);
        assertTrue(Double.isNaN(selected.maxTop1("t3", "linear")));
        String md = selected.markdown();
        assertTrue(md.contains("| t1 | natural | 50.0 (20k) | 40.0 |"), md);
        assertTrue(md.contains("test top-1 (%), " + Report.MAX_LABEL), md);
        // max table: natural 60 and 40, structured 30 and none; the mean of group means 45 and none
        assertTrue(md.contains("| t1 | natural | 60.0 | 40.0 |\n| t3 | structured | 30.0 | - |"), md);
        assertTrue(md.contains("| mean of group means | | 45.0 | - |"), md);
        assertTrue(md.contains("| t1 | spt-lora@val200 | 20k | 19,800 | 50.0 | yes |"), md);
        String csv = selected.csv();
        assertTrue(csv.startsWith("task,group,spt-lora@val200,spt-lora@val200 (max over evaluations),linear,"
                + "linear (max over evaluations)\n"), csv);
        assertTrue(csv.contains("\nt3,structured,20.00,30.00,10.00,\n"), csv);
        var json = JsonParser.parseString(selected.json()).getAsJsonObject();
        var max = json.getAsJsonObject("maxOverEvaluations");
        assertEquals(Report.MAX_LABEL, max.get("label").getAsString());
        assertEquals(0.45, max.getAsJsonObject("meanOfGroupMeans").get("spt-lora@val200").getAsDouble(), 1e-12);
        assertEquals("20k", json.getAsJsonObject("chosenBudgets").getAsJsonObject("t1").get("spt-lora@val200").getAsString());
        assertEquals(2, json.getAsJsonArray("selection").size());
        assertEquals(0.6, json.getAsJsonArray("results").get(0).getAsJsonObject().get("maxTop1").getAsDouble(), 1e-12);
        // without either, nothing of them shows
        assertTrue(!report.markdown().contains("max over evaluations") && !report.csv().contains("max over evaluations"));
        assertTrue(!JsonParser.parseString(report.json()).getAsJsonObject().has("maxOverEvaluations"));
    }
}
