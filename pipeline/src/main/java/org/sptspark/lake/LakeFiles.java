package org.sptspark.lake;

import java.io.IOException;
import java.io.OutputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/** Writing to the lake so readers never see half a file (the digests manifests record: {@link org.sptspark.lake.Digests}). */
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
}
