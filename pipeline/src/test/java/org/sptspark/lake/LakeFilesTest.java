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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
                    assertEquals(1, partials().size(), "the payload is staged first, under a hidden name");
                    assertFalse(Files.exists(dir.resolve("entry/a.bin")), "and moved into place with the manifest");
                    assertFalse(Files.exists(dir.resolve("entry/manifest.json")));
                    return ("{\"a\": \"" + digests.get("a.bin").sha256() + "\"}").getBytes(StandardCharsets.UTF_8);
                });
        assertEquals(FileDigest.of(payload), files.get("a.bin"));
        assertEquals(7, files.get("a.bin").bytes());
        assertTrue(Files.readString(dir.resolve("entry/manifest.json")).contains(Digests.sha256Hex(payload)));
        assertEquals(List.of(), partials(), "nothing staged is left behind");
    }

    @Test
    void aPayloadThatFailsToWriteLeavesTheCommittedEntryAsItWas() throws Exception {
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
        assertEquals("cannot write " + new org.apache.hadoop.fs.Path(dir.resolve("entry/a.bin").toUri()) + ": disk full",
                e.getMessage(), "one line naming the file");
        assertEquals("{}", Files.readString(dir.resolve("entry/manifest.json")), "the old manifest is still there");
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

    @Test
    void twoWritersOfOneEntryCommitItOnceAndTheSecondDiscardsItsOwn() throws Exception {
        for (int round = 0; round < 20; round++) {
            var entry = new org.apache.hadoop.fs.Path(dir.resolve("race" + round + "/manifest.json").toUri());
            int writers = 4;
            var staged = new java.util.concurrent.CyclicBarrier(writers);
            var pool = java.util.concurrent.Executors.newFixedThreadPool(writers);
            var results = new ArrayList<java.util.concurrent.Future<java.util.Optional<Map<String, FileDigest>>>>();
            for (int w = 0; w < writers; w++) {
                byte[] payload = ("payload of writer " + w).getBytes(StandardCharsets.UTF_8);
                results.add(pool.submit(() -> LakeFiles.commitIfAbsent(hadoop, entry,
                        List.of(LakeFiles.Payload.of("a.bin", payload)), digests -> {
                            await(staged); // every writer has staged its payload: they commit together
                            return digests.get("a.bin").sha256().getBytes(StandardCharsets.UTF_8);
                        })));
            }
            pool.shutdown();
            int won = 0;
            for (var r : results) {
                won += r.get().isPresent() ? 1 : 0;
            }
            Path folder = dir.resolve("race" + round);
            assertEquals(1, won, "one writer commits, the others find its manifest and discard theirs");
            assertEquals(Digests.sha256Hex(Files.readAllBytes(folder.resolve("a.bin"))),
                    Files.readString(folder.resolve("manifest.json")), "the manifest is the payload's: not torn");
            try (Stream<Path> files = Files.list(folder)) {
                assertEquals(List.of("a.bin", "manifest.json"), files.map(p -> p.getFileName().toString())
                        .filter(n -> !n.endsWith(".crc")).sorted().toList(), "no staged file or lock is left");
            }
        }
    }

    @Test
    void aLockLeftByAKilledWriterIsBrokenAfterTheTimeout() throws Exception {
        Files.createDirectories(dir.resolve("entry"));
        Files.writeString(dir.resolve("entry/.manifest.json.lock"), "dead1234");
        var conf = new Configuration();
        conf.setLong(LakeFiles.LOCK_TIMEOUT_KEY, 1);
        long started = System.nanoTime();
        LakeFiles.commit(conf, manifest(), List.of(LakeFiles.Payload.of("a.bin", new byte[] {1})), d -> new byte[] {'x'});
        assertTrue(System.nanoTime() - started >= 1_000_000_000L, "it waited for the holder first");
        assertEquals("x", Files.readString(dir.resolve("entry/manifest.json")));
        assertFalse(Files.exists(dir.resolve("entry/.manifest.json.lock")));
    }

    /**
     * A writer killed (SIGKILL, in a JVM of its own) half-way through its payload, or with its payload
     * staged, leaves nothing a reader sees: no manifest, no payload under its name, only hidden staged
     * files, which the next commit of the entry removes once they are older than the lock timeout.
     */
    @Test
    void aWriterKilledMidCommitLeavesNothingVisible() throws Exception {
        for (String where : List.of("payload", "manifest")) {
            Path folder = dir.resolve("killed-" + where);
            Path marker = dir.resolve(where + ".stopped");
            Path log = dir.resolve(where + ".log");
            var entry = new org.apache.hadoop.fs.Path(folder.resolve("manifest.json").toUri());
            Process p = JavaProcess.start(CommitProcess.class, log, entry.toString(), where, marker.toString());
            JavaProcess.await(p, log, 60, "the writer stopped in its " + where, () -> Files.exists(marker));
            JavaProcess.kill(p);
            assertEquals(List.of(), visible(folder), "nothing visible after a kill in the " + where);
            assertEquals(1, partials(folder).size(), partials(folder).toString());

            var conf = new Configuration();
            conf.setLong(LakeFiles.LOCK_TIMEOUT_KEY, 0);
            LakeFiles.commit(conf, entry, List.of(LakeFiles.Payload.of("a.bin", new byte[] {7})), d -> new byte[] {'m'});
            assertEquals(List.of("a.bin", "manifest.json"), visible(folder));
            assertEquals(List.of(), partials(folder), "the killed writer's staged file was removed");
        }
    }

    @Test
    void aFullDiskFailsTheCommitInOneLineAndLeavesTheEntryAsItWas() throws Exception {
        var conf = FaultyFileSystem.register(new Configuration());
        var entry = new org.apache.hadoop.fs.Path(FaultyFileSystem.uri(dir.resolve("full/manifest.json")));
        try {
            LakeFiles.commit(conf, entry, List.of(LakeFiles.Payload.of("a.bin", new byte[] {1, 2, 3})), d -> new byte[] {'1'});
            // the payload does not fit; then it fits but the manifest does not
            for (long space : new long[] {100, 1000 + 5}) {
                FaultyFileSystem.SPACE.set(space);
                var e = assertThrows(IOException.class, () -> LakeFiles.commit(conf, entry,
                        List.of(LakeFiles.Payload.of("a.bin", new byte[1000])), d -> "new manifest".getBytes(StandardCharsets.UTF_8)));
                String file = space == 100 ? "a.bin" : "manifest.json";
                assertEquals("cannot write " + entry.getParent() + "/" + file + ": No space left on device", e.getMessage());
                FaultyFileSystem.reset();
                assertEquals(List.of("a.bin", "manifest.json"), visible(dir.resolve("full")));
                assertEquals("1", Files.readString(dir.resolve("full/manifest.json")), "the committed entry is untouched");
                assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(dir.resolve("full/a.bin")));
                assertEquals(List.of(), partials(dir.resolve("full")), "what was staged is removed");
            }
        } finally {
            FaultyFileSystem.reset();
        }
    }

    @Test
    void aReadOnlyLakeIsRefusedInOneLineNamingIt() throws Exception {
        Path lake = Files.createDirectories(dir.resolve("ro-lake"));
        var conf = FaultyFileSystem.register(new Configuration());
        String uri;
        boolean chmod = lake.toFile().setWritable(false, false) && !canWrite(lake);
        if (chmod) {
            uri = lake.toUri().toString();
        } else { // root writes through chmod: make the lake read-only in the file system instead
            lake.toFile().setWritable(true, false);
            FaultyFileSystem.readOnly = true;
            uri = FaultyFileSystem.uri(lake);
        }
        try {
            var e = assertThrows(IllegalArgumentException.class, () -> LakeFiles.checkWritable(conf, uri));
            assertTrue(e.getMessage().startsWith("lake " + uri + " is not writable: "), e.getMessage());
            assertTrue(e.getMessage().matches(".*(Permission denied|Read-only file system)\\)?$"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
            var entry = new org.apache.hadoop.fs.Path(uri + "/artifacts/x/manifest.json");
            var c = assertThrows(IOException.class, () -> LakeFiles.commit(conf, entry,
                    List.of(LakeFiles.Payload.of("a.bin", new byte[] {1})), d -> new byte[] {'m'}));
            assertEquals("cannot create the folder " + entry.getParent(), c.getMessage());
            assertEquals(List.of(), visible(lake));
        } finally {
            FaultyFileSystem.reset();
            lake.toFile().setWritable(true, false);
        }
    }

    private static boolean canWrite(Path dir) {
        try {
            Files.delete(Files.createFile(dir.resolve("probe")));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void await(java.util.concurrent.CyclicBarrier barrier) throws IOException {
        try {
            barrier.await(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IOException(e);
        }
    }

    /** The files a reader lists in a folder: not hidden, not Hadoop's checksums. */
    static List<String> visible(Path folder) throws IOException {
        if (!Files.isDirectory(folder)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(folder)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList();
        }
    }

    private static List<Path> partials(Path folder) throws IOException {
        try (Stream<Path> walk = Files.walk(folder)) {
            return walk.filter(p -> p.getFileName().toString().endsWith(".partial")).toList();
        }
    }

    private List<Path> partials() throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(p -> p.getFileName().toString().endsWith(".partial")).toList();
        }
    }
}
