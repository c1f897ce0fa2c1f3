package org.sptspark.model;

import ai.djl.ndarray.NDManager;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;

/**
 * Checkpoints on any Hadoop file system (the lake's {@code s3a://}, {@code hdfs://}, {@code file://}).
 * Apart from {@link Checkpoints} so that the checkpoint format itself loads without Hadoop's
 * classes, as on a GPU node's Spark-free bundle.
 */
public final class CheckpointFiles {

    private CheckpointFiles() {}

    /**
     * Reads and checks the header of the checkpoint at {@code uri} (any Hadoop file system),
     * reading only its length and its first bytes: see {@link CheckpointHeader}.
     *
     * @throws IllegalArgumentException in one line naming the file: missing, a folder, a pickle, of
     *     another format, or a header that is malformed or does not match the file
     */
    public static CheckpointHeader header(org.apache.hadoop.conf.Configuration hadoop, String uri) throws IOException {
        var path = new org.apache.hadoop.fs.Path(uri);
        FileSystem fs = path.getFileSystem(hadoop);
        FileStatus status;
        try {
            status = fs.getFileStatus(path);
        } catch (FileNotFoundException e) {
            throw new IllegalArgumentException("checkpoint " + uri + " does not exist", e);
        }
        if (status.isDirectory()) {
            throw new IllegalArgumentException("checkpoint " + uri + " is a folder, not a checkpoint file");
        }
        // opened with the status in hand, so that S3A asks for it once, and for random reads, so that S3A asks
        // for the bytes read (its readahead, 64 KiB by default, at least) rather than the whole object
        try (FSDataInputStream in = org.apache.hadoop.util.functional.FutureIO.awaitFuture(
                fs.openFile(path).withFileStatus(status).opt("fs.s3a.experimental.input.fadvise", "random").build())) {
            return CheckpointHeader.read(new CheckpointHeader.Source() {
                @Override
                public String name() {
                    return uri;
                }

                @Override
                public long length() {
                    return status.getLen();
                }

                @Override
                public void readFully(long position, byte[] into) throws IOException {
                    in.readFully(position, into);
                }
            });
        }
    }

    /**
     * Checks, by its header alone, that the checkpoint at {@code uri} is usable and fits
     * {@code config}'s backbone (its head dropped, as jobs load backbones): what a driver runs
     * before it submits a job.
     *
     * @throws IllegalArgumentException in one line naming the file and the problem
     */
    public static CheckpointHeader check(org.apache.hadoop.conf.Configuration hadoop, String uri, BackboneConfig config)
            throws IOException {
        return header(hadoop, uri).requireFits(config, Checkpoints.HeadPolicy.DROP);
    }

    /**
     * {@link #check} then {@link #sha256}: the backbone's identity for a job, once it is known to
     * be usable.
     */
    public static String checkedSha256(org.apache.hadoop.conf.Configuration hadoop, String uri, BackboneConfig config)
            throws IOException {
        check(hadoop, uri, config);
        return sha256(hadoop, uri);
    }

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
    public static void loadVerified(Backbone model, org.apache.hadoop.conf.Configuration hadoop, String uri,
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
