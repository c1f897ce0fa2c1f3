package org.sptspark.spark;

import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.sptspark.artifact.Artifacts;
import org.sptspark.model.Gradients;
import org.sptspark.tuning.TunedModel;

/**
 * This JVM's artifacts laid over its cached backbones ({@link BackboneCache}), each read and
 * verified once: the inference side of {@code spt predict}, {@link SptClassifier} and the SQL
 * function share them.
 */
final class Overlays {

    private static final Map<String, TunedModel> OVERLAYS = new HashMap<>();

    private Overlays() {}

    /**
     * The artifact laid over {@code model}. Under the gradient lock: making an overlay clears the
     * shared model's branches, which another task thread's forward may be using.
     */
    static TunedModel get(org.sptspark.model.Backbone model, Prediction.Target t, String sha, Configuration hadoop) {
        synchronized (Gradients.ENGINE_LOCK) {
            String key = System.identityHashCode(model) + "|" + t.uri();
            TunedModel tuned = OVERLAYS.get(key);
            if (tuned == null) {
                NDManager manager = model.manager().newSubManager();
                try {
                    var loaded = Artifacts.read(hadoop, t.uri(), sha, t.config().space(), manager);
                    tuned = TunedModel.overlay(model, loaded.layout(), loaded.tensors(), t.uri());
                    manager.close(); // the overlay holds copies: the tensors read are not needed any more
                } catch (IOException e) {
                    manager.close();
                    throw new UncheckedIOException("cannot read artifact " + t.uri(), e);
                } catch (RuntimeException e) {
                    manager.close();
                    throw e;
                }
                OVERLAYS.put(key, tuned);
            }
            return tuned;
        }
    }
}
