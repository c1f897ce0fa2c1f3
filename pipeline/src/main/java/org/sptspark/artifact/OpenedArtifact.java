package org.sptspark.artifact;

import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.InputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.sptspark.model.CheckpointFiles;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.StateDict;
import org.sptspark.model.Backbone;
import org.sptspark.model.Backbones;
import org.sptspark.model.VisionTransformer;
import org.sptspark.tuning.TunedModel;

/**
 * A committed artifact on its backbone, both verified: the artifact's manifest, file checksum and
 * backbone SHA-256, then the backbone loaded and the artifact's tensors set.
 *
 * @param loaded the verified artifact
 * @param tuned the tuned model, ready for inference or {@link TunedModel#merge}; close it
 */
public record OpenedArtifact(Artifacts.Loaded loaded, TunedModel tuned) {

    /**
     * @param manager owns the model and the artifact's tensors
     * @throws IllegalArgumentException when the artifact is missing, damaged or for another backbone
     */
    public static OpenedArtifact open(Configuration hadoop, String artifact, String backboneUri, NDManager manager)
            throws IOException {
        var manifest = Artifacts.manifest(hadoop, artifact);
        CheckpointFiles.check(hadoop, backboneUri, manifest.backbone().architecture());
        Backbone model = Backbones.create(manager, manifest.backbone().architecture(), 0);
        Path path = new Path(backboneUri);
        try (InputStream in = path.getFileSystem(hadoop).open(path);
                StateDict dict = Checkpoints.read(in, backboneUri, manager)) {
            Artifacts.Loaded loaded = Artifacts.read(hadoop, artifact, dict.sha256(), model.space(), manager);
            Checkpoints.load(model, dict, Checkpoints.HeadPolicy.DROP);
            return new OpenedArtifact(loaded, TunedModel.fromTensors(model, loaded.layout(), loaded.tensors(), artifact));
        }
    }
}
