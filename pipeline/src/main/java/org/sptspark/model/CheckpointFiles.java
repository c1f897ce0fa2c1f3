package org.sptspark.model;

import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.InputStream;

/**
 * Checkpoints on any Hadoop file system (the lake's {@code s3a://}, {@code hdfs://}, {@code file://}).
 * Apart from {@link Checkpoints} so that the checkpoint format itself loads without Hadoop's
 * classes, as on a GPU node's Spark-free bundle.
 */
public final class CheckpointFiles {

    private CheckpointFiles() {}

    /** Hex SHA-256 of a checkpoint on any Hadoop file system. */
    public static String sha256(org.apache.hadoop.conf.Configuration hadoop, String uri) throws IOException {
        var path = new org.apache.hadoop.fs.Path(uri);
        try (InputStream in = path.getFileSystem(hadoop).open(path)) {
            return Checkpoints.sha256(in);
        }
    }

    /**
     * Loads the checkpoint at {@code uri} (any Hadoop file system) into the model, head dropped,
     * after checking that it is still the file whose SHA-256 the job started from.
     *
     * @throws IllegalStateException when its SHA-256 differs from {@code expectedSha256}
     */
    public static void loadVerified(VisionTransformer model, org.apache.hadoop.conf.Configuration hadoop, String uri,
            String expectedSha256, NDManager manager) throws IOException {
        var path = new org.apache.hadoop.fs.Path(uri);
        try (InputStream in = path.getFileSystem(hadoop).open(path); StateDict dict = Checkpoints.read(in, uri, manager)) {
            if (!dict.sha256().equals(expectedSha256)) {
                throw new IllegalStateException("checkpoint " + uri + " has sha256 " + dict.sha256()
                        + ", but the job started from " + expectedSha256 + " (was it replaced during the run?)");
            }
            Checkpoints.load(model, dict, Checkpoints.HeadPolicy.DROP);
        }
    }
}
