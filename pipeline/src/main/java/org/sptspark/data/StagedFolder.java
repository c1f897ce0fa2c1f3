package org.sptspark.data;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A folder written in a hidden sibling ({@code .<name>.partial}) and renamed into place on
 * commit, so readers never see half of it; closing without committing removes the staging copy.
 */
final class StagedFolder implements AutoCloseable {

    private final FileSystem fs;
    private final Path target;
    private final Path staging;
    private boolean committed;

    StagedFolder(Configuration hadoop, String root, String name) {
        try {
            this.target = new Path(new Path(root), name);
            this.fs = target.getFileSystem(hadoop);
            this.staging = new Path(new Path(root), "." + name + ".partial");
            fs.delete(staging, true);
            fs.mkdirs(staging);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare " + root + "/" + name, e);
        }
    }

    /** Writes a file at {@code relative} inside the folder. */
    void write(String relative, byte[] bytes) {
        Path file = new Path(staging, relative);
        try {
            if ("file".equals(fs.getUri().getScheme())) {
                // Hadoop's local file system forks chmod for every file it creates when its native
                // library is absent: 5 ms a file. Plain NIO writes the same bytes in microseconds.
                java.nio.file.Path local = java.nio.file.Path.of(file.toUri().getPath());
                java.nio.file.Files.createDirectories(local.getParent());
                java.nio.file.Files.write(local, bytes);
                return;
            }
            try (OutputStream out = fs.create(file, true)) {
                out.write(bytes);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + relative + " of " + target, e);
        }
    }

    /** Moves the folder into place, replacing an older copy. */
    void commit() {
        try {
            fs.delete(target, true);
            if (!fs.rename(staging, target)) {
                throw new IOException("rename of " + staging + " to " + target + " failed");
            }
            committed = true;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot commit " + target, e);
        }
    }

    @Override
    public void close() {
        if (!committed) {
            try {
                fs.delete(staging, true);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot remove " + staging, e);
            }
        }
    }
}
