package org.sptspark.model;

/**
 * The architecture of a backbone of any family: a plain Vision Transformer ({@link VitConfig}), a
 * Swin Transformer ({@link SwinConfig}) or a ConvNeXt ({@link ConvNextConfig}). What every family
 * has in common: a timm-style preset name, square RGB input, a classification head of some width,
 * a stochastic-depth rate and the named tensors of its {@link ParameterSpace}. Manifests record it
 * as JSON through {@link BackboneConfigJson}.
 */
@com.google.gson.annotations.JsonAdapter(BackboneConfigJson.class)
public sealed interface BackboneConfig extends java.io.Serializable permits VitConfig, SwinConfig, ConvNextConfig {

    /** The preset name (timm's model name for the standard sizes). */
    String name();

    /** The family's short name: {@code vit}, {@code swin} or {@code convnext}. */
    String family();

    /** Input height and width in pixels. */
    int imageSize();

    /** Input channels (3 for RGB). */
    int inChannels();

    /** Head outputs. */
    int numClasses();

    /** The stochastic-depth rate of the deepest block. */
    double dropPathRate();

    BackboneConfig withNumClasses(int classes);

    BackboneConfig withDropPathRate(double rate);

    /**
     * Forward FLOPs of one image (a multiply-add counts 2): the products of every convolution and
     * linear layer and the attention products; element-wise work (norms, softmax, GELU) is left out.
     */
    long forwardFlopsPerImage();

    /** Every tensor of the model, in timm's {@code state_dict} order (attention's q, k and v split). */
    ParameterSpace space();

    /** The number of blocks, counted across stages for the hierarchical families. */
    int totalDepth();

    /** The width of the features the head reads (a ViT's class token, the others' pooled map). */
    int numFeatures();

    /**
     * Refuses an arithmetic the family does not implement: a ViT takes every {@link Precision}
     * ({@link VitConfig} overrides this); Swin and ConvNeXt compute in float32 only so far.
     *
     * @throws IllegalArgumentException in one line naming the precision and the architecture
     */
    default void requirePrecision(Precision precision) {
        if (precision != Precision.FP32) {
            throw new IllegalArgumentException(precision.name().toLowerCase(java.util.Locale.ROOT)
                    + " is implemented for ViT backbones only so far, not for " + name());
        }
    }
}
