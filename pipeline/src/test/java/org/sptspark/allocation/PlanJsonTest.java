package org.sptspark.allocation;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PlanJsonTest {

    private static TuningPlan samplePlan() {
        var s = BudgetAllocatorTest.scores(BudgetAllocatorTest.SPACE, Map.of(
                "blocks.0.attn.q.weight", new float[] {0, 10f, 5, 9f, 7, 8.5f},
                "blocks.0.mlp.fc2.weight", new float[] {31, 8f, 0, 7f},
                "blocks.0.norm1.bias", new float[] {2, 6f}));
        var rule = new AllocationRule(AllocationRule.Module.ADAPTER, 1, 6, 1, AllocationRule.Mode.MIXED, true);
        return new BudgetAllocator(s, rule).planAt(6, new Budget("0.1k", 100));
    }

    @Test
    void aPlanSurvivesTheRoundTripWithItsIdAndIndices() {
        TuningPlan plan = samplePlan();
        String json = PlanJson.write(plan);
        assertTrue(json.contains("\"format\": \"spt-plan\"") && json.contains("\"version\": 3"), json);
        assertTrue(!json.contains("\"stage\""), "a ViT's plan records no stages: " + json);
        // adapter r=1 on SMALL: 90 in modules, 52 in whole vectors, 4 in the class token
        assertTrue(json.contains("\"maxReachable\": 146"), json);
        TuningPlan back = PlanJson.read(json, "plan.json");
        assertEquals(json, PlanJson.write(back));
        assertEquals(PlanJson.id(plan), PlanJson.id(back));
        assertEquals(plan.totals(), back.totals());
        var sparse = (TensorDecision.Sparse) back.entry("blocks.0.mlp.fc2.weight").decision();
        assertArrayEquals(new int[] {0, 31}, sparse.indices());
        // adapter r=1 on q (4x4): 2*1*4 + 1 + 4 = 13, and 3 entries reach 13/6
        assertEquals(new TensorDecision.Structured(AllocationRule.Module.ADAPTER, 1, 13),
                back.entry("blocks.0.attn.q.weight").decision());
    }

    @Test
    void anEditedPlanIsRefused() {
        String json = PlanJson.write(samplePlan()).replace("\"target\": 100", "\"target\": 101");
        var e = assertThrows(IllegalArgumentException.class, () -> PlanJson.read(json, "plan.json"));
        assertTrue(e.getMessage().contains("does not match its id"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PlanJson.read("{\"format\": \"other\"}", "x.json"));
        assertThrows(IllegalArgumentException.class, () -> PlanJson.read("not json at all {", "y.json"));
    }

    @Test
    void indexCodecKeepsLargeGapsAndEmptyLists() {
        for (int[] indices : List.of(new int[0], new int[] {0}, new int[] {0, 1, 2}, new int[] {127, 128, 16_511, 16_512,
                2_000_000_000})) {
            assertArrayEquals(indices, PlanJson.decodeIndices(PlanJson.encodeIndices(indices)));
        }
        // consecutive indices cost one byte each
        assertEquals(java.util.Base64.getEncoder().encodeToString(new byte[1000]),
                PlanJson.encodeIndices(java.util.stream.IntStream.range(0, 1000).toArray()));
    }

    /** A plan as the plan writer wrote it at version 1 (its id computed then), compacted. */
    static final String VERSION_1 = """
            {"format": "spt-plan", "version": 1, "id": "2975ffd4da602b2465d65308b8ce7ed72e6ad1ee6056bcddf572c668c94506b6", "backbone": "alloc_small", "numClasses": 2, "scores": "test",
             "rule": {"module": "lora", "rank": 1, "alpha": 6.0, "beta": 1.0, "mode": "mixed", "structuredVectors": true},
             "budget": {"label": "0.1k", "target": 100, "achieved": 25, "k": 6},
             "totals": {"unstructured": 1, "structured": 20, "whole": 0, "clsToken": 4, "head": 10},
             "tensors": [
              {"name": "blocks.0.norm1.weight", "block": 0, "operation": "norm1", "role": "vector", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.norm1.bias", "block": 0, "operation": "norm1", "role": "vector", "countInTopK": 1, "decision": "unstructured", "trainable": 1, "indices": "Ag=="},
              {"name": "blocks.0.attn.q.weight", "block": 0, "operation": "q", "role": "matrix", "countInTopK": 3, "decision": "lora", "trainable": 8, "rank": 1},
              {"name": "blocks.0.attn.q.bias", "block": 0, "operation": "q", "role": "vector", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.attn.k.weight", "block": 0, "operation": "k", "role": "matrix", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.attn.k.bias", "block": 0, "operation": "k", "role": "vector", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.attn.v.weight", "block": 0, "operation": "v", "role": "matrix", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.attn.v.bias", "block": 0, "operation": "v", "role": "vector", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.attn.proj.weight", "block": 0, "operation": "proj", "role": "matrix", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.attn.proj.bias", "block": 0, "operation": "proj", "role": "vector", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.norm2.weight", "block": 0, "operation": "norm2", "role": "vector", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.norm2.bias", "block": 0, "operation": "norm2", "role": "vector", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.mlp.fc1.weight", "block": 0, "operation": "fc1", "role": "matrix", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.mlp.fc1.bias", "block": 0, "operation": "fc1", "role": "vector", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "blocks.0.mlp.fc2.weight", "block": 0, "operation": "fc2", "role": "matrix", "countInTopK": 2, "decision": "lora", "trainable": 12, "rank": 1},
              {"name": "blocks.0.mlp.fc2.bias", "block": 0, "operation": "fc2", "role": "vector", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "norm.weight", "block": -1, "operation": "norm", "role": "vector", "countInTopK": 0, "decision": "frozen", "trainable": 0},
              {"name": "norm.bias", "block": -1, "operation": "norm", "role": "vector", "countInTopK": 0, "decision": "frozen", "trainable": 0}
            ]}
            """;

    @Test
    void aVersion1PlanStillReadsWithItsIdAndIsWrittenTheSame() {
        TuningPlan plan = PlanJson.read(VERSION_1, "v1.json");
        assertEquals(null, plan.totals().maxReachable()); // version 1 did not record it
        assertEquals("2975ffd4da602b2465d65308b8ce7ed72e6ad1ee6056bcddf572c668c94506b6", PlanJson.id(plan));
        assertEquals(new TensorDecision.Sparse(new int[] {2}).kind(), plan.entry("blocks.0.norm1.bias").decision().kind());
        assertArrayEquals(new int[] {2}, ((TensorDecision.Sparse) plan.entry("blocks.0.norm1.bias").decision()).indices());
        assertEquals(0, plan.entry("blocks.0.norm1.bias").stage()); // before stages, every plan was a ViT's
        // written again, it is a version 3 document of the same content and id, still without the maximum
        assertEquals(com.google.gson.JsonParser.parseString(VERSION_1.replace("\"version\": 1", "\"version\": 3")),
                com.google.gson.JsonParser.parseString(PlanJson.write(plan)));
    }

    @Test
    void aNewerOrForeignPlanIsRefusedInOneLine() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> PlanJson.read(VERSION_1.replace("\"version\": 1", "\"version\": 4"), "lake/plans/p.json"));
        assertEquals("lake/plans/p.json is spt-plan version 4, but this build reads up to version 3: read it with a"
                + " newer spt", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PlanJson.read("{\"format\": \"other\"}", "x.json"));
        assertEquals("x.json is not a tuning plan (format \"other\", expected \"spt-plan\")", e.getMessage());
    }

    /** A Swin's plan records each tensor's stage beside its block, and reads back with them. */
    @Test
    void aHierarchicalPlanRecordsStagesAndBlocks() {
        var space = org.sptspark.model.BackbonePresets.get(org.sptspark.model.BackbonePresets.SWIN_DEMO).space();
        var s = BudgetAllocatorTest.scores(space, Map.of(
                "layers.2.blocks.1.attn.q.weight", new float[] {0, 10f, 7, 9f},
                "layers.1.downsample.reduction.weight", new float[] {3, 8f}));
        TuningPlan plan = new BudgetAllocator(s, AllocationRule.defaults(AllocationRule.Module.LORA))
                .planAt(3, new Budget("3", 3));
        String json = PlanJson.write(plan);
        var doc = com.google.gson.JsonParser.parseString(json).getAsJsonObject();
        var byName = new java.util.HashMap<String, com.google.gson.JsonObject>();
        doc.getAsJsonArray("tensors").forEach(t -> byName.put(t.getAsJsonObject().get("name").getAsString(),
                t.getAsJsonObject()));
        // three stages of two blocks: stage 2's block 1 is the model's fifth block (index 5)
        assertEquals(2, byName.get("layers.2.blocks.1.attn.q.weight").get("stage").getAsInt());
        assertEquals(5, byName.get("layers.2.blocks.1.attn.q.weight").get("block").getAsInt());
        assertEquals(1, byName.get("layers.1.downsample.reduction.weight").get("stage").getAsInt());
        assertEquals(2, byName.get("layers.1.downsample.reduction.weight").get("block").getAsInt());
        assertEquals(-1, byName.get("norm.weight").get("stage").getAsInt());
        assertEquals("unstructured", byName.get("layers.2.blocks.1.attn.q.weight").get("decision").getAsString());
        TuningPlan back = PlanJson.read(json, "plan.json");
        assertEquals(plan.entries().stream().map(e -> e.name() + " " + e.stage() + " " + e.block()).toList(),
                back.entries().stream().map(e -> e.name() + " " + e.stage() + " " + e.block()).toList());
        assertEquals(json, PlanJson.write(back));
        assertEquals(2, back.entry("layers.2.blocks.1.attn.q.weight").stage());
    }

    @Test
    void aPlanDocumentSurvivesTheRoundTrip() {
        PlanDocument doc = PlanJson.document(samplePlan());
        assertEquals(doc, PlanDocument.parse(doc.toJson(), "plan.json"));
        assertEquals(doc.id(), doc.contentId());
    }
}
