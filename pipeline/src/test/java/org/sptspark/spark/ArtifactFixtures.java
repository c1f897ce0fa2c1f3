package org.sptspark.spark;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.sptspark.artifact.ArtifactManifest;
import org.sptspark.artifact.Artifacts;
import org.sptspark.artifact.OpenedArtifact;
import org.sptspark.data.TaskRef;
import org.sptspark.model.BackboneRef;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.Gradients;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.modules.Trainable;
import org.sptspark.modules.Unstructured;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.TunedModel;
import org.sptspark.tuning.TuningLayout;

/** Committed artifacts with random values in everything they train (so that a wrong overlay shows), and their reference. */
final class ArtifactFixtures {

    private ArtifactFixtures() {}

    /**
     * Writes an artifact of {@code method} for task {@code suite/task} with {@code classes}
     * classes on the backbone at {@code backbone}, to {@code folder}.
     */
    static String artifact(Configuration hadoop, Path folder, Path backbone, String sha, VitConfig arch, Method method,
            String suite, String task, int classes, long seed) throws Exception {
        String uri = folder.toUri().toString();
        try (NDManager manager = NDManager.newBaseManager()) {
            VitConfig config = arch.withNumClasses(classes);
            VisionTransformer model = VisionTransformer.create(manager, config, 0);
            Checkpoints.load(model, Checkpoints.read(backbone, manager), Checkpoints.HeadPolicy.DROP);
            TuningLayout layout = TuningLayout.baseline(method, model.space(), 4);
            synchronized (Gradients.ENGINE_LOCK) {
                try (TunedModel tuned = TunedModel.forTraining(model, layout, seed, Unstructured.DELTA)) {
                    var random = new SplittableRandom(seed);
                    for (Trainable t : tuned.trainables()) {
                        float[] v = t.value().toFloatArray();
                        for (int i = 0; i < v.length; i++) {
                            v[i] += (float) random.nextGaussian() * 0.05f;
                        }
                        org.sptspark.model.Tensors.assign(t.value(), v);
                    }
                    var m = new ArtifactManifest(new TaskRef(suite, task, classes, null, null),
                            new BackboneRef(arch.name(), config, null, sha), method.id(), 4,
                            new ArtifactManifest.Budget(null, null, 0), null, null, null, null, "imagenet", null, null, null,
                            null);
                    Artifacts.write(hadoop, uri, tuned, m);
                }
            }
        }
        return uri;
    }

    /** Class probabilities of one preprocessed image through the artifact opened alone, on its own backbone copy. */
    static float[] probabilities(OpenedArtifact opened, float[] image, int size) {
        synchronized (Gradients.ENGINE_LOCK) {
            try (NDManager step = opened.tuned().model().manager().newSubManager()) {
                NDArray input = step.create(image, new Shape(1, 3, size, size));
                return opened.tuned().forward(input, false, 0).softmax(1).toFloatArray();
            }
        }
    }
}
