package org.sptspark.model;

import java.util.Locale;

/**
 * The architecture of a Vision Transformer in timm's sense: patch embedding, class token, learned
 * position embedding, {@code depth} pre-norm blocks, final norm and a linear head on the class
 * token.
 *
 * @param name the preset name (timm's model name for the standard sizes)
 * @param imageSize input height and width in pixels
 * @param patchSize patch height and width in pixels; must divide {@code imageSize}
 * @param inChannels input channels (3 for RGB)
 * @param embedDim token width
 * @param depth number of transformer blocks
 * @param numHeads attention heads; must divide {@code embedDim}
 * @param mlpDim hidden width of the MLP in each block
 * @param numClasses head outputs
 * @param layerNormEps LayerNorm epsilon (timm's ViT uses 1e-6)
 * @param dropPathRate stochastic depth of the last block; block i gets {@code rate * i / (depth-1)}
 */
public record VitConfig(
        String name,
        int imageSize,
        int patchSize,
        int inChannels,
        int embedDim,
        int depth,
        int numHeads,
        int mlpDim,
        int numClasses,
        double layerNormEps,
        double dropPathRate) implements BackboneConfig {

    public VitConfig {
        require(name != null && !name.isBlank(), "a preset name");
        require(imageSize > 0 && patchSize > 0 && imageSize % patchSize == 0,
                "patch size " + patchSize + " dividing image size " + imageSize);
        require(inChannels > 0, "inChannels > 0, got " + inChannels);
        require(embedDim > 0 && numHeads > 0 && embedDim % numHeads == 0,
                numHeads + " heads dividing embedDim " + embedDim);
        require(depth > 0, "depth > 0, got " + depth);
        require(mlpDim > 0, "mlpDim > 0, got " + mlpDim);
        require(numClasses > 0, "numClasses > 0, got " + numClasses);
        require(layerNormEps > 0, "layerNormEps > 0, got " + layerNormEps);
        require(dropPathRate >= 0 && dropPathRate < 1, "dropPathRate in [0, 1), got " + dropPathRate);
    }

    @Override
    public String family() {
        return "vit";
    }

    @Override
    public ParameterSpace space() {
        return ParameterSpace.of(this);
    }

    @Override
    public int totalDepth() {
        return depth;
    }

    /** Every {@link Precision} is implemented for a ViT. */
    @Override
    public void requirePrecision(Precision precision) {}

    @Override
    public int numFeatures() {
        return embedDim;
    }

    /** This architecture as JSON, the form manifests record. */
    public com.google.gson.JsonElement toJson() {
        return new com.google.gson.Gson().toJsonTree(this);
    }

    /**
     * The architecture a manifest records (Gson 2.10+ reads records); the constructor's checks
     * apply.
     */
    public static VitConfig fromJson(com.google.gson.JsonElement json) {
        return new com.google.gson.Gson().fromJson(json, VitConfig.class);
    }

    private static void require(boolean ok, String expected) {
        if (!ok) {
            throw new IllegalArgumentException("invalid ViT configuration: expected " + expected);
        }
    }

    /** Patches per side. */
    public int gridSize() {
        return imageSize / patchSize;
    }

    /** Tokens per image, class token included. */
    public int numTokens() {
        return gridSize() * gridSize() + 1;
    }

    public int headDim() {
        return embedDim / numHeads;
    }

    /** Stochastic-depth rate of block {@code index}, linearly increasing as in timm. */
    public double dropPathRate(int index) {
        return depth == 1 ? dropPathRate : dropPathRate * index / (depth - 1);
    }

    @Override
    public VitConfig withNumClasses(int classes) {
        return new VitConfig(name, imageSize, patchSize, inChannels, embedDim, depth, numHeads, mlpDim,
                classes, layerNormEps, dropPathRate);
    }

    @Override
    public VitConfig withDropPathRate(double rate) {
        return new VitConfig(name, imageSize, patchSize, inChannels, embedDim, depth, numHeads, mlpDim,
                numClasses, layerNormEps, rate);
    }

    /**
     * Forward FLOPs of one image (a multiply-add counts 2), counting the matrix products of the
     * patch embedding, the block linears, the two attention products and the head. Element-wise
     * work (norms, softmax, GELU) is left out, as is usual for transformer FLOP counts.
     */
    @Override
    public long forwardFlopsPerImage() {
        long n = numTokens();
        long d = embedDim;
        long patchEmbed = 2L * (n - 1) * d * inChannels * patchSize * patchSize;
        long linears = 2L * n * (4 * d * d + 2 * d * mlpDim);
        long attention = 2L * 2 * n * n * d;
        long head = 2L * d * numClasses;
        return patchEmbed + depth * (linears + attention) + head;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT,
                "%s(img %d, patch %d, dim %d, depth %d, heads %d, mlp %d, classes %d, drop-path %.2f)",
                name, imageSize, patchSize, embedDim, depth, numHeads, mlpDim, numClasses, dropPathRate);
    }
}
