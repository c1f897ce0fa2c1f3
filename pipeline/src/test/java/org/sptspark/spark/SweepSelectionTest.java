package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.artifact.ArtifactManifest;
import org.sptspark.artifact.Artifacts;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.Split;
import org.sptspark.data.Suite;
import org.sptspark.model.VitPresets;
import org.sptspark.snella.SnellaOptions;
import org.sptspark.training.TaskTraining;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.Recipe;

/**
 * The papers' protocol in a sweep: each budgeted method's budget chosen per task on val200
 * (trained on train800), the best retrained on train800val200 and evaluated on test; and the SPT
 * reference's max over evaluations recorded beside the final top-1.
 */
class SweepSelectionTest {

    @TempDir
    Path dir;

    static final String TASK = SweepCrashTest.TASK;

    static Sweep.Config config(String data, String backbone, String lake, String run, List<String> methods,
            boolean select, boolean maxOverEvals) {
        // two epochs, evaluated after each: two evaluations per training
        return new Sweep.Config(Suite.load("demo"), List.of(TASK), data, backbone, VitPresets.DEMO, lake,
                methods.stream().map(Method.AtBudget::parse).toList(), List.of("10k", "5k"), 8,
                SnellaOptions.defaults().withRank(8),
                Recipe.builder().epochs(2).warmupEpochs(0).evalEvery(1).lr(3e-3).build(), Normalization.IMAGENET, 8, 2,
                run, "{}", false, false, select ? Split.VAL : null, maxOverEvals);
    }

    /**
     * A sweep with SPT-LoRA at two budgets, LoRA at two budgets and the linear probe, selecting on
     * val200 and recording the max over evaluations; its final spt-lora training fails the first time
     * (as if killed there), and the re-run trains only that one.
     */
    @Test
    void theBudgetWithTheBestVal200TopOneIsRetrainedOnTrain800Val200AndAReRunTrainsOnlyWhatIsMissing()
            throws Exception {
        Configuration hadoop = HadoopFiles.configuration();
        String data = dir.resolve("data").toString();
        SweepCrashTest.writeTinyTask(hadoop, data);
        String backbone = SweepTest.backbone(dir).toString();
        String lake = dir.resolve("lake").toString();
        // plain lora (rank 8 on every matrix) is a baseline of its own, not a third budget of lora@
        List<String> methods = List.of("spt-lora", "lora@5k", "lora@10k", "lora", "linear");
        SparkSession spark = LocalSpark.start("SweepSelectionTest");
        try {
            var lines = new ArrayList<String>();
            Sweep.TaskHook failFinalSpt = r -> {
                if (r.method() == Method.SPT_LORA && !r.selection()) {
                    throw new IllegalStateException("injected failure of the final spt-lora training");
                }
            };
            var first = Sweep.run(spark, config(data, backbone, lake, "s1", methods, true, true), lines::add, failFinalSpt);
            String log = String.join("\n", lines);
            assertTrue(lines.contains("stage 3: 8 trainings (4 on train800 for the budget selection on val200, 2 on"
                    + " train800val200 at the budgets chosen, 2 others), 0 of the 6 before the choice already committed;"
                    + " one Spark task each"), log);
            assertEquals(1, first.failures().size(), log);
            var failure = first.failures().get(0);
            assertEquals("training", failure.stage());
            assertEquals(TASK, failure.task());
            assertTrue(failure.what().startsWith("spt-lora@"), failure.what());
            assertEquals("injected failure of the final spt-lora training", failure.reason());
            assertEquals(List.of("lora@val200", "lora", "linear"), first.entries().stream().map(Sweep.Entry::column).toList());
            var progress = lines.stream().filter(l -> l.startsWith("stage 3: ") && l.contains(" trainings done")).toList();
            assertTrue(progress.get(progress.size() - 1).startsWith("stage 3: 7/8 trainings done, 0 running, ")
                    && progress.get(progress.size() - 1).endsWith(", 1 training failed for good"), log);

            var again = new ArrayList<String>();
            var second = Sweep.run(spark, config(data, backbone, lake, "s2", methods, true, true), again::add);
            String log2 = String.join("\n", again);
            assertEquals(List.of(), second.failures(), log2);
            assertTrue(again.contains("stage 3: 8 trainings (4 on train800 for the budget selection on val200, 2 on"
                    + " train800val200 at the budgets chosen, 2 others), 6 of the 6 before the choice already committed;"
                    + " one Spark task each"), log2);
            assertEquals(List.of("spt-lora@val200", "lora@val200", "lora", "linear"),
                    second.entries().stream().map(Sweep.Entry::column).toList());
            assertTrue(second.candidates().stream().allMatch(k -> k.outcome().reused()), "the selection is not redone");
            for (var e : second.entries()) {
                assertEquals(!e.outcome().method().equals("spt-lora"), e.outcome().reused(),
                        "only the failed final training runs again: " + e.outcome().folder());
            }

            // the choice: the best val200 top-1 of the selection trainings as their manifests record it, a tie
            // to the smaller budget
            assertEquals(4, second.candidates().size());
            Map<String, List<Sweep.Candidate>> byColumn = new HashMap<>();
            second.candidates().forEach(k -> byColumn.computeIfAbsent(k.column(), c -> new ArrayList<>()).add(k));
            assertEquals(Map.of("spt-lora@val200", 2, "lora@val200", 2),
                    Map.of("spt-lora@val200", byColumn.get("spt-lora@val200").size(), "lora@val200",
                            byColumn.get("lora@val200").size()));
            for (var e : second.entries().subList(0, 2)) {
                List<Sweep.Candidate> candidates = byColumn.get(e.column());
                Sweep.Candidate best = null;
                for (var k : candidates) {
                    ArtifactManifest m = Artifacts.manifest(hadoop, k.outcome().folder());
                    assertEquals("train800", m.metrics().trainSplit());
                    assertEquals("val200", m.metrics().evalSplit());
                    assertEquals(16, m.metrics().testImages(), "val200's 16 images");
                    assertEquals(48, m.metrics().trainImages(), "train800's 48 images");
                    assertTrue(k.outcome().folder().contains("/train800-val200/"), k.outcome().folder());
                    double val = m.metrics().top1();
                    assertEquals(val, k.outcome().top1());
                    if (best == null || val > best.outcome().top1() || val == best.outcome().top1()
                            && k.outcome().budgetTarget() < best.outcome().budgetTarget()) {
                        best = k;
                    }
                }
                final Sweep.Candidate chosen = best;
                candidates.forEach(k -> assertEquals(k == chosen, k.chosen(), k.outcome().folder()));
                var o = e.outcome();
                assertEquals(chosen.outcome().budgetLabel(), o.budgetLabel(), e.column());
                assertEquals("train800val200", o.trainSplit());
                assertEquals("test", o.evalSplit());
                ArtifactManifest m = Artifacts.manifest(hadoop, o.folder());
                assertNull(m.metrics().trainSplit(), "the final training is on train800val200");
                assertEquals(64, m.metrics().trainImages(), "train800val200's 64 images");
                assertFalse(o.folder().contains("train800-val200"), o.folder());
            }

            // the tables: the results have the final rows with the chosen budget, the selection table every candidate
            List<Row> rows = spark.read().parquet(lake + "/tables/results").where("run = 's2'").orderBy("method")
                    .collectAsList();
            assertEquals(4, rows.size());
            for (Row row : rows) {
                var entry = second.entries().stream().filter(e -> e.outcome().folder().equals(row.getAs("artifact")))
                        .findFirst().orElseThrow();
                assertEquals(entry.outcome().budgetLabel(), row.getAs("budget"));
                assertEquals(entry.selectedOn(), row.getAs("budget_selection"));
                // the max over evaluations: at least the final top-1, and the largest test top-1 the manifest recorded
                ArtifactManifest m = Artifacts.manifest(hadoop, entry.outcome().folder());
                List<ArtifactManifest.Evaluation> evaluations = m.metrics().evaluations();
                assertEquals(List.of(1, 2), evaluations.stream().map(ArtifactManifest.Evaluation::epoch).toList());
                double max = evaluations.stream().mapToDouble(ArtifactManifest.Evaluation::evalTop1).max().orElseThrow();
                double top1 = row.getAs("top1");
                double rowMax = row.getAs("max_top1");
                assertEquals(max, rowMax);
                assertTrue(rowMax >= top1, rowMax + " < " + top1);
                assertEquals(top1, evaluations.get(evaluations.size() - 1).evalTop1(), "the last evaluation is the final one");
            }
            List<Row> selection = spark.read().parquet(lake + "/tables/selection").where("run = 's2'").collectAsList();
            assertEquals(4, selection.size());
            for (Row row : selection) {
                assertEquals("train800", row.getAs("train_split"));
                assertEquals("val200", row.getAs("eval_split"));
                var k = second.candidates().stream().filter(c -> c.outcome().folder().equals(row.getAs("artifact")))
                        .findFirst().orElseThrow();
                assertEquals(k.chosen(), row.getAs("chosen"));
                assertEquals(k.outcome().top1(), (double) row.getAs("top1"));
            }
            assertTrue(again.stream().anyMatch(l -> l.matches(TASK + " spt-lora@val200: val200 top-1 \\d\\.\\d{3} at 10k,"
                    + " \\d\\.\\d{3} at 5k; (10k|5k) chosen, training it on train800val200")), log2);

            // the test evaluations at every point change nothing in the training: the same LoRA (its dropout drawn
            // from the engine's generator) and linear probe without them, to the byte
            String plain = dir.resolve("plain-lake").toString();
            var without = Sweep.run(spark, config(data, backbone, plain, "p", List.of("lora", "linear"), false, false),
                    l -> { });
            for (int i = 0; i < 2; i++) {
                var a = without.entries().get(i).outcome();
                var b = second.entries().get(2 + i).outcome();
                assertEquals(a.column(), b.column());
                assertNull(a.maxTop1());
                assertNotNull(b.maxTop1());
                assertEquals(b.top1(), a.top1());
                assertEquals(Artifacts.manifest(hadoop, b.folder()).files().get(Artifacts.TENSORS).sha256(),
                        Artifacts.manifest(hadoop, a.folder()).files().get(Artifacts.TENSORS).sha256(), a.column());
            }
        } finally {
            spark.stop();
        }
    }
}
