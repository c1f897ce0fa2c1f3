package org.sptspark.spark;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.sptspark.model.CheckpointFiles;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.Backbone;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.Backbones;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;

/**
 * Backbones loaded once per executor JVM, keyed by checkpoint digest, architecture and device.
 * Tasks get the model with its backbone weights as loaded; what a task changes (the head) it
 * re-initialises itself. Models live until the JVM ends.
 */
public final class BackboneCache {

    private record Key(String sha256, BackboneConfig config, Device device) {}

    private static final Map<Key, Backbone> MODELS = new HashMap<>();
    private static int loads;

    private BackboneCache() {}

    /**
     * The model for this checkpoint, loading it on first use (the head is left as initialised).
     *
     * @param sha256 the checkpoint's digest as the driver computed it; a file that no longer matches is an error
     */
    public static VisionTransformer get(String uri, String sha256, VitConfig config, Device device,
            Configuration hadoop) {
        return (VisionTransformer) backbone(uri, sha256, config, device, hadoop);
    }

    /** As {@link #get}, for a backbone of any family. */
    public static synchronized Backbone backbone(String uri, String sha256, BackboneConfig config, Device device,
            Configuration hadoop) {
        var key = new Key(sha256, config, device);
        Backbone model = MODELS.get(key);
        if (model != null) {
            return model;
        }
        NDManager manager = NDManager.newBaseManager(device);
        model = Backbones.create(manager, config, 0);
        try {
            CheckpointFiles.loadVerified(model, hadoop, uri, sha256, manager);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read checkpoint " + uri, e);
        }
        MODELS.put(key, model);
        loads++;
        return model;
    }

    /** How many checkpoints this JVM has loaded (for tests and logs). */
    public static synchronized int loads() {
        return loads;
    }
}
