package org.sptspark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.sptspark.data.Suite;
import org.sptspark.spark.Sweep;
import org.sptspark.training.TaskTraining;

/** The summary a sweep and the demo print: each column named with its budget and the count it trained. */
class SweepSummaryTest {

    static Sweep.Entry entry(String task, String method, String budget, long achieved, long trainable, double top1) {
        var outcome = new TaskTraining.Outcome("f", method, budget, 0, achieved, trainable + 970, top1, new double[0], 100,
                1, 1, 1, null, false, "fp32", trainable);
        return new Sweep.Entry(Suite.load("demo").task(task), outcome);
    }

    @Test
    void everyColumnCarriesItsTrainedCountAndSptsPlansTheirMean() {
        var result = new Sweep.Result("r", List.of(
                entry("fashion_mnist", "spt-lora", "20k", 20_050, 20_050, 0.60),
                entry("fashion_mnist", "lora", "20k", 20_832, 20_832, 0.60),
                entry("fashion_mnist", "linear", null, 0, 0, 0.571),
                entry("fashion_mnist", "full", null, 692_352, 692_352, 0.663),
                // SNELLA's budget counts its delta's non-zero entries; the column its trained factors
                entry("fashion_mnist", "snella", "sparsity0.9", 66_000, 83_148, 0.60),
                entry("emoji_category", "spt-lora", "20k", 20_150, 20_150, 0.70),
                entry("emoji_category", "lora", "20k", 20_832, 20_832, 0.66)), 1);
        var text = new StringWriter();
        SweepCommand.print(new PrintWriter(text), result);
        String header = text.toString().lines().findFirst().orElseThrow();
        for (String column : List.of("spt-lora@20k (~20.1k)", "lora@20k (20.8k)", "linear (0)", "full (692k)",
                "snella@sparsity0.9 (83.1k)")) {
            assertTrue(header.contains(column), column + " in\n" + text);
        }
        assertTrue(text.toString().contains("in brackets the backbone parameters each method trained"), text.toString());
        String mean = text.toString().lines().filter(l -> l.startsWith("mean ")).filter(l -> !l.startsWith("mean natural"))
                .findFirst().orElseThrow();
        assertTrue(mean.contains(" 65.0 ") && mean.contains(" 63.0 "), "(60 + 70) / 2 and (60 + 66) / 2: " + mean);
    }

    @Test
    void countsAreShortenedAsTheTablesWriteThem() {
        assertEquals("0", SweepCommand.count(List.of(0L)));
        assertEquals("960", SweepCommand.count(List.of(960L)));
        assertEquals("20.8k", SweepCommand.count(List.of(20_832L, 20_832L)));
        assertEquals("~20.1k", SweepCommand.count(List.of(20_050L, 20_150L)));
        assertEquals("692k", SweepCommand.count(List.of(692_352L)));
        assertEquals("1.2M", SweepCommand.count(List.of(1_234_567L)));
    }

    /**
     * A budget chosen per task shows in its cell, the max over evaluations gets its own labelled table,
     * and a failure is named with its reason; the exit code is then 1.
     */
    @Test
    void aChosenBudgetTheMaxOverEvaluationsAndFailuresAreShown() {
        var demo = Suite.load("demo");
        var chosen = new TaskTraining.Outcome("f", "spt-lora", "20k", 20_000, 20_050, 21_000, 0.60, new double[0], 100, 1, 1,
                1, null, false, "fp32", 20_050, "train800val200", "test", 0.65);
        var linear = new TaskTraining.Outcome("g", "linear", null, 0, 0, 970, 0.50, new double[0], 100, 1, 1, 1, null,
                false, "fp32", 0, "train800val200", "test", 0.55);
        var failure = new Sweep.Failure("emoji_category", null, "sensitivity", 2,
                new org.apache.spark.SparkException("Job aborted", new IllegalArgumentException(
                        "line 3 of train800.txt: label 'x' is not an integer")));
        var result = new Sweep.Result("r", List.of(new Sweep.Entry(demo.task("fashion_mnist"), chosen, "val200"),
                new Sweep.Entry(demo.task("fashion_mnist"), linear)), List.of(), List.of(failure), 1);
        var text = new StringWriter();
        SweepCommand.print(new PrintWriter(text), result);
        String shown = text.toString();
        assertTrue(shown.lines().findFirst().orElseThrow().contains("spt-lora@val200 (20.1k)"), shown);
        assertTrue(shown.contains(" 60.0 (20k) "), shown);
        assertTrue(shown.contains("max over evaluations of test top-1, as the SPT reference reports (optimistic: chosen on"
                + " the test split"), shown);
        assertTrue(shown.contains(" 65.0 ") && shown.contains(" 55.0"), shown);
        assertTrue(shown.contains("failed: emoji_category: sensitivity failed (2 trainings not run): line 3 of"
                + " train800.txt: label 'x' is not an integer\n"), shown);
        assertEquals(1, SweepCommand.exitCode(result));
        assertEquals(0, SweepCommand.exitCode(new Sweep.Result("r", List.of(), 1)));
    }

    @Test
    void budgetsAreSelectedOnVal200Only() {
        assertEquals(org.sptspark.data.Split.VAL, SweepCommand.selectSplit("val200"));
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> SweepCommand.selectSplit("test"));
        assertTrue(e.getMessage().startsWith("--select-budget test: budgets are chosen on val200"), e.getMessage());
    }
}
