package org.sptspark.artifact;

import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.OutputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.VitConfig;

/**
 * Folds an artifact into its backbone and writes a full safetensors checkpoint in timm's layout
 * ({@code qkv} fused), loadable by timm or by this project as an ordinary backbone with the task's
 * head.
 */
public final class Merge {

    private Merge() {}

    /**
     * What was merged.
     *
     * @param config the merged model's architecture (the task's classes)
     * @param bytes the checkpoint's size
     */
    public record Result(VitConfig config, String method, long bytes) {}

    /**
     * @throws IllegalArgumentException when the artifact is missing, damaged, for another backbone,
     *     or holds Adapter modules
     */
    public static Result merge(Configuration hadoop, String artifact, String backboneUri, String out) throws IOException {
        try (NDManager manager = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            var opened = OpenedArtifact.open(hadoop, artifact, backboneUri, manager);
            try (var tuned = opened.tuned()) {
                tuned.merge();
                Path target = new Path(out);
                FileSystem fs = target.getFileSystem(hadoop);
                Path staged = new Path(target.getParent(), "." + target.getName() + ".partial");
                try (OutputStream os = fs.create(staged, true)) {
                    Checkpoints.write(tuned.model(), os);
                }
                fs.delete(target, false);
                if (!fs.rename(staged, target)) {
                    throw new IOException("cannot move " + staged + " into place as " + target);
                }
                return new Result(tuned.model().config(), opened.loaded().method().id(), fs.getFileStatus(target).getLen());
            }
        }
    }
}
