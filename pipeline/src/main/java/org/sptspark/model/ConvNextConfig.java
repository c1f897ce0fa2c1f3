package org.sptspark.model;

import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Locale;

/**
 * The architecture of a ConvNeXt in timm's sense ({@code ConvNeXt}): a stem (a strided
 * {@code patchSize x patchSize} convolution and a channel LayerNorm), then stages of blocks, each
 * stage after the first starting with a downsampling (channel LayerNorm, 2x2 convolution of stride
 * 2). A block is a depthwise 7x7 convolution, a LayerNorm over channels, an MLP of two linear
 * layers with exact GELU between, a per-channel layer scale {@code gamma}, and stochastic depth on
 * the residual. Global average pooling, {@code head.norm} and a linear head ({@code head.fc}) end it.
 *
 * @param name the preset name (timm's model name for the standard sizes)
 * @param imageSize input height and width in pixels
 * @param patchSize the stem's kernel and stride (4 in every timm preset)
 * @param inChannels input channels (3 for RGB)
 * @param depths blocks per stage
 * @param dims width per stage
 * @param kernelSize the depthwise convolution's side (7)
 * @param mlpRatio the MLP's hidden width over the stage's width (4)
 * @param numClasses head outputs
 * @param layerNormEps LayerNorm epsilon (timm's ConvNeXt uses 1e-6)
 * @param dropPathRate stochastic depth of the last block; the rate rises linearly over all blocks
 */
public record ConvNextConfig(
        String name,
        int imageSize,
        int patchSize,
        int inChannels,
        List<Integer> depths,
        List<Integer> dims,
        int kernelSize,
        int mlpRatio,
        int numClasses,
        double layerNormEps,
        double dropPathRate) implements BackboneConfig {

    public ConvNextConfig {
        depths = List.copyOf(depths);
        dims = List.copyOf(dims);
        require(name != null && !name.isBlank(), "a preset name");
        require(!depths.isEmpty() && depths.size() == dims.size(), "as many widths as stages");
        require(imageSize > 0 && patchSize > 0 && imageSize % (patchSize << (depths.size() - 1)) == 0,
                "image size " + imageSize + " divisible by the stem's " + patchSize + " and "
                        + (depths.size() - 1) + " halvings");
        require(inChannels > 0 && kernelSize > 0 && kernelSize % 2 == 1 && mlpRatio > 0,
                "positive sizes and an odd kernel");
        for (int i = 0; i < depths.size(); i++) {
            require(depths.get(i) > 0 && dims.get(i) > 0, "blocks and width in stage " + i);
        }
        require(numClasses > 0, "numClasses > 0, got " + numClasses);
        require(layerNormEps > 0, "layerNormEps > 0, got " + layerNormEps);
        require(dropPathRate >= 0 && dropPathRate < 1, "dropPathRate in [0, 1), got " + dropPathRate);
    }

    private static void require(boolean ok, String expected) {
        if (!ok) {
            throw new IllegalArgumentException("invalid ConvNeXt configuration: expected " + expected);
        }
    }

    @Override
    public String family() {
        return "convnext";
    }

    public int stages() {
        return depths.size();
    }

    public int dim(int stage) {
        return dims.get(stage);
    }

    /** Stage {@code i}'s feature map side. */
    public int resolution(int stage) {
        return (imageSize / patchSize) >> stage;
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

    public int numFeatures() {
        return dims.get(dims.size() - 1);
    }

    /** Stochastic-depth rate of the block with this global index, rising linearly as in timm. */
    public double dropPathRate(int index) {
        int n = totalDepth();
        return n == 1 ? 0 : dropPathRate * index / (n - 1);
    }

    @Override
    public ConvNextConfig withNumClasses(int classes) {
        return new ConvNextConfig(name, imageSize, patchSize, inChannels, depths, dims, kernelSize, mlpRatio, classes,
                layerNormEps, dropPathRate);
    }

    @Override
    public ConvNextConfig withDropPathRate(double rate) {
        return new ConvNextConfig(name, imageSize, patchSize, inChannels, depths, dims, kernelSize, mlpRatio,
                numClasses, layerNormEps, rate);
    }

    /**
     * Every tensor in timm's order: {@code stem.0} (convolution) and {@code stem.1} (norm); per stage
     * {@code stages.i.downsample.0} (norm) and {@code .1} (2x2 convolution) for stages after the
     * first; per block {@code stages.i.blocks.j.gamma}, {@code conv_dw}, {@code norm}, {@code
     * mlp.fc1}, {@code mlp.fc2}; then {@code head.norm} and {@code head.fc}. A stage tensor's stage
     * is its {@code i} and its block its global index; the downsampling's block is the index of its
     * stage's first block.
     */
    @Override
    public ParameterSpace space() {
        var b = new ParameterSpace.Builder();
        b.add("stem.0.weight", new Shape(dim(0), inChannels, patchSize, patchSize), TensorRole.SKIPPED, -1, "stem");
        b.add("stem.0.bias", new Shape(dim(0)), TensorRole.SKIPPED, -1, "stem");
        b.add("stem.1.weight", new Shape(dim(0)), TensorRole.SKIPPED, -1, "stem");
        b.add("stem.1.bias", new Shape(dim(0)), TensorRole.SKIPPED, -1, "stem");
        for (int i = 0; i < stages(); i++) {
            int d = dim(i);
            String stage = "stages." + i + ".";
            b.stage(i);
            if (i > 0) {
                int first = blockIndex(i, 0);
                b.norm(stage + "downsample.0", dim(i - 1), first, "downsample.norm");
                b.add(stage + "downsample.1.weight", new Shape(d, dim(i - 1), 2, 2), TensorRole.KERNEL, first,
                        "downsample.conv");
                b.add(stage + "downsample.1.bias", new Shape(d), TensorRole.VECTOR, first, "downsample.conv");
            }
            for (int j = 0; j < depths.get(i); j++) {
                int index = blockIndex(i, j);
                String p = stage + "blocks." + j + ".";
                b.add(p + "gamma", new Shape(d), TensorRole.VECTOR, index, "gamma");
                b.add(p + "conv_dw.weight", new Shape(d, 1, kernelSize, kernelSize), TensorRole.KERNEL, index, "conv_dw");
                b.add(p + "conv_dw.bias", new Shape(d), TensorRole.VECTOR, index, "conv_dw");
                b.norm(p + "norm", d, index, "norm");
                b.linear(p + "mlp.fc1", mlpRatio * d, d, index, "fc1");
                b.linear(p + "mlp.fc2", d, mlpRatio * d, index, "fc2");
            }
        }
        b.stage(-1).norm("head.norm", numFeatures(), -1, "head.norm");
        b.add("head.fc.weight", new Shape(numClasses, numFeatures()), TensorRole.SKIPPED, -1, "head");
        b.add("head.fc.bias", new Shape(numClasses), TensorRole.SKIPPED, -1, "head");
        return b.build(this);
    }

    @Override
    public long forwardFlopsPerImage() {
        long grid = imageSize / patchSize;
        long flops = 2L * grid * grid * dim(0) * inChannels * patchSize * patchSize;
        for (int i = 0; i < stages(); i++) {
            long n = (long) resolution(i) * resolution(i);
            long d = dim(i);
            if (i > 0) {
                flops += 2L * n * d * dim(i - 1) * 4;
            }
            long block = 2L * n * d * kernelSize * kernelSize + 2L * n * 2 * d * mlpRatio * d;
            flops += depths.get(i) * block;
        }
        return flops + 2L * numFeatures() * numClasses;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT,
                "%s(convnext, img %d, stem %d, depths %s, dims %s, kernel %d, classes %d, drop-path %.2f)",
                name, imageSize, patchSize, depths, dims, kernelSize, numClasses, dropPathRate);
    }
}
