package org.sptspark.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.allocation.PlanJson;
import org.sptspark.data.HadoopFiles;
import org.sptspark.model.TensorSpec;
import org.sptspark.report.StabilitySummary;
import org.sptspark.sensitivity.ScoresStore;
import org.sptspark.sensitivity.SensitivityScores;

/** {@code spt stability} end to end on a generated task and a random demo backbone, then {@code spt report --stability}. */
class StabilityCommandTest {

    @TempDir
    Path dir;

    @Test
    void scoresEachSettingComparesThemCommitsTheSummaryAndReusesTheScoresOnARerun() throws Exception {
        assertEquals(0, SptCliTest.run("generate", "--task", "gen_dsprites_ori", "--out", dir.resolve("data").toString(),
                "--test-size", "10").exit());
        Path backbone = dir.resolve("demo.safetensors");
        try (var manager = ai.djl.ndarray.NDManager.newBaseManager()) {
            org.sptspark.model.Checkpoints.write(org.sptspark.model.VisionTransformer.create(manager,
                    org.sptspark.model.VitPresets.get("vit_demo_patch4_32"), 3), backbone);
        }
        String lake = dir.resolve("lake").toString();
        String[] common = {"--suite", "demo", "--task", "gen_dsprites_ori", "--data", dir.resolve("data").toString(),
            "--backbone", backbone.toString(), "--preset", "vit_demo_patch4_32", "--lake", lake};
        String[] stability = SptCliTest.concat(new String[] {"stability", "--batches", "3,1", "--seeds", "0,1",
            "--batch-size", "8", "--budget", "5k", "--partitions", "2"}, common);
        SptCliTest.Run first = SptCliTest.run(stability);
        assertEquals(0, first.exit(), first.err());
        assertTrue(first.err().contains("stability: seed 0: scoring 3 batches of 8, keeping the sums after 1, 3"), first.err());
        // two seeds x two counts: 1-vs-3 batches per seed, seed 0 vs 1 per count
        for (String row : new String[] {"| 1 b, seed 0 | 3 b, seed 0 | batches |", "| 1 b, seed 1 | 3 b, seed 1 | batches |",
            "| 1 b, seed 0 | 1 b, seed 1 | seed |", "| 3 b, seed 0 | 3 b, seed 1 | seed |"}) {
            assertTrue(first.out().contains(row), row + " in\n" + first.out());
        }
        assertTrue(first.out().contains("k = 5,000"), first.out());

        // each committed score set equals what spt sensitivity scores for that many batches and that seed
        var hadoop = HadoopFiles.configuration();
        String sha = org.sptspark.model.Checkpoints.sha256(backbone);
        String folder = StabilitySummary.folder(lake, "demo", "gen_dsprites_ori", "vit_demo_patch4_32", sha);
        String oneBatchSeed1 = StabilitySummary.scoresFolder(folder, 1, 8, 1);
        SensitivityScores prefix = ScoresStore.read(hadoop, oneBatchSeed1);
        SptCliTest.Run alone = SptCliTest.run(SptCliTest.concat(new String[] {"sensitivity", "--batches", "1", "--seed", "1",
            "--batch-size", "8", "--partitions", "2"}, common));
        assertEquals(0, alone.exit(), alone.err());
        SensitivityScores separate = ScoresStore.read(hadoop,
                ScoresStore.folder(lake, "demo", "gen_dsprites_ori", "vit_demo_patch4_32", sha));
        for (TensorSpec t : separate.space().scored()) {
            assertArrayEquals(separate.get(t.name()), prefix.get(t.name()), t.name());
        }

        // the summary records each set's committed scores and the plan spt allocate makes from them
        StabilitySummary summary = StabilitySummary.list(hadoop, lake).get(0);
        assertEquals(4, summary.sets().size());
        assertEquals(4, summary.comparisons().size());
        var set = summary.sets().stream().filter(x -> x.batches() == 1 && x.seed() == 1).findFirst().orElseThrow();
        assertEquals(ScoresStore.manifest(hadoop, oneBatchSeed1).id(), set.scoresId());
        assertEquals(0, SptCliTest.run("allocate", "--scores", oneBatchSeed1, "--budget", "5k", "--lake", lake).exit());
        Path plan = Path.of(lake, "plans/demo/gen_dsprites_ori", Path.of(oneBatchSeed1).getFileName().toString(),
                "spt-lora-5k.json");
        var allocated = PlanJson.read(Files.readString(plan), plan.toString());
        assertEquals(allocated.k(), set.planK());
        assertEquals(allocated.totals().achieved(), set.achieved());
        assertEquals(allocated.entries().stream().filter(e -> e.decision().kind().equals("lora")).map(e -> e.name())
                .sorted().toList(), set.structuredMatrices());

        // a re-run reuses the committed score sets and gives the same comparisons
        SptCliTest.Run again = SptCliTest.run(stability);
        assertEquals(0, again.exit(), again.err());
        assertTrue(again.err().contains("stability: seed 1: committed scores reused for 1, 3 batches"), again.err());
        assertEquals(first.out(), again.out());

        // spt report --stability: the same rows for notebooks (json) and spreadsheets (csv)
        SptCliTest.Run json = SptCliTest.run("report", "--lake", lake, "--stability", "--format", "json");
        assertEquals(0, json.exit(), json.err());
        var parsed = JsonParser.parseString(json.out()).getAsJsonObject().getAsJsonArray("stability");
        assertEquals(1, parsed.size());
        assertEquals("spt-stability", parsed.get(0).getAsJsonObject().get("format").getAsString());
        assertEquals(4, parsed.get(0).getAsJsonObject().getAsJsonArray("comparisons").size());
        SptCliTest.Run csv = SptCliTest.run("report", "--lake", lake, "--stability", "--format", "csv");
        assertEquals(0, csv.exit(), csv.err());
        assertEquals(5, csv.out().strip().lines().count(), csv.out());
        assertTrue(csv.out().startsWith("suite,task,backbone,module,budget,k,batches_a"), csv.out());
    }

    @Test
    void badSettingsAreRefusedInOneLine() {
        String[] common = {"--suite", "demo", "--task", "gen_dsprites_ori", "--data", dir.toString(), "--backbone",
            dir.resolve("none.safetensors").toString(), "--preset", "vit_demo_patch4_32", "--lake", dir.toString()};
        for (String[][] c : new String[][][] {
            {{"--batches", "0,4"}, {"every batch count must be at least 1"}},
            {{"--batches", "4,4"}, {"names 4 twice"}},
            {{"--seeds", "1,1"}, {"names a seed twice"}},
            {{"--top-k", "99999999"}, {"--top-k 99999999 is outside 1.."}},
            {{"--format", "xml"}, {"unknown format 'xml'"}}}) {
            SptCliTest.Run r = SptCliTest.run(SptCliTest.concat(SptCliTest.concat(new String[] {"stability"}, c[0]), common));
            assertEquals(2, r.exit(), r.out() + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().startsWith("spt stability: ") && r.err().contains(c[1][0]), r.err());
        }
        SptCliTest.Run none = SptCliTest.run("report", "--lake", dir.toString(), "--stability");
        assertEquals(2, none.exit());
        assertTrue(none.err().contains("no stability summaries under"), none.err());
    }
}
