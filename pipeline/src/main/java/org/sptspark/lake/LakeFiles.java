package org.sptspark.lake;

import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.StandardOpenOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSError;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writing to the lake so readers never see half a file, and the commit protocol every format's
 * writer goes through ({@link #commit}, {@link #commitIfAbsent}).
 *
 * <p>Staged files are hidden ({@code .<name>.<writer id>.partial}, unique to each writer, so two
 * writers never write into one file) and moved into place only under the entry's commit lock
 * ({@code .<manifest>.lock}, created exclusively), manifest last: two writers of one entry at the
 * same time commit one after the other, never interleaved, and with {@link #commitIfAbsent} the
 * second finds the first's manifest and discards its own work. A lock held for longer than the
 * Hadoop setting {@value #LOCK_TIMEOUT_KEY} (seconds, default {@value #DEFAULT_LOCK_TIMEOUT_SECONDS};
 * the locked part is only renames) is presumed left by a killed writer and broken; the commit that
 * holds the lock also removes staged files of this entry that writers killed earlier left behind,
 * once they are older than that. Exclusive creation is atomic on a local disk (the OS's
 * create-new) and on HDFS; on S3 (hadoop-aws 3.3.4) it is a check and then a write.
 */
public final class LakeFiles {

    private static final Logger LOG = LoggerFactory.getLogger(LakeFiles.class);

    /** Hadoop setting: seconds after which a silent writer is presumed killed (its lock broken, its staged files removed). */
    public static final String LOCK_TIMEOUT_KEY = "spt.lake.lock-timeout";

    public static final long DEFAULT_LOCK_TIMEOUT_SECONDS = 120;

    private LakeFiles() {}

    /** Writes a file's bytes to a stream; the stream is closed by the caller. */
    @FunctionalInterface
    public interface Writer {
        void writeTo(OutputStream out) throws IOException;
    }

    /**
     * A payload file of a committed folder.
     *
     * @param name its name beside the manifest
     */
    public record Payload(String name, Writer writer) {

        /** A payload already in memory. */
        public static Payload of(String name, byte[] bytes) {
            return new Payload(name, out -> out.write(bytes));
        }
    }

    /** Builds a manifest's bytes once the payload is in place, from the payload's digests by name. */
    @FunctionalInterface
    public interface ManifestWriter {
        byte[] manifest(Map<String, FileDigest> files) throws IOException;
    }

    /**
     * Writes {@code bytes} to a hidden sibling ({@code .<name>.<writer id>.partial}) and renames it
     * over {@code file}: a reader sees the old file, no file, or the whole new one.
     */
    public static void writeAtomically(Configuration hadoop, Path file, byte[] bytes) throws IOException {
        writeAtomically(hadoop, file, out -> out.write(bytes));
    }

    /**
     * Streams a file to a hidden sibling unique to this call and renames it over {@code file}, as
     * {@link #writeAtomically(Configuration, Path, byte[])} does; when the writer or the file system
     * fails, the partial file is removed and {@code file} is left as it was.
     *
     * @return the digest of what was written
     * @throws IOException naming {@code file}, in one line
     */
    public static FileDigest writeAtomically(Configuration hadoop, Path file, Writer writer) throws IOException {
        FileSystem fs = file.getFileSystem(hadoop);
        Path staged = staging(file, writerId());
        FileDigest digest = stage(fs, staged, writer, file);
        try {
            move(fs, staged, file);
        } finally {
            deleteQuietly(fs, staged, null);
        }
        return digest;
    }

    /**
     * Commits a folder entry, replacing one already there: each payload file and the manifest
     * (built from the payload's digests) are staged beside it; then, under the entry's lock, the
     * old manifest is removed (a reader never pairs an old manifest with new files), the payload
     * moved into place and the manifest last. A failure before the end leaves no manifest, and a
     * failure before the lock leaves the old entry as it was.
     *
     * @param manifest the manifest file; payload files go in its folder
     * @return the payload's digests by name, in the payload's order
     * @throws IOException naming the file that could not be written, in one line
     */
    public static Map<String, FileDigest> commit(Configuration hadoop, Path manifest, List<Payload> payload,
            ManifestWriter writer) throws IOException {
        return commit(hadoop, manifest, payload, writer, true);
    }

    /**
     * Commits a folder entry as {@link #commit} does unless a manifest is already there (another
     * writer's, committed while this one staged): then this writer's staged files are discarded and
     * nothing is written.
     *
     * @return the payload's digests, or empty when another writer's commit was first
     */
    public static Optional<Map<String, FileDigest>> commitIfAbsent(Configuration hadoop, Path manifest,
            List<Payload> payload, ManifestWriter writer) throws IOException {
        return Optional.ofNullable(commit(hadoop, manifest, payload, writer, false));
    }

    /**
     * Fails, in one line naming the lake, unless a file can be created and removed at its root:
     * run before a job whose results go there.
     */
    public static void checkWritable(Configuration hadoop, String lake) {
        Path root = new Path(lake);
        Path probe = new Path(root, ".spt-write-check-" + writerId());
        try {
            FileSystem fs = root.getFileSystem(hadoop);
            mkdirs(fs, root);
            try (OutputStream out = fs.create(probe, false)) {
                out.write('\n');
            } catch (FSError e) {
                throw asIOException(e);
            } finally {
                deleteQuietly(fs, probe, null);
            }
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("lake " + lake + " is not writable: " + oneLine(e), e);
        }
    }

    private static Map<String, FileDigest> commit(Configuration hadoop, Path manifest, List<Payload> payload,
            ManifestWriter writer, boolean replace) throws IOException {
        FileSystem fs = manifest.getFileSystem(hadoop);
        Path dir = manifest.getParent();
        String id = writerId();
        var staged = new LinkedHashMap<Path, Path>(); // staged file -> its place, the manifest last
        try {
            mkdirs(fs, dir);
            var files = new LinkedHashMap<String, FileDigest>();
            for (Payload p : payload) {
                Path target = new Path(dir, p.name());
                Path s = staging(target, id);
                staged.put(s, target);
                files.put(p.name(), stage(fs, s, p.writer(), target));
            }
            byte[] bytes = writer.manifest(Collections.unmodifiableMap(files));
            Path stagedManifest = staging(manifest, id);
            staged.put(stagedManifest, manifest);
            stage(fs, stagedManifest, out -> out.write(bytes), manifest);
            long timeout = TimeUnit.SECONDS.toMillis(hadoop.getLong(LOCK_TIMEOUT_KEY, DEFAULT_LOCK_TIMEOUT_SECONDS));
            try (Lock lock = Lock.acquire(fs, manifest, id, timeout)) {
                if (!replace && fs.exists(manifest)) {
                    return null; // another writer committed first; the finally block discards ours
                }
                removeStale(fs, dir, names(payload, manifest), id, fs.getFileStatus(stagedManifest).getModificationTime()
                        - timeout);
                fs.delete(manifest, false);
                for (var e : staged.entrySet()) {
                    move(fs, e.getKey(), e.getValue());
                }
                staged.clear();
                return files;
            }
        } catch (FSError e) {
            throw asIOException(e);
        } finally {
            for (Path s : staged.keySet()) {
                deleteQuietly(fs, s, null);
            }
        }
    }

    /** A hidden name beside {@code file}, unique to one writer. */
    private static Path staging(Path file, String id) {
        return new Path(file.getParent(), "." + file.getName() + "." + id + ".partial");
    }

    private static String writerId() {
        return UUID.randomUUID().toString().substring(0, 8);
    }

    /** Writes {@code staged} whole or not at all (removed on failure); errors name {@code target}. */
    private static FileDigest stage(FileSystem fs, Path staged, Writer writer, Path target) throws IOException {
        MessageDigest sha = Digests.sha256();
        long bytes;
        try (OutputStream raw = fs.create(staged, true)) {
            var counted = new CountingStream(new DigestOutputStream(raw, sha));
            writer.writeTo(counted);
            counted.flush();
            bytes = counted.count;
        } catch (IOException | FSError e) {
            deleteQuietly(fs, staged, e);
            throw new IOException("cannot write " + target + ": " + oneLine(e), e);
        } catch (RuntimeException e) {
            deleteQuietly(fs, staged, e);
            throw e;
        }
        return new FileDigest(HexFormat.of().formatHex(sha.digest()), bytes);
    }

    private static void move(FileSystem fs, Path staged, Path target) throws IOException {
        fs.delete(target, false); // some file systems (HDFS) do not rename over a file
        if (!fs.rename(staged, target)) {
            throw new IOException("cannot move " + staged + " into place as " + target);
        }
    }

    private static void mkdirs(FileSystem fs, Path dir) throws IOException {
        if (!fs.mkdirs(dir)) {
            throw new IOException("cannot create the folder " + dir);
        }
    }

    private static List<String> names(List<Payload> payload, Path manifest) {
        var names = new ArrayList<String>();
        payload.forEach(p -> names.add(p.name()));
        names.add(manifest.getName());
        return names;
    }

    /** Removes staged files of these names, from other writers, last modified before {@code before}. */
    private static void removeStale(FileSystem fs, Path dir, List<String> names, String id, long before) {
        try {
            for (FileStatus s : fs.listStatus(dir)) {
                String n = s.getPath().getName();
                if (n.endsWith(".partial") && !n.endsWith("." + id + ".partial") && s.getModificationTime() < before
                        && names.stream().anyMatch(name -> n.startsWith("." + name + "."))) {
                    LOG.info("removing {}, staged by a writer that did not finish", s.getPath());
                    fs.delete(s.getPath(), false);
                }
            }
        } catch (IOException e) {
            LOG.warn("cannot remove stale staged files in {}: {}", dir, oneLine(e));
        }
    }

    private static void deleteQuietly(FileSystem fs, Path p, Throwable failure) {
        try {
            fs.delete(p, false);
        } catch (IOException | RuntimeException e) {
            if (failure != null) {
                failure.addSuppressed(e);
            }
        }
    }

    /** Hadoop's local file system reports a failed write (a full disk) as an {@link FSError}. */
    private static IOException asIOException(FSError e) {
        return e.getCause() instanceof IOException io ? new IOException(oneLine(io), e) : new IOException(oneLine(e), e);
    }

    /** An exception's message as one line (its class where it has none, the cause's for an FSError). */
    static String oneLine(Throwable e) {
        Throwable t = e instanceof FSError && e.getCause() != null ? e.getCause() : e;
        String m = t.getMessage();
        return (m == null || m.isBlank() ? t.getClass().getSimpleName() : m).replaceAll("\\s*\\R\\s*", " ").strip();
    }

    /**
     * An entry's commit lock, {@code .<manifest>.lock} beside it: created exclusively (the local file
     * system through the OS's create-new, others through Hadoop's create without overwrite, atomic
     * on HDFS), it holds its writer's id.
     */
    private static final class Lock implements AutoCloseable {
        private final FileSystem fs;
        private final Path path;

        private Lock(FileSystem fs, Path path) {
            this.fs = fs;
            this.path = path;
        }

        static Lock acquire(FileSystem fs, Path manifest, String id, long timeoutMillis) throws IOException {
            Path path = new Path(manifest.getParent(), "." + manifest.getName() + ".lock");
            String seen = null;
            long seenSince = 0;
            while (true) {
                if (createExclusive(fs, path, id)) {
                    return new Lock(fs, path);
                }
                String holder = read(fs, path);
                if (holder == null) {
                    continue; // released meanwhile
                }
                if (!holder.equals(seen)) {
                    seen = holder;
                    seenSince = System.nanoTime();
                } else if (System.nanoTime() - seenSince > TimeUnit.MILLISECONDS.toNanos(timeoutMillis)) {
                    LOG.warn("breaking {}: writer {} has held it for over {} ms (killed?)", path, holder, timeoutMillis);
                    if (holder.equals(read(fs, path))) {
                        deleteLock(fs, path);
                    }
                    seen = null;
                    continue;
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted waiting for " + path);
                }
            }
        }

        @Override
        public void close() {
            try {
                deleteLock(fs, path);
            } catch (IOException | RuntimeException e) {
                LOG.warn("cannot remove the commit lock {} (the next writer breaks it after the timeout): {}", path,
                        oneLine(e));
            }
        }

        private static File local(FileSystem fs, Path p) {
            if (!"file".equals(fs.getScheme())) {
                return null;
            }
            if (fs instanceof LocalFileSystem l) {
                return l.pathToFile(p);
            }
            return fs instanceof RawLocalFileSystem r ? r.pathToFile(p) : null;
        }

        /** Creates the lock holding {@code id}, or returns false when it exists; a lock this call made but could not fill is removed. */
        private static boolean createExclusive(FileSystem fs, Path p, String id) throws IOException {
            File file = local(fs, p);
            OutputStream out;
            try {
                out = file != null
                        ? Files.newOutputStream(file.toPath(), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)
                        : fs.create(p, false);
            } catch (FileAlreadyExistsException | org.apache.hadoop.fs.FileAlreadyExistsException e) {
                return false;
            } catch (IOException e) {
                if (fs.exists(p)) {
                    return false;
                }
                throw new IOException("cannot create the commit lock " + p + ": " + oneLine(e), e);
            }
            try (out) {
                out.write(id.getBytes(StandardCharsets.UTF_8));
            } catch (IOException | FSError e) {
                try {
                    deleteLock(fs, p);
                } catch (IOException cleanup) {
                    e.addSuppressed(cleanup);
                }
                throw new IOException("cannot create the commit lock " + p + ": " + oneLine(e), e);
            }
            return true;
        }

        /** The lock's holder, or null once it is gone. */
        private static String read(FileSystem fs, Path p) throws IOException {
            File file = local(fs, p);
            try {
                if (file != null) {
                    return new String(Files.readAllBytes(file.toPath()), StandardCharsets.UTF_8);
                }
                try (InputStream in = fs.open(p)) {
                    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
            } catch (FileNotFoundException | NoSuchFileException e) {
                return null;
            }
        }

        private static void deleteLock(FileSystem fs, Path p) throws IOException {
            File file = local(fs, p);
            if (file != null) {
                Files.deleteIfExists(file.toPath());
            } else {
                fs.delete(p, false);
            }
        }
    }

    /** Counts what passes through. */
    private static final class CountingStream extends java.io.FilterOutputStream {
        long count;

        CountingStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }

        @Override
        public void close() {
            // the caller closes the file system's stream
        }
    }
}
