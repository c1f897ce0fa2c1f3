package org.sptspark.artifact;

import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.StateDict;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.sensitivity.ScoresStore;
import org.sptspark.tuning.TunedModel;

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
        Path backbonePath = new Path(backboneUri);
        var manifest = Artifacts.manifest(hadoop, artifact);
        VitConfig config = ScoresStore.architecture(manifest);
        try (NDManager manager = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            VisionTransformer model = VisionTransformer.create(manager, config, 0);
            String sha;
            try (InputStream in = backbonePath.getFileSystem(hadoop).open(backbonePath);
                    StateDict dict = Checkpoints.read(in, backboneUri, manager)) {
                sha = dict.sha256();
                Artifacts.Loaded loaded = Artifacts.read(hadoop, artifact, sha, model.space(), manager);
                Checkpoints.load(model, dict, Checkpoints.HeadPolicy.DROP);
                try (var tuned = TunedModel.fromTensors(model, loaded.layout(), loaded.tensors(), artifact)) {
                    tuned.merge();
                    Path target = new Path(out);
                    FileSystem fs = target.getFileSystem(hadoop);
                    Path staged = new Path(target.getParent(), "." + target.getName() + ".partial");
                    try (OutputStream os = fs.create(staged, true)) {
                        Checkpoints.write(model, os);
                    }
                    fs.delete(target, false);
                    if (!fs.rename(staged, target)) {
                        throw new IOException("cannot move " + staged + " into place as " + target);
                    }
                    return new Result(config, loaded.method().id(), fs.getFileStatus(target).getLen());
                }
            }
        }
    }
}
