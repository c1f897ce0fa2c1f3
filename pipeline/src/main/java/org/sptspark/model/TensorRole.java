package org.sptspark.model;

/** What SPT may do with a tensor (DESIGN.md, "Sensitivity"). */
public enum TensorRole {
    /** A block weight matrix (q, k, v, proj, fc1, fc2): scored; sparse entries or a LoRA/Adapter module. */
    MATRIX,
    /** A LayerNorm weight or bias, or a linear bias: scored; sparse entries or tuned whole. */
    VECTOR,
    /** Not scored by SPT: head, cls_token, patch_embed, pos_embed. */
    SKIPPED
}
