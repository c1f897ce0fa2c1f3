package org.sptspark.model;

import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Locale;

/**
 * The architecture of a Swin Transformer in timm's sense ({@code SwinTransformer}, timm 0.9 and
 * later): a strided patch-embedding convolution followed by a LayerNorm, then stages of pre-norm
 * blocks whose attention runs inside {@code windowSize x windowSize} windows with a learned
 * relative position bias, every second block's windows shifted by half a window. Each stage after
 * the first starts with a patch merging (2x2 neighbours concatenated, LayerNorm, a linear layer
 * without bias halving the width). A final LayerNorm, global average pooling and a linear head
 * ({@code head.fc}) end it.
 *
 * <p>A stage whose feature map is no larger than the window uses one window of the map's size and
 * no shift, as timm does (the last stage of the 224 presets: 7x7 features, window 7).
 *
 * @param name the preset name (timm's model name for the standard sizes)
 * @param imageSize input height and width in pixels
 * @param patchSize patch height and width of the embedding; must divide {@code imageSize}
 * @param inChannels input channels (3 for RGB)
 * @param embedDim the first stage's width; stage {@code i} has {@code embedDim * 2^i}
 * @param depths blocks per stage
 * @param numHeads attention heads per stage; each divides its stage's width
 * @param windowSize the window's side in tokens
 * @param mlpRatio the MLP's hidden width over the stage's width (4 in every timm preset)
 * @param numClasses head outputs
 * @param layerNormEps LayerNorm epsilon (timm's Swin uses PyTorch's default, 1e-5)
 * @param dropPathRate stochastic depth of the last block; the rate rises linearly over all blocks
 */
public record SwinConfig(
        String name,
        int imageSize,
        int patchSize,
        int inChannels,
        int embedDim,
        List<Integer> depths,
        List<Integer> numHeads,
        int windowSize,
        int mlpRatio,
        int numClasses,
        double layerNormEps,
        double dropPathRate) implements BackboneConfig {

    public SwinConfig {
        depths = List.copyOf(depths);
        numHeads = List.copyOf(numHeads);
        require(name != null && !name.isBlank(), "a preset name");
        require(imageSize > 0 && patchSize > 0 && imageSize % patchSize == 0,
                "patch size " + patchSize + " dividing image size " + imageSize);
        require(!depths.isEmpty() && depths.size() == numHeads.size(), "as many head counts as stages");
        require((imageSize / patchSize) % (1 << (depths.size() - 1)) == 0,
                "a " + (imageSize / patchSize) + "-token grid that halves " + (depths.size() - 1) + " times");
        require(inChannels > 0 && embedDim > 0 && windowSize > 0 && mlpRatio > 0, "positive sizes");
        for (int i = 0; i < depths.size(); i++) {
            require(depths.get(i) > 0, "at least one block in stage " + i);
            int side = (imageSize / patchSize) >> i;
            require(side <= windowSize || side % windowSize == 0,
                    "stage " + i + "'s " + side + "x" + side + " map to split into whole " + windowSize + "x" + windowSize
                            + " windows (timm pads; we do not)");
            require(numHeads.get(i) > 0 && (embedDim << i) % numHeads.get(i) == 0,
                    numHeads.get(i) + " heads dividing stage " + i + "'s width " + (embedDim << i));
        }
        require(numClasses > 0, "numClasses > 0, got " + numClasses);
        require(layerNormEps > 0, "layerNormEps > 0, got " + layerNormEps);
        require(dropPathRate >= 0 && dropPathRate < 1, "dropPathRate in [0, 1), got " + dropPathRate);
    }

    private static void require(boolean ok, String expected) {
        if (!ok) {
            throw new IllegalArgumentException("invalid Swin configuration: expected " + expected);
        }
    }

    @Override
    public String family() {
        return "swin";
    }

    public int stages() {
        return depths.size();
    }

    /** Stage {@code i}'s width. */
    public int dim(int stage) {
        return embedDim << stage;
    }

    /** Stage {@code i}'s feature map side in tokens. */
    public int resolution(int stage) {
        return (imageSize / patchSize) >> stage;
    }

    /** The window side stage {@code i}'s blocks use: the configured one, or the whole map where that is smaller. */
    public int window(int stage) {
        return Math.min(windowSize, resolution(stage));
    }

    /** The shift of block {@code j} of stage {@code i}: half a window for odd blocks, none where one window covers the map. */
    public int shift(int stage, int block) {
        return block % 2 == 1 && resolution(stage) > windowSize ? windowSize / 2 : 0;
    }

    /** The global index of block {@code j} of stage {@code i}, counting every block before it. */
    public int blockIndex(int stage, int block) {
        int index = block;
        for (int s = 0; s < stage; s++) {
            index += depths.get(s);
        }
        return index;
    }

    @Override
    public int totalDepth() {
        return depths.stream().mapToInt(Integer::intValue).sum();
    }

    /** The width of the pooled features the head reads. */
    public int numFeatures() {
        return dim(stages() - 1);
    }

    /** Stochastic-depth rate of the block with this global index, rising linearly as in timm. */
    public double dropPathRate(int index) {
        int n = totalDepth();
        return n == 1 ? 0 : dropPathRate * index / (n - 1);
    }

    @Override
    public SwinConfig withNumClasses(int classes) {
        return new SwinConfig(name, imageSize, patchSize, inChannels, embedDim, depths, numHeads, windowSize,
                mlpRatio, classes, layerNormEps, dropPathRate);
    }

    @Override
    public SwinConfig withDropPathRate(double rate) {
        return new SwinConfig(name, imageSize, patchSize, inChannels, embedDim, depths, numHeads, windowSize,
                mlpRatio, numClasses, layerNormEps, rate);
    }

    /**
     * Every tensor in timm's order: {@code patch_embed.proj}, {@code patch_embed.norm}, per stage
     * {@code layers.i.downsample.norm} and {@code .reduction} (stages after the first), per block
     * {@code layers.i.blocks.j.norm1}, {@code attn.relative_position_bias_table}, {@code attn.q/k/v}
     * (timm's fused {@code qkv} split), {@code attn.proj}, {@code norm2}, {@code mlp.fc1}, {@code
     * mlp.fc2}; then {@code norm} and {@code head.fc}. A stage tensor's stage is its {@code i} and its
     * block its global index; the downsampling's block is the index of its stage's first block.
     */
    @Override
    public ParameterSpace space() {
        var b = new ParameterSpace.Builder();
        int c0 = embedDim;
        b.add("patch_embed.proj.weight", new Shape(c0, inChannels, patchSize, patchSize), TensorRole.SKIPPED, -1,
                "patch_embed");
        b.add("patch_embed.proj.bias", new Shape(c0), TensorRole.SKIPPED, -1, "patch_embed");
        b.add("patch_embed.norm.weight", new Shape(c0), TensorRole.SKIPPED, -1, "patch_embed");
        b.add("patch_embed.norm.bias", new Shape(c0), TensorRole.SKIPPED, -1, "patch_embed");
        for (int i = 0; i < stages(); i++) {
            int d = dim(i);
            String stage = "layers." + i + ".";
            b.stage(i);
            if (i > 0) {
                int first = blockIndex(i, 0);
                b.norm(stage + "downsample.norm", 4 * dim(i - 1), first, "downsample.norm");
                b.linear(stage + "downsample.reduction", d, 4 * dim(i - 1), first, "downsample.reduction", false);
            }
            int w = window(i);
            for (int j = 0; j < depths.get(i); j++) {
                int index = blockIndex(i, j);
                String p = stage + "blocks." + j + ".";
                b.norm(p + "norm1", d, index, "norm1");
                b.add(p + "attn.relative_position_bias_table", new Shape((2L * w - 1) * (2L * w - 1), numHeads.get(i)),
                        TensorRole.SKIPPED, index, "relative_position");
                for (String op : List.of("q", "k", "v", "proj")) {
                    b.linear(p + "attn." + op, d, d, index, op);
                }
                b.norm(p + "norm2", d, index, "norm2");
                b.linear(p + "mlp.fc1", mlpRatio * d, d, index, "fc1");
                b.linear(p + "mlp.fc2", d, mlpRatio * d, index, "fc2");
            }
        }
        b.stage(-1).norm("norm", numFeatures(), -1, "norm");
        b.add("head.fc.weight", new Shape(numClasses, numFeatures()), TensorRole.SKIPPED, -1, "head");
        b.add("head.fc.bias", new Shape(numClasses), TensorRole.SKIPPED, -1, "head");
        return b.build(this);
    }

    @Override
    public long forwardFlopsPerImage() {
        long grid = imageSize / patchSize;
        long flops = 2L * grid * grid * embedDim * inChannels * patchSize * patchSize;
        for (int i = 0; i < stages(); i++) {
            long n = (long) resolution(i) * resolution(i);
            long d = dim(i);
            if (i > 0) {
                flops += 2L * n * (4 * dim(i - 1)) * d;
            }
            long window = (long) window(i) * window(i);
            long linears = 2L * n * (4 * d * d + 2 * d * mlpRatio * d);
            long attention = 2L * 2 * n * window * d;
            flops += depths.get(i) * (linears + attention);
        }
        return flops + 2L * numFeatures() * numClasses;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT,
                "%s(swin, img %d, patch %d, dim %d, depths %s, heads %s, window %d, classes %d, drop-path %.2f)",
                name, imageSize, patchSize, embedDim, depths, numHeads, windowSize, numClasses, dropPathRate);
    }
}
