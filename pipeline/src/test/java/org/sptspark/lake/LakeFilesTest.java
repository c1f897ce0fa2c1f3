package org.sptspark.lake;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LakeFilesTest {

    @TempDir
    Path dir;

    private final Configuration hadoop = new Configuration();

    private org.apache.hadoop.fs.Path manifest() {
        return new org.apache.hadoop.fs.Path(dir.resolve("entry/manifest.json").toUri());
    }

    @Test
    void aCommitWritesThePayloadThenAManifestFromItsDigests() throws Exception {
        byte[] payload = "tensors".getBytes(StandardCharsets.UTF_8);
        var files = LakeFiles.commit(hadoop, manifest(), List.of(LakeFiles.Payload.of("a.bin", payload)),
                digests -> {
                    assertArrayEquals(payload, Files.readAllBytes(dir.resolve("entry/a.bin")), "the payload is in place first");
                    assertFalse(Files.exists(dir.resolve("entry/manifest.json")));
                    return ("{\"a\": \"" + digests.get("a.bin").sha256() + "\"}").getBytes(StandardCharsets.UTF_8);
                });
        assertEquals(FileDigest.of(payload), files.get("a.bin"));
        assertEquals(7, files.get("a.bin").bytes());
        assertTrue(Files.readString(dir.resolve("entry/manifest.json")).contains(Digests.sha256Hex(payload)));
        assertEquals(List.of(), partials(), "nothing staged is left behind");
    }

    @Test
    void aPayloadThatFailsToWriteLeavesNoManifest() throws Exception {
        LakeFiles.commit(hadoop, manifest(), List.of(LakeFiles.Payload.of("a.bin", new byte[] {1, 2, 3})),
                digests -> "{}".getBytes(StandardCharsets.UTF_8));
        assertTrue(Files.exists(dir.resolve("entry/manifest.json")));

        var failing = new LakeFiles.Payload("a.bin", out -> {
            out.write(new byte[] {9, 9});
            throw new IOException("disk full");
        });
        var e = assertThrows(IOException.class, () -> LakeFiles.commit(hadoop, manifest(), List.of(failing),
                digests -> {
                    throw new AssertionError("no manifest is built after a failed payload");
                }));
        assertEquals("disk full", e.getMessage());
        assertFalse(Files.exists(dir.resolve("entry/manifest.json")), "the old manifest was removed and no new one written");
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(dir.resolve("entry/a.bin")),
                "the old payload file was not replaced by half a new one");
        assertEquals(List.of(), partials());
    }

    @Test
    void aManifestThatFailsToBuildLeavesNoManifest() throws Exception {
        assertThrows(IllegalStateException.class, () -> LakeFiles.commit(hadoop, manifest(),
                List.of(LakeFiles.Payload.of("a.bin", new byte[] {1})), digests -> {
                    throw new IllegalStateException("no");
                }));
        assertFalse(Files.exists(dir.resolve("entry/manifest.json")));
    }

    private List<Path> partials() throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(p -> p.getFileName().toString().endsWith(".partial")).toList();
        }
    }
}
