package org.sptspark.lake;

import java.io.IOException;
import java.io.OutputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Writing to the lake so readers never see half a file, and the commit protocol every format's
 * writer goes through ({@link #commit}).
 */
public final class LakeFiles {

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
     * Writes {@code bytes} to a hidden sibling ({@code .<name>.partial}) and renames it over
     * {@code file}: a reader sees the old file, no file, or the whole new one.
     */
    public static void writeAtomically(Configuration hadoop, Path file, byte[] bytes) throws IOException {
        writeAtomically(hadoop, file, out -> out.write(bytes));
    }

    /**
     * Streams a file to a hidden sibling ({@code .<name>.partial}) and renames it over {@code file},
     * as {@link #writeAtomically(Configuration, Path, byte[])} does; when the writer fails, the
     * partial file is removed and {@code file} is left as it was.
     *
     * @return the digest of what was written
     */
    public static FileDigest writeAtomically(Configuration hadoop, Path file, Writer writer) throws IOException {
        FileSystem fs = file.getFileSystem(hadoop);
        Path staged = new Path(file.getParent(), "." + file.getName() + ".partial");
        MessageDigest sha = Digests.sha256();
        long bytes;
        try (OutputStream raw = fs.create(staged, true)) {
            var counted = new CountingStream(new DigestOutputStream(raw, sha));
            writer.writeTo(counted);
            counted.flush();
            bytes = counted.count;
        } catch (IOException | RuntimeException e) {
            try {
                fs.delete(staged, false);
            } catch (IOException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
        fs.delete(file, false);
        if (!fs.rename(staged, file)) {
            throw new IOException("cannot move " + staged + " into place as " + file);
        }
        return new FileDigest(HexFormat.of().formatHex(sha.digest()), bytes);
    }

    /**
     * Commits a folder entry: removes its manifest first (a reader never pairs an old manifest with
     * new files), writes each payload file atomically beside it, then the manifest, itself
     * atomically, built from the payload's digests. A failure before the end leaves no manifest:
     * the entry does not exist for readers until a commit completes.
     *
     * @param manifest the manifest file; payload files go in its folder
     * @return the payload's digests by name, in the payload's order
     */
    public static Map<String, FileDigest> commit(Configuration hadoop, Path manifest, List<Payload> payload,
            ManifestWriter writer) throws IOException {
        FileSystem fs = manifest.getFileSystem(hadoop);
        fs.delete(manifest, false);
        fs.mkdirs(manifest.getParent());
        var files = new LinkedHashMap<String, FileDigest>();
        for (Payload p : payload) {
            files.put(p.name(), writeAtomically(hadoop, new Path(manifest.getParent(), p.name()), p.writer()));
        }
        writeAtomically(hadoop, manifest, writer.manifest(java.util.Collections.unmodifiableMap(files)));
        return files;
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
