package org.sptspark.model;

import ai.djl.ndarray.types.Shape;

/**
 * One named tensor of a model.
 *
 * @param name timm's parameter name, with attention split into {@code q}, {@code k}, {@code v}
 * @param shape the tensor's shape (PyTorch layout: linear weights are {@code (out, in)})
 * @param offset position of its first element in the flat concatenation of all tensors in
 *     {@link ParameterSpace} order
 * @param role what SPT may do with it
 * @param stage the stage it belongs to in a hierarchical backbone (Swin's {@code layers.i}, ConvNeXt's
 *     {@code stages.i}, their downsampling included); 0 for every block of a ViT, which has one
 *     stage; -1 outside the stages (stem, patch embedding, final norm, head)
 * @param block the block it belongs to, counted over the whole model (a hierarchical backbone's
 *     downsampling counts as its stage's first block), or -1
 * @param operation the layer it belongs to within its block ({@code q}, {@code k}, {@code v},
 *     {@code proj}, {@code fc1}, {@code fc2}, {@code norm1}, {@code norm2}), or the top-level
 *     module name ({@code norm}, {@code head}, ...)
 */
public record TensorSpec(String name, Shape shape, long offset, TensorRole role, int stage, int block,
        String operation) {

    public long size() {
        return shape.size();
    }

    /** Rows of a matrix: output features of a linear layer. */
    public int rows() {
        return (int) shape.get(0);
    }

    /** Columns of a matrix: input features of a linear layer. */
    public int cols() {
        return (int) shape.get(1);
    }

    public boolean isScored() {
        return role != TensorRole.SKIPPED;
    }
}
