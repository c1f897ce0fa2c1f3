package org.sptspark.artifact;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/** Writing to the lake so readers never see half a file, and the digests that manifests record. */
public final class LakeFiles {

    private LakeFiles() {}

    /**
     * Writes {@code bytes} to a hidden sibling ({@code .<name>.partial}) and renames it over
     * {@code file}: a reader sees the old file, no file, or the whole new one.
     */
    public static void writeAtomically(Configuration hadoop, Path file, byte[] bytes) throws IOException {
        FileSystem fs = file.getFileSystem(hadoop);
        Path staged = new Path(file.getParent(), "." + file.getName() + ".partial");
        try (OutputStream out = fs.create(staged, true)) {
            out.write(bytes);
        }
        fs.delete(file, false);
        if (!fs.rename(staged, file)) {
            throw new IOException("cannot move " + staged + " into place as " + file);
        }
    }

    /** A fresh SHA-256 digest. */
    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM has no SHA-256", e);
        }
    }

    /** Hex SHA-256 of bytes. */
    public static String sha256Hex(byte[] bytes) {
        return HexFormat.of().formatHex(sha256().digest(bytes));
    }

    /** Hex SHA-256 of a stream's remaining bytes; the stream is read to its end, not closed. */
    public static String sha256Hex(InputStream stream) throws IOException {
        MessageDigest sha = sha256();
        new DigestInputStream(stream, sha).transferTo(OutputStream.nullOutputStream());
        return HexFormat.of().formatHex(sha.digest());
    }
}
