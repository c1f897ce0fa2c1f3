package org.sptspark.lake;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The SHA-256 digests that manifests, plans and checkpoints are identified by. Free of Hadoop and
 * Spark, so that every layer above (the checkpoint format included) can use it anywhere.
 */
public final class Digests {

    private Digests() {}

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
