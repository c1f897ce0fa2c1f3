package org.sptspark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sptspark.jobs.SptCliTest.Run;
import org.sptspark.model.BackbonePresets;
import org.sptspark.model.Backbones;
import org.sptspark.model.Checkpoints;

/**
 * Pretraining, SPT's three stages, evaluation and merging through the command line on the Swin and
 * ConvNeXt demo presets: sensitivity, a plan, SPT-LoRA and a LoRA baseline trained, the artifact evaluated
 * again to the top-1 training reported, and merged into a checkpoint that evaluates the same.
 */
class HierarchicalCliTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {BackbonePresets.SWIN_DEMO, BackbonePresets.CONVNEXT_DEMO})
    void sensitivityAllocateTrainEvaluateAndMerge(String preset) throws Exception {
        String data = dir.resolve("data").toString();
        assertEquals(0, SptCliTest.run("generate", "--task", "gen_clevr_dist", "--out", data, "--test-size", "20").exit());
        // the backbone: one epoch of pretraining on an upstream task of a suite of our own
        assertEquals(0, SptCliTest.run("generate", "--task", "gen_dsprites_ori", "--out", data, "--test-size", "20").exit());
        Path suite = dir.resolve("suite.conf");
        Files.writeString(suite, "suite {\n  name = demo\n  layout = vtab\n"
                + "  tasks = [ { name = gen_clevr_dist, classes = 6, group = structured } ]\n"
                + "  upstream = [ { name = gen_dsprites_ori, classes = 16, group = upstream } ]\n}\n");
        Path backbone = dir.resolve(preset + ".safetensors");
        Run pretrained = SptCliTest.run("pretrain", "--suite", suite.toString(), "--data", data, "--preset", preset,
                "--out", backbone.toString(), "--epochs", "1", "--batch-size", "64");
        assertEquals(0, pretrained.exit(), pretrained.err());
        String family = preset.startsWith("swin") ? "swin" : "convnext";
        assertTrue(Files.readString(dir.resolve(preset + ".safetensors.json")).contains("\"family\": \"" + family + "\""));
        assertTrue(pretrained.err().contains("gen_dsprites_ori test top-1"), pretrained.err());
        String lake = dir.resolve("lake").toString();
        String[] where = {"--suite", "demo", "--task", "gen_clevr_dist", "--data", data, "--backbone", backbone.toString(),
            "--preset", preset, "--lake", lake};
        Run scored = SptCliTest.run(concat(new String[] {"sensitivity", "--batches", "2", "--batch-size", "8"}, where));
        assertEquals(0, scored.exit(), scored.err());
        Path scores;
        try (var found = Files.list(dir.resolve("lake/sensitivity/demo/gen_clevr_dist"))) {
            scores = found.findFirst().orElseThrow();
        }
        Run allocated = SptCliTest.run("allocate", "--scores", scores.toString(), "--budget", "5k", "--method", "lora",
                "--lake", lake, "--run", "r1");
        assertEquals(0, allocated.exit(), allocated.err());
        String plan = dir.resolve("lake/plans/demo/gen_clevr_dist").resolve(scores.getFileName())
                .resolve("spt-lora-5k.json").toString();

        String[] recipe = {"--epochs", "1", "--run", "t1"};
        Run spt = SptCliTest.run(concat(concat(new String[] {"train", "--method", "spt-lora", "--plan", plan}, where), recipe));
        assertEquals(0, spt.exit(), spt.err());
        assertTrue(spt.out().contains("gen_clevr_dist spt-lora @ 5k: top-1"), spt.out());
        Run lora = SptCliTest.run(concat(concat(new String[] {"train", "--method", "lora", "--rank", "2"}, where), recipe));
        assertEquals(0, lora.exit(), lora.err());

        Path folder;
        try (var found = Files.list(dir.resolve("lake/artifacts/demo/gen_clevr_dist"))) {
            folder = found.findFirst().orElseThrow();
        }
        String manifest = Files.readString(folder.resolve("spt-lora-5k/manifest.json"));
        assertTrue(manifest.contains("\"family\": \"" + family + "\""), manifest);
        Run evaluated = SptCliTest.run("evaluate", "--artifact", folder.resolve("spt-lora-5k").toString(), "--backbone",
                backbone.toString(), "--data", data);
        assertEquals(0, evaluated.exit(), evaluated.err());
        var top1 = Pattern.compile("top-1 (\\d\\.\\d{4})");
        var trained = top1.matcher(spt.out());
        var again = top1.matcher(evaluated.out());
        assertTrue(trained.find() && again.find(), spt.out() + evaluated.out());
        assertEquals(trained.group(1), again.group(1), "evaluating the artifact again");

        Path merged = dir.resolve("merged.safetensors");
        Run merge = SptCliTest.run("merge", "--artifact", folder.resolve("spt-lora-5k").toString(), "--backbone",
                backbone.toString(), "--out", merged.toString());
        assertEquals(0, merge.exit(), merge.err());
        // a whole timm-layout checkpoint with the task's 6-class head, strictly loadable
        try (var manager = ai.djl.ndarray.NDManager.newBaseManager();
                var dict = Checkpoints.read(merged, manager)) {
            var config = BackbonePresets.get(preset).withNumClasses(6);
            Checkpoints.load(Backbones.create(manager, config, 0), dict, Checkpoints.HeadPolicy.LOAD);
        }
        // predictions: every test image through both artifacts, then a list routed by task through the run's spt-lora
        Run predict = SptCliTest.run("predict", "--backbone", backbone.toString(), "--artifacts",
                folder.resolve("spt-lora-5k") + "," + folder.resolve("lora"), "--images",
                dir.resolve("data/gen_clevr_dist/images/test").toString(), "--out", dir.resolve("predictions").toString());
        assertEquals(0, predict.exit(), predict.err());
        assertTrue(predict.out().contains("x 2 artifacts") && predict.out().contains("; 0 skipped"), predict.out());
        Path list = dir.resolve("data/gen_clevr_dist/routed.txt");
        Files.writeString(list, "images/test/000000.png gen_clevr_dist\nimages/test/000001.png gen_clevr_dist\n");
        Run routed = SptCliTest.run("predict", "--backbone", backbone.toString(), "--list", list.toString(), "--lake", lake,
                "--run", "t1", "--method", "spt-lora", "--out", dir.resolve("routed").toString());
        assertEquals(0, routed.exit(), routed.err());
        assertTrue(routed.out().contains("2 rows: 2 predicted in"), routed.out());
        // a sweep of SPT, a matched baseline and the linear probe (with activation checkpointing), and its report
        String lake2 = dir.resolve("lake2").toString();
        Run sweep = SptCliTest.run("sweep", "--suite", "demo", "--tasks", "gen_clevr_dist", "--data", data, "--backbone",
                backbone.toString(), "--preset", preset, "--lake", lake2, "--methods", "spt-lora,lora@5k,linear",
                "--budgets", "5k", "--epochs", "1", "--warmup-epochs", "0", "--eval-every", "0", "--run", "s1",
                "--checkpoint-activations");
        assertEquals(0, sweep.exit(), sweep.err());
        try (var manifests = Files.walk(Path.of(lake2, "artifacts"))) {
            var found = manifests.filter(p -> p.getFileName().toString().equals("manifest.json")).toList();
            assertEquals(3, found.size(), found.toString());
            for (Path m : found) {
                assertTrue(Files.readString(m).contains("\"checkpointActivations\": true"), m + " records checkpointing");
            }
        }
        Run report = SptCliTest.run("report", "--lake", lake2, "--run", "s1");
        assertEquals(0, report.exit(), report.err());
        assertTrue(report.out().contains("spt-lora@5k") && report.out().contains("lora@5k")
                && report.out().contains("gen_clevr_dist"), report.out());
        // where the budget went per stage, in the report and in the budget notebook's plots
        assertTrue(report.out().contains("share of trainable parameters per stage (%)\n\n")
                && report.out().contains("| gen_clevr_dist | spt-lora@5k |"), report.out());
        var stagesInTable = SptCliTest.run("report", "--lake", lake2, "--run", "s1", "--format", "json");
        assertTrue(stagesInTable.out().contains("\"stage\": 2") && stagesInTable.out().contains("\"byStage\""),
                stagesInTable.out());
        Notebooks.execute(lake2, "s1", java.util.Map.of("budget.ipynb", List.of("budget_by_depth.png",
                "budget_by_stage.png", "budget_by_operation.png", "structured_modules.png")));
        // how stable the scores are between batch counts and seeds
        Run stability = SptCliTest.run(concat(new String[] {"stability", "--batches", "1,2", "--seeds", "0,1",
            "--batch-size", "8", "--budget", "5k"}, where));
        assertEquals(0, stability.exit(), stability.err());
        assertTrue(stability.out().contains("top-k"), stability.out());
        Run info = SptCliTest.run("model-info", "--preset", preset, "--summary");
        assertEquals(0, info.exit(), info.err());
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
