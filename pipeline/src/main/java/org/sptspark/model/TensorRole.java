package org.sptspark.model;

/** What SPT may do with a tensor (DESIGN.md, "Sensitivity"). */
public enum TensorRole {
    /** A block weight matrix (q, k, v, proj, fc1, fc2): scored; sparse entries or a LoRA/Adapter module. */
    MATRIX,
    /** A LayerNorm weight or bias, or a linear bias: scored; sparse entries or tuned whole. */
    VECTOR,
    /**
     * A convolution kernel that is not a 1x1 (ConvNeXt's depthwise 7x7 and its 2x2 downsampling):
     * scored; sparse entries or tuned whole, never a LoRA or Adapter module.
     */
    KERNEL,
    /** Not scored by SPT: head, cls_token, patch_embed (stem), pos_embed, Swin's relative position tables. */
    SKIPPED
}
