package org.sptspark.lake;

import java.util.Locale;

/**
 * One payload file as a manifest records it, under its name in the manifest's {@code files}
 * object: {@code {"adapter.safetensors": {"sha256": "<hex>", "bytes": 123}}}.
 *
 * @param sha256 hex SHA-256 of the file's bytes
 * @param bytes the file's size, or -1 where an older manifest did not record it
 */
public record FileDigest(String sha256, long bytes) {

    /** The digest of these bytes. */
    public static FileDigest of(byte[] content) {
        return new FileDigest(Digests.sha256Hex(content), content.length);
    }

    /** Whether {@code content} is the file this digest records. */
    public boolean matches(byte[] content) {
        return sha256.equals(Digests.sha256Hex(content)) && (bytes < 0 || bytes == content.length);
    }

    @Override
    public String toString() {
        return bytes < 0 ? sha256 : String.format(Locale.ROOT, "%s (%d bytes)", sha256, bytes);
    }
}
