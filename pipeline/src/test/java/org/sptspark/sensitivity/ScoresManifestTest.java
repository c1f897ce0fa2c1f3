package org.sptspark.sensitivity;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.bench.AllocationBenchmark;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.TaskRef;
import org.sptspark.lake.Digests;
import org.sptspark.lake.FileDigest;
import org.sptspark.lake.SoftwareVersions;
import org.sptspark.model.BackboneRef;

class ScoresManifestTest {

    @TempDir
    Path lake;

    /** A version-1 manifest as the scores writer wrote it before version 2, with SCORES_SHA in place of the digest. */
    static final String VERSION_1 = """
            {
              "format": "spt-scores",
              "version": 1,
              "id": "SCORES_SHA",
              "backbone": {
                "preset": "store_small",
                "architecture": {
                  "name": "store_small", "imageSize": 16, "patchSize": 4, "inChannels": 3, "embedDim": 32, "depth": 2,
                  "numHeads": 4, "mlpDim": 64, "numClasses": 5, "layerNormEps": 1.0E-6, "dropPathRate": 0.1
                },
                "checkpoint": "file:/lake/backbones/small.safetensors",
                "sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
              },
              "task": {"suite": "demo", "name": "toy", "classes": 5, "group": "structured", "data": "/data/demo"},
              "split": "train800",
              "batches": 16,
              "batchSize": 32,
              "images": 512,
              "seed": 0,
              "dropPath": 0.1,
              "head": "trunc_normal(std 0.02), bias 0, from the seed",
              "normalization": "imagenet",
              "precision": "fp32",
              "wallSeconds": 12.5,
              "createdAt": "2026-11-30T10:00:00Z",
              "versions": {"spt": "(development build)", "DJL": "0.35.1", "Java": "17.0.15", "PyTorch": "2.7.1",
                           "Spark": "3.5.9"},
              "files": {"scores.safetensors": "SCORES_SHA"}
            }
            """;

    static ScoresManifest full() {
        return new ScoresManifest("ab12", new BackboneRef("store_small", ScoresStoreTest.SMALL, "file:/b.safetensors",
                "0123"), new TaskRef("demo", "toy", 5, "structured", "/data"), "train800", 16, 32, 512, 7, 0.1,
                "trunc_normal(std 0.02), bias 0, from the seed", "imagenet", "fp32", 12.5, "2026-12-01T00:00:00Z",
                new SoftwareVersions("0.1", "0.35.1", "17", "2.7.1", "3.5.9"),
                Map.of(ScoresStore.SCORES, new FileDigest("ab12", 4096)));
    }

    @Test
    void aManifestSurvivesTheRoundTripAtVersion2() {
        String json = new String(full().toJson(), StandardCharsets.UTF_8);
        assertTrue(json.contains("\"version\": 2") && json.contains("\"bytes\": 4096"), json);
        assertEquals(full(), ScoresManifest.parse(json, "manifest.json"));
    }

    @Test
    void aVersion1ManifestReadsWithItsBareDigests() {
        var m = ScoresManifest.parse(VERSION_1.replace("SCORES_SHA", "feed"), "old/manifest.json");
        assertEquals(new FileDigest("feed", -1), m.files().get(ScoresStore.SCORES));
        assertEquals("feed", m.id());
        assertEquals(ScoresStoreTest.SMALL, m.backbone().architecture());
        assertEquals(new TaskRef("demo", "toy", 5, "structured", "/data/demo"), m.task());
        assertEquals(16, m.batches());
        assertEquals("3.5.9", m.versions().spark());
    }

    @Test
    void committedScoresWithAVersion1ManifestStillRead() throws Exception {
        var scores = AllocationBenchmark.randomScores(ScoresStoreTest.SMALL, 5);
        String folder = ScoresStore.folder(lake.toString(), "demo", "toy", "store_small", "0123456789abcdef");
        ScoresStore.write(HadoopFiles.configuration(), folder, scores, ScoresManifest.of(
                new BackboneRef("store_small", ScoresStoreTest.SMALL, null, null), null));
        String sha = Digests.sha256Hex(Files.readAllBytes(Path.of(folder, ScoresStore.SCORES)));
        Path manifest = Path.of(folder, ScoresStore.MANIFEST);
        Files.writeString(manifest, VERSION_1.replace("SCORES_SHA", sha));
        Files.deleteIfExists(Path.of(folder, "." + ScoresStore.MANIFEST + ".crc"));

        assertTrue(ScoresStore.committed(HadoopFiles.configuration(), folder));
        var back = ScoresStore.read(HadoopFiles.configuration(), folder);
        assertEquals(sha, back.id());
        for (var e : scores.scores().entrySet()) {
            assertArrayEquals(e.getValue(), back.get(e.getKey()), e.getKey());
        }
    }

    @Test
    void aNewerOrForeignManifestIsRefusedNamingTheFile() throws Exception {
        String folder = ScoresStore.folder(lake.toString(), "demo", "toy", "store_small", "0123456789abcdef");
        ScoresStore.write(HadoopFiles.configuration(), folder, AllocationBenchmark.randomScores(ScoresStoreTest.SMALL, 6),
                ScoresManifest.of(new BackboneRef("store_small", ScoresStoreTest.SMALL, null, null), null));
        Path manifest = Path.of(folder, ScoresStore.MANIFEST);
        Files.deleteIfExists(Path.of(folder, "." + ScoresStore.MANIFEST + ".crc"));
        String written = Files.readString(manifest);

        Files.writeString(manifest, written.replace("\"version\": 2", "\"version\": 3"));
        assertFalse(ScoresStore.committed(HadoopFiles.configuration(), folder));
        var e = assertThrows(IllegalArgumentException.class, () -> ScoresStore.read(HadoopFiles.configuration(), folder));
        assertTrue(e.getMessage().contains(ScoresStore.MANIFEST + " is spt-scores version 3, but this build reads up to"
                + " version 2"), e.getMessage());

        Files.writeString(manifest, written.replace("\"spt-scores\"", "\"spt-artifact\""));
        e = assertThrows(IllegalArgumentException.class, () -> ScoresStore.read(HadoopFiles.configuration(), folder));
        assertTrue(e.getMessage().endsWith(ScoresStore.MANIFEST + " is not a sensitivity manifest (format \"spt-artifact\","
                + " expected \"spt-scores\")"), e.getMessage());
    }
}
