package org.sptspark.artifact;

import ai.djl.ndarray.NDManager;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.sptspark.lake.LakeFiles;
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
    public record Result(org.sptspark.model.BackboneConfig config, String method, long bytes) {}

    /**
     * @throws IllegalArgumentException when the artifact is missing, damaged, for another backbone,
     *     or holds Adapter modules
     */
    public static Result merge(Configuration hadoop, String artifact, String backboneUri, String out) throws IOException {
        try (NDManager manager = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            var opened = OpenedArtifact.open(hadoop, artifact, backboneUri, manager);
            try (var tuned = opened.tuned()) {
                tuned.merge();
                var written = LakeFiles.writeAtomically(hadoop, new Path(out), os -> Checkpoints.write(tuned.model(), os));
                return new Result(tuned.model().config(), opened.loaded().method().id(), written.bytes());
            }
        }
    }
}
