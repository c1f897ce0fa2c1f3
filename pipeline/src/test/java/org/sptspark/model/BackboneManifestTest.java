package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.sptspark.lake.SoftwareVersions;

class BackboneManifestTest {

    /** The bundled demo backbone's manifest as pretraining wrote it, before backbone manifests had a version. */
    static final String WITHOUT_VERSION = """
            {
              "format": "spt-backbone",
              "checkpoint": "vit_demo_patch8_32.safetensors",
              "sha256": "6a291a0198b7f5af82a6bd92ff54b012df1f51fc63cc0991f62f34a324c6a507",
              "preset": "vit_demo_patch8_32",
              "architecture": {"name": "vit_demo_patch8_32", "imageSize": 32, "patchSize": 8, "inChannels": 3,
                "embedDim": 96, "depth": 6, "numHeads": 3, "mlpDim": 384, "numClasses": 110, "layerNormEps": 1.0E-6,
                "dropPathRate": 0.1},
              "command": "jobs/bin/spt pretrain --suite demo --data DATA --preset vit_demo_patch8_32",
              "upstream": ["mnist_full (10 classes)", "gen_shapes_large (100 classes)"],
              "trainImages": 75000,
              "recipe": {"epochs": 6, "batchSize": 128, "lr": 0.001, "weightDecay": 0.05, "warmupEpochs": 0,
                "warmupLr": 1.0E-6, "minLr": 1.0E-5, "dropPath": 0.1, "evalEvery": 0, "seed": 0},
              "testTop1": {"mnist_full": 0.98, "gen_shapes_large": 0.9},
              "finalTrainLoss": 0.12317033633152644,
              "seconds": 677.00487603,
              "versions": {"spt": "(development build)", "DJL": "0.35.1", "Java": "17.0.15", "PyTorch": "2.7.1"},
              "createdAt": "2026-11-22T23:27:32.375594800Z"
            }
            """;

    @Test
    void aManifestWithoutAVersionReadsAsVersion1AndIsWrittenBackWithIt() {
        var m = BackboneManifest.parse(WITHOUT_VERSION, "vit_demo_patch8_32.safetensors.json");
        assertEquals(110, m.architecture().numClasses());
        assertEquals(Map.of("mnist_full", 0.98, "gen_shapes_large", 0.9), m.testTop1());
        assertEquals("2.7.1", m.versions().pytorch());
        JsonObject expected = JsonParser.parseString(WITHOUT_VERSION).getAsJsonObject();
        expected.addProperty("version", 1);
        assertEquals(expected, JsonParser.parseString(new String(m.toJson(), StandardCharsets.UTF_8)));
    }

    @Test
    void aManifestSurvivesTheRoundTrip() {
        var recipe = new JsonObject();
        recipe.addProperty("epochs", 1);
        var m = new BackboneManifest("b.safetensors", "ab", "p", VitPresets.get(VitPresets.DEMO), "spt pretrain",
                List.of("a (2 classes)"), 10, recipe, Map.of("a", 0.5), 0.25, 3.5,
                new SoftwareVersions("0.1", "0.35.1", "17", "2.7.1", null), "2026-12-01T00:00:00Z");
        assertEquals(m, BackboneManifest.parse(new String(m.toJson(), StandardCharsets.UTF_8), "b.safetensors.json"));
    }

    @Test
    void aNewerOrForeignManifestIsRefusedInOneLine() {
        var e = assertThrows(IllegalArgumentException.class, () -> BackboneManifest.parse(
                WITHOUT_VERSION.replace("\"format\": \"spt-backbone\",", "\"format\": \"spt-backbone\", \"version\": 2,"),
                "b.json"));
        assertEquals("b.json is spt-backbone version 2, but this build reads up to version 1: read it with a newer spt",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BackboneManifest.parse(
                WITHOUT_VERSION.replace("spt-backbone", "spt-plan"), "b.json"));
        assertTrue(e.getMessage().startsWith("b.json is not a backbone manifest"), e.getMessage());
    }
}
