package org.sptspark.lake;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/**
 * A writer to be killed in the middle of a commit ({@link LakeFilesTest}): commits
 * {@code a.bin} (1 MB) and a manifest to {@code args[0]}, and stops for good where
 * {@code args[1]} says, {@code payload} (half the payload written) or {@code manifest} (the payload
 * staged, the manifest being built), after creating the marker file {@code args[2]}.
 */
public final class CommitProcess {

    public static void main(String[] args) throws Exception {
        var manifest = new org.apache.hadoop.fs.Path(args[0]);
        String where = args[1];
        Path marker = Path.of(args[2]);
        byte[] half = new byte[1 << 19];
        LakeFiles.commit(new Configuration(), manifest, List.of(new LakeFiles.Payload("a.bin", out -> {
            out.write(half);
            if (where.equals("payload")) {
                out.flush();
                stop(marker);
            }
            out.write(half);
        })), digests -> {
            stop(marker);
            return "{}".getBytes(StandardCharsets.UTF_8);
        });
        throw new AssertionError("the commit was to stop at " + where);
    }

    private static void stop(Path marker) {
        try {
            Files.createFile(marker);
            Thread.sleep(Long.MAX_VALUE);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
