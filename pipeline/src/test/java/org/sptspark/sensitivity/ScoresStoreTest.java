package org.sptspark.sensitivity;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.bench.AllocationBenchmark;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.TaskRef;
import org.sptspark.model.BackboneRef;
import org.sptspark.model.VitConfig;

class ScoresStoreTest {

    @TempDir
    Path lake;

    static final VitConfig SMALL = new VitConfig("store_small", 16, 4, 3, 32, 2, 4, 64, 5, 1e-6, 0.1);

    private ScoresManifest provenance() {
        return ScoresManifest.of(new BackboneRef(SMALL.name(), SMALL, null, null), new TaskRef("demo", "toy", 5, null, null));
    }

    @Test
    void scoresRoundTripAndTheManifestIsTheCommitPoint() throws Exception {
        var scores = AllocationBenchmark.randomScores(SMALL, 3);
        String folder = ScoresStore.folder(lake.toString(), "demo", "toy", SMALL.name(), "0123456789abcdef");
        assertTrue(folder.endsWith("/sensitivity/demo/toy/store_small-0123456789ab"), folder);
        assertFalse(ScoresStore.committed(HadoopFiles.configuration(), folder));
        ScoresStore.write(HadoopFiles.configuration(), folder, scores, provenance());
        assertTrue(ScoresStore.committed(HadoopFiles.configuration(), folder));
        SensitivityScores back = ScoresStore.read(HadoopFiles.configuration(), folder);
        assertEquals(SMALL, back.space().config());
        for (var e : scores.scores().entrySet()) {
            assertArrayEquals(e.getValue(), back.get(e.getKey()), e.getKey());
        }
        // without its manifest the folder is not there for readers
        Files.delete(Path.of(folder, ScoresStore.MANIFEST));
        assertFalse(ScoresStore.committed(HadoopFiles.configuration(), folder));
        var e = assertThrows(IllegalArgumentException.class, () -> ScoresStore.read(HadoopFiles.configuration(), folder));
        assertTrue(e.getMessage().contains("no committed sensitivity scores"), e.getMessage());
    }

    @Test
    void aScoresFileThatDoesNotMatchItsManifestIsRefused() throws Exception {
        String folder = lake.resolve("s").toString();
        ScoresStore.write(HadoopFiles.configuration(), folder, AllocationBenchmark.randomScores(SMALL, 4), provenance());
        Path file = Path.of(folder, ScoresStore.SCORES);
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 3] ^= 0x10;
        Files.write(file, bytes);
        // a local or HDFS lake keeps checksums beside the file, and they catch it first
        Path crc = Path.of(folder, "." + ScoresStore.SCORES + ".crc");
        assertTrue(Files.exists(crc), "the local file system writes checksum sidecars");
        var e = assertThrows(IllegalArgumentException.class, () -> ScoresStore.read(HadoopFiles.configuration(), folder));
        assertTrue(e.getMessage().contains("is corrupted"), e.getMessage());
        // an object store keeps none: the manifest's sha256 catches it
        Files.delete(crc);
        e = assertThrows(IllegalArgumentException.class, () -> ScoresStore.read(HadoopFiles.configuration(), folder));
        assertTrue(e.getMessage().contains("does not match its manifest's sha256"), e.getMessage());
    }
}
