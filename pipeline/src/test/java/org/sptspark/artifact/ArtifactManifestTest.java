package org.sptspark.artifact;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.TaskRef;
import org.sptspark.lake.FileDigest;
import org.sptspark.lake.SoftwareVersions;
import org.sptspark.model.BackboneRef;
import org.sptspark.model.VitConfig;

public class ArtifactManifestTest {

    static final VitConfig ARCH = new VitConfig("vit_demo_patch8_32", 32, 8, 3, 96, 6, 3, 384, 10, 1e-6, 0.1);

    /** An SPT artifact's manifest as training wrote it at version 1, keys in its order. */
    public static final String VERSION_1 = """
            {
              "task": {"suite": "demo", "name": "mnist", "classes": 10, "group": "natural", "data": "/data/demo"},
              "backbone": {
                "preset": "vit_demo_patch8_32",
                "architecture": {"name": "vit_demo_patch8_32", "imageSize": 32, "patchSize": 8, "inChannels": 3,
                  "embedDim": 96, "depth": 6, "numHeads": 3, "mlpDim": 384, "numClasses": 10, "layerNormEps": 1.0E-6,
                  "dropPathRate": 0.1},
                "checkpoint": "file:/lake/backbones/vit_demo_patch8_32.safetensors",
                "sha256": "6a291a0198b7f5af82a6bd92ff54b012df1f51fc63cc0991f62f34a324c6a507"
              },
              "method": "spt-lora",
              "rank": 8,
              "budget": {"label": "20k", "target": 20000, "achieved": 19876},
              "trainable": {"backbone": 19876, "head": 970, "total": 20846},
              "plan": {"id": "2975ffd4", "uri": "file:/lake/plans/demo/mnist/p/spt-lora-20k.json", "scores": "feed",
                "unstructured": 1200, "structured": 18000, "whole": 676},
              "recipe": {"epochs": 2, "batchSize": 64, "lr": 0.001, "weightDecay": 1.0E-4, "warmupEpochs": 1,
                "warmupLr": 1.0E-6, "minLr": 1.0E-5, "dropPath": 0.1, "evalEvery": 0, "seed": 0, "precision": "bf16"},
              "normalization": "imagenet",
              "metrics": {"top1": 0.875, "testImages": 400, "perClassTop1": [0.9, null, 0.85], "trainLoss": 0.42,
                "trainTop1": 0.91, "valTop1": 0.88, "trainImages": 1000, "trainSeconds": 31.5, "evalSeconds": 2.25,
                "steps": 32, "optimizerStateBytes": 166784},
              "versions": {"spt": "(development build)", "DJL": "0.35.1", "Java": "17.0.15", "PyTorch": "2.7.1",
                "Spark": "3.5.9"},
              "format": "spt-artifact",
              "version": 1,
              "files": {"adapter.safetensors": {"sha256": "beef", "bytes": 81234}},
              "createdAt": "2026-11-30T10:00:00.123Z"
            }
            """;

    /** A SNELLA artifact's manifest as training wrote it at version 1: no plan, a snella object, a baseline's recipe. */
    static final String SNELLA_VERSION_1 = """
            {"task": {"suite": "demo", "name": "mnist", "classes": 10, "group": "natural", "data": "/data/demo"},
             "backbone": {"preset": "p", "architecture": %s, "checkpoint": "c", "sha256": "s"},
             "method": "snella", "rank": 0,
             "snella": {"rank": 8, "heads": 4, "initSparsity": 0.5, "targetSparsity": 0.9, "initWarmup": 1,
               "finalWarmup": 1, "maskInterval": 10, "beta1": 0.85, "beta2": 0.85, "entries": 4000, "nonZero": 400,
               "matrices": [{"tensor": "blocks.0.attn.q.weight", "entries": 2000, "kept": 150, "score": 0.25},
                            {"tensor": "blocks.0.mlp.fc1.weight", "entries": 2000, "kept": 250}]},
             "budget": {"label": "sparsity0.9", "target": 400, "achieved": 400},
             "trainable": {"backbone": 400, "head": 970, "total": 1370},
             "recipe": {"epochs": 2, "batchSize": 64, "lr": 0.001, "weightDecay": 1.0E-4, "warmupEpochs": 1,
               "warmupLr": 1.0E-6, "minLr": 1.0E-5, "dropPath": 0.1, "evalEvery": 0, "seed": 0},
             "metrics": {"top1": NaN, "testImages": 0, "perClassTop1": [], "trainLoss": NaN, "trainTop1": 0.0,
               "trainImages": 10, "trainSeconds": 1.0, "evalSeconds": 0.5, "steps": 1, "optimizerStateBytes": 0},
             "versions": {},
             "format": "spt-artifact", "version": 1,
             "files": {"adapter.safetensors": {"sha256": "beef", "bytes": 10}},
             "createdAt": "2026-11-30T10:00:00Z"}
            """.formatted(ARCH.toJson());

    @Test
    void aVersion1ManifestAsTrainingWroteItReadsWithEveryField() {
        var m = ArtifactManifest.parse(VERSION_1, "a/manifest.json");
        assertEquals(new TaskRef("demo", "mnist", 10, "natural", "/data/demo"), m.task());
        assertEquals(ARCH, m.backbone().architecture());
        assertEquals("6a291a0198b7f5af82a6bd92ff54b012df1f51fc63cc0991f62f34a324c6a507", m.backbone().sha256());
        assertEquals(new ArtifactManifest.Budget("20k", 20000L, 19876), m.budget());
        assertEquals("2975ffd4", m.plan().id());
        assertEquals(Arrays.asList(0.9, null, 0.85), m.metrics().perClassTop1());
        assertEquals("bf16", m.precision());
        assertEquals(new FileDigest("beef", 81234), m.files().get(Artifacts.TENSORS));
        assertEquals("3.5.9", m.versions().spark());
        // nothing is lost: written back, it is the same document, at version 2 (which only adds a field)
        assertEquals(JsonParser.parseString(VERSION_1.replace("\"version\": 1", "\"version\": 2")),
                JsonParser.parseString(new String(m.toJson(), StandardCharsets.UTF_8)));
    }

    @Test
    void aVersion1SnellaManifestReadsAndKeepsNaNAndAbsentFields() {
        var m = ArtifactManifest.parse(SNELLA_VERSION_1, "s/manifest.json");
        assertEquals(2, m.snella().matrices().size());
        assertNull(m.snella().matrices().get(1).score());
        assertEquals(List.of(Map.entry("blocks.0.attn.q.weight", 150L), Map.entry("blocks.0.mlp.fc1.weight", 250L)),
                List.copyOf(m.snella().keptByTensor().entrySet()), "the allocation table's rows, in order");
        assertNull(m.plan());
        assertNull(m.metrics().valTop1());
        assertTrue(Double.isNaN(m.metrics().top1()));
        assertEquals("fp32", m.precision(), "artifacts from before precision was recorded trained in fp32");
        assertEquals("imagenet", m.normalizationOrDefault());
        assertEquals(JsonParser.parseString(SNELLA_VERSION_1.replace("\"version\": 1", "\"version\": 2")),
                JsonParser.parseString(new String(m.toJson(), StandardCharsets.UTF_8)));
    }

    @Test
    void aManifestSurvivesTheRoundTrip() {
        var recipe = new JsonObject();
        recipe.addProperty("epochs", 3);
        var m = new ArtifactManifest(new TaskRef("demo", "t", 3, "g", "/d"), new BackboneRef("p", ARCH, "c", "s"), "lora",
                4, new ArtifactManifest.Budget(null, null, 120), null, new ArtifactManifest.Trainable(120, 30, 150),
                new ArtifactManifest.PlanRef("id", "uri", "scores", 1, 2, 3), recipe, "imagenet",
                new ArtifactManifest.Metrics(0.5, 10, List.of(0.5, 0.25), 1.5, 0.75, null, 20, 3.0, 1.0, 5, 64),
                new SoftwareVersions("0.1", null, "17", null, null), Map.of(Artifacts.TENSORS, new FileDigest("ab", 9)),
                "2026-12-01T00:00:00Z");
        String json = new String(m.toJson(), StandardCharsets.UTF_8);
        assertTrue(json.startsWith("{\n  \"format\": \"spt-artifact\",\n  \"version\": 2,"), json);
        assertFalse(json.contains("\"label\"") || json.contains("valTop1") || json.contains("snella"), json);
        assertEquals(m, ArtifactManifest.parse(json, "m.json"));
    }

    @Test
    void aNewerOrForeignOrIncompleteManifestIsRefusedInOneLineNamingTheFile(@TempDir Path dir) throws Exception {
        Path folder = Files.createDirectories(dir.resolve("artifact"));
        Path file = folder.resolve(Artifacts.MANIFEST);
        var hadoop = HadoopFiles.configuration();

        Files.writeString(file, VERSION_1.replace("\"version\": 1", "\"version\": 3"));
        assertFalse(Artifacts.committed(hadoop, folder.toString()));
        var e = assertThrows(IllegalArgumentException.class, () -> Artifacts.manifest(hadoop, folder.toString()));
        assertTrue(e.getMessage().endsWith("artifact/manifest.json is spt-artifact version 3, but this build reads up to"
                + " version 2: read it with a newer spt"), e.getMessage());

        Files.writeString(file, VERSION_1.replace("\"spt-artifact\"", "\"spt-scores\""));
        e = assertThrows(IllegalArgumentException.class, () -> Artifacts.manifest(hadoop, folder.toString()));
        assertTrue(e.getMessage().endsWith("artifact/manifest.json is not an artifact manifest (format \"spt-scores\","
                + " expected \"spt-artifact\")"), e.getMessage());

        Files.writeString(file, "{\"format\": \"spt-artifact\", \"version\": 1, \"method\": \"lora\"}");
        e = assertThrows(IllegalArgumentException.class, () -> Artifacts.manifest(hadoop, folder.toString()));
        assertTrue(e.getMessage().endsWith("artifact/manifest.json is not a valid artifact manifest: an artifact manifest"
                + " names its task, backbone and method"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }
}
