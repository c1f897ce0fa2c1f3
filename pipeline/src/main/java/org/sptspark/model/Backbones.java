package org.sptspark.model;

import ai.djl.ndarray.NDManager;

/** Creates the model of any family's configuration. */
public final class Backbones {

    private Backbones() {}

    /**
     * A model of {@code config} with every parameter allocated in {@code manager} and initialised
     * deterministically from {@code seed}.
     */
    public static Backbone create(NDManager manager, BackboneConfig config, long seed) {
        if (config instanceof VitConfig vit) {
            return VisionTransformer.create(manager, vit, seed);
        }
        if (config instanceof SwinConfig swin) {
            return SwinTransformer.create(manager, swin, seed);
        }
        if (config instanceof ConvNextConfig convnext) {
            return ConvNext.create(manager, convnext, seed);
        }
        throw new IllegalArgumentException("no model for " + config.name());
    }
}
