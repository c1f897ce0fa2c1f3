package org.sptspark.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.sptspark.model.VisionTransformer.LinearBranch;
import org.sptspark.model.VisionTransformer.LinearLayer;
import org.sptspark.model.VisionTransformer.Module;
import org.sptspark.model.VisionTransformer.Norm;

/**
 * A Swin Transformer as in timm's {@code SwinTransformer} (timm 0.9 and later): a strided
 * patch-embedding convolution and a LayerNorm, then stages of pre-norm blocks ({@code x +
 * attn(norm1(x))}, {@code x + mlp(norm2(x))}) whose attention runs inside windows, with a learned
 * relative position bias and, in every second block, windows cyclically shifted by half a window
 * (the shifted-window mask keeping regions that are not neighbours in the image apart). Each stage
 * after the first starts with a patch merging (2x2 neighbours concatenated, LayerNorm, a linear
 * layer without bias halving the width). A final LayerNorm, the mean over all tokens and a linear
 * head ({@code head.fc}) end it. Attention keeps q, k and v as separate linear layers, because SPT
 * allocates per matrix; checkpoints with timm's fused {@code qkv} are split by {@link Checkpoints}.
 *
 * <p>Features are kept channels-last, {@code (batch, height, width, channels)}, as in timm. The
 * relative position index and the shifted-window mask are buffers timm computes from the
 * architecture; they are built here in Java from the {@link SwinConfig} and never loaded (older
 * timm checkpoints that carry them have them dropped by {@link Checkpoints#read}).
 *
 * <p>Input: {@code (batch, channels, imageSize, imageSize)} float32, already normalised. Output:
 * logits {@code (batch, numClasses)}. Every intermediate array is attached to the manager of the
 * input array; parameters live in the manager passed to {@link #initialize}.
 *
 * <p>Stochastic depth (drop-path) is active only in training mode, at {@link
 * SwinConfig#dropPathRate(int)} of each block's global index. Its per-sample masks are drawn from a
 * {@link SplittableRandom} per block, the block's split of the seed passed as {@link
 * VisionTransformer#DROP_PATH_SEED} (or to {@link #logits}), so a batch's randomness depends on the
 * caller's seed alone.
 */
public final class SwinTransformer extends AbstractBlock implements Backbone {

    private static final byte VERSION = 1;

    /** The value timm adds to the attention scores between tokens of different shifted regions. */
    static final float MASK_VALUE = -100f;

    private final SwinConfig config;
    private final ParameterSpace space;
    private final PatchEmbed patchEmbed;
    private final List<Stage> stages = new ArrayList<>();
    private final Norm norm;
    private final LinearLayer head;
    private final Map<String, Parameter> named;
    private final Map<String, LinearLayer> linears;
    private final Map<String, PatchMerging> reductions;
    /** Every block by its global index, and the patch merging that runs before it (or null). */
    private final List<SwinBlock> blocks = new ArrayList<>();
    private final List<PatchMerging> mergings = new ArrayList<>();

    public SwinTransformer(SwinConfig config) {
        super(VERSION);
        this.config = config;
        this.space = config.space();
        patchEmbed = addChildBlock("patch_embed", new PatchEmbed(config));
        for (int i = 0; i < config.stages(); i++) {
            stages.add(addChildBlock("layers." + i, new Stage(config, i)));
        }
        norm = addChildBlock("norm", new Norm(config.numFeatures(), config.layerNormEps()));
        head = addChildBlock("head", new LinearLayer(config.numFeatures(), config.numClasses()));

        var map = new LinkedHashMap<String, Parameter>();
        patchEmbed.collect("patch_embed.", map);
        for (int i = 0; i < stages.size(); i++) {
            stages.get(i).collect("layers." + i + ".", map);
        }
        norm.collect("norm.", map);
        head.collect("head.fc.", map);
        space.requireMatches(map);
        named = Collections.unmodifiableMap(map);
        var layers = new LinkedHashMap<String, LinearLayer>();
        for (int i = 0; i < stages.size(); i++) {
            List<SwinBlock> blocks = stages.get(i).blocks;
            for (int j = 0; j < blocks.size(); j++) {
                SwinBlock b = blocks.get(j);
                String prefix = "layers." + i + ".blocks." + j + ".";
                layers.put(prefix + "attn.q", b.attn.q);
                layers.put(prefix + "attn.k", b.attn.k);
                layers.put(prefix + "attn.v", b.attn.v);
                layers.put(prefix + "attn.proj", b.attn.proj);
                layers.put(prefix + "mlp.fc1", b.mlp.fc1);
                layers.put(prefix + "mlp.fc2", b.mlp.fc2);
            }
        }
        linears = Collections.unmodifiableMap(layers);
        var merging = new LinkedHashMap<String, PatchMerging>();
        for (int i = 1; i < stages.size(); i++) {
            merging.put("layers." + i + ".downsample.reduction", stages.get(i).downsample);
        }
        reductions = Collections.unmodifiableMap(merging);
        for (Stage stage : stages) {
            for (int j = 0; j < stage.blocks.size(); j++) {
                blocks.add(stage.blocks.get(j));
                mergings.add(j == 0 ? stage.downsample : null);
            }
        }
    }

    /**
     * A model with every parameter allocated in {@code manager} and initialised deterministically
     * from {@code seed} (see {@link #sample}).
     */
    public static SwinTransformer create(NDManager manager, SwinConfig config, long seed) {
        var model = new SwinTransformer(config);
        model.setInitializer(Initializer.ZEROS, Parameter.Type.WEIGHT);
        model.setInitializer(Initializer.ZEROS, Parameter.Type.BIAS);
        model.initialize(manager, DataType.FLOAT32,
                new Shape(1, config.inChannels(), config.imageSize(), config.imageSize()));
        for (TensorSpec t : model.space.tensors()) {
            Tensors.assign(model.parameter(t.name()).getArray(), sample(config, t, seed));
        }
        return model;
    }

    /**
     * The initial values of one tensor, row-major, drawn from its own stream (keyed by the seed and
     * its name), in timm's manner: linear weights (the head's and the patch merging's included) and
     * the relative position bias tables truncated-normal with std 0.02 (cut at two standard
     * deviations), biases zero, LayerNorm weight one and bias zero, the patch convolution PyTorch's
     * default uniform(+-1/sqrt(fan_in)).
     */
    public static float[] sample(SwinConfig config, TensorSpec t, long seed) {
        var random = new SplittableRandom(seed ^ VitInitializer.fnv1a(t.name()));
        float[] values = new float[Math.toIntExact(t.size())];
        String name = t.name();
        if (name.startsWith("patch_embed.proj.")) {
            double bound = 1.0 / Math.sqrt((double) config.inChannels() * config.patchSize() * config.patchSize());
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) random.nextDouble(-bound, bound);
            }
        } else if (name.endsWith(".relative_position_bias_table")
                || (t.shape().dimension() == 2 && name.endsWith(".weight"))) {
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) VitInitializer.truncatedGaussian(random, VitInitializer.STD);
            }
        } else if (t.shape().dimension() == 1 && name.endsWith(".weight") && name.contains("norm")) {
            Arrays.fill(values, 1f);
        }
        // everything else (linear and LayerNorm biases) stays zero
        return values;
    }

    @Override
    public SwinConfig config() {
        return config;
    }

    @Override
    public ParameterSpace space() {
        return space;
    }

    @Override
    public Map<String, Parameter> namedParameters() {
        return named;
    }

    /**
     * Installs (or with {@code null} removes) a branch on the block linear layer named by its timm
     * prefix, e.g. {@code layers.2.blocks.1.attn.q} or {@code layers.0.blocks.0.mlp.fc1}.
     */
    @Override
    public void setBranch(String linear, LinearBranch branch) {
        LinearLayer layer = linears.get(linear);
        PatchMerging merging = reductions.get(linear);
        if (layer != null) {
            layer.branch = branch;
        } else if (merging != null) {
            merging.branch = branch;
        } else {
            throw new IllegalArgumentException("no block linear layer '" + linear + "' in " + config.name());
        }
    }

    /** Removes every installed branch: the model computes the plain backbone function again. */
    @Override
    public void clearBranches() {
        linears.values().forEach(l -> l.branch = null);
        reductions.values().forEach(m -> m.branch = null);
    }

    @Override
    public int depth() {
        return config.totalDepth();
    }

    @Override
    public NDArray embed(ParameterStore store, NDArray images, boolean training) {
        return patchEmbed.apply(store, images, training);
    }

    @Override
    public NDArray block(int index, ParameterStore store, NDArray x, boolean training, long dropPathSeed) {
        SwinBlock block = blocks.get(index);
        if (mergings.get(index) != null) {
            x = mergings.get(index).apply(store, x, training);
        }
        return block.apply(store, x, training, dropPathSeed);
    }

    @Override
    public NDArray classify(ParameterStore store, NDArray x, boolean training) {
        Shape s = x.getShape();
        // the mean over every token: DJL's PyTorch engine averages over one axis at a time
        NDArray pooled = norm.apply(store, x, training).reshape(s.get(0), s.get(1) * s.get(2), s.get(3))
                .mean(new int[] {1});
        return head.apply(store, pooled, training);
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore store, NDList inputs, boolean training, PairList<String, Object> params) {
        long seed = 0;
        if (params != null && params.contains(VisionTransformer.DROP_PATH_SEED)) {
            seed = (Long) params.get(VisionTransformer.DROP_PATH_SEED);
        }
        return new NDList(logits(store, inputs.head(), training, seed));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {new Shape(inputShapes[0].get(0), config.numClasses())};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        for (Block child : getChildren().values()) {
            child.initialize(manager, dataType, inputShapes);
        }
    }

    /**
     * {@code torch.roll(x, (shift, shift), (1, 2))}: element {@code i} of each of the two spatial
     * axes moves to {@code i + shift} (mod the axis length), built from slices and a concatenation.
     */
    static NDArray roll(NDArray x, int shift) {
        NDArray y = x;
        for (int axis = 1; axis <= 2; axis++) {
            long n = y.getShape().get(axis);
            long k = Math.floorMod(shift, n);
            if (k == 0) {
                continue;
            }
            NDArray tail = y.get(NDIndex.sliceAxis(axis, n - k, n));
            NDArray front = y.get(NDIndex.sliceAxis(axis, 0, n - k));
            y = NDArrays.concat(new NDList(tail, front), axis);
        }
        return y;
    }

    /**
     * The relative position index of a {@code w x w} window, as timm computes it: token {@code i}
     * at {@code (hi, wi)} and token {@code j} at {@code (hj, wj)} (row-major in the window) read
     * table row {@code (hi - hj + w - 1) * (2w - 1) + (wi - wj + w - 1)}.
     */
    static int[][] relativePositionIndex(int w) {
        int n = w * w;
        int[][] index = new int[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                index[i][j] = (i / w - j / w + w - 1) * (2 * w - 1) + (i % w - j % w + w - 1);
            }
        }
        return index;
    }

    /**
     * The shifted-window mask of a {@code res x res} map in windows of {@code w} shifted by {@code
     * shift}, {@code (windows, w*w, w*w)} row-major: 0 between tokens of one region, {@link
     * #MASK_VALUE} between tokens of different ones. In the rolled map each axis has three regions,
     * {@code [0, res-w)}, {@code [res-w, res-shift)} and {@code [res-shift, res)}; windows are
     * numbered row-major over the map, tokens row-major in a window.
     */
    static float[] shiftMask(int res, int w, int shift) {
        int perAxis = res / w;
        int n = w * w;
        float[] mask = new float[perAxis * perAxis * n * n];
        for (int wy = 0; wy < perAxis; wy++) {
            for (int wx = 0; wx < perAxis; wx++) {
                int window = wy * perAxis + wx;
                for (int i = 0; i < n; i++) {
                    int ri = region(wy * w + i / w, res, w, shift) * 3 + region(wx * w + i % w, res, w, shift);
                    for (int j = 0; j < n; j++) {
                        int rj = region(wy * w + j / w, res, w, shift) * 3 + region(wx * w + j % w, res, w, shift);
                        mask[(window * n + i) * n + j] = ri == rj ? 0f : MASK_VALUE;
                    }
                }
            }
        }
        return mask;
    }

    private static int region(int coordinate, int res, int w, int shift) {
        return coordinate < res - w ? 0 : coordinate < res - shift ? 1 : 2;
    }

    /** The patch convolution, channels-last, and a LayerNorm over the channels. */
    static final class PatchEmbed extends Module {
        final Parameter weight;
        final Parameter bias;
        final Norm norm;
        final int patch;

        PatchEmbed(SwinConfig c) {
            patch = c.patchSize();
            weight = addParameter(VisionTransformer.tensor("weight",
                    new Shape(c.embedDim(), c.inChannels(), c.patchSize(), c.patchSize())));
            bias = addParameter(VisionTransformer.tensor("bias", new Shape(c.embedDim())));
            norm = addChildBlock("norm", new Norm(c.embedDim(), c.layerNormEps()));
        }

        /** Images {@code (B, C, H, W)} to features {@code (B, H/p, W/p, dim)}. */
        NDArray apply(ParameterStore store, NDArray images, boolean training) {
            NDArray y = Conv2d.conv2d(images, store.getValue(weight, images.getDevice(), training),
                    store.getValue(bias, images.getDevice(), training), new Shape(patch, patch), new Shape(0, 0),
                    new Shape(1, 1), 1).head();
            return norm.apply(store, y.transpose(0, 2, 3, 1), training);
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
            into.put(prefix + "proj.weight", weight);
            into.put(prefix + "proj.bias", bias);
            norm.collect(prefix + "norm.", into);
        }
    }

    /**
     * 2x2 neighbours concatenated to {@code 4C} channels in timm's order (offset {@code (dh, dw)} at
     * channel block {@code dw * 2 + dh}: {@code x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2],
     * x[1::2, 1::2]}), a LayerNorm and a linear reduction to {@code 2C} without bias.
     */
    static final class PatchMerging extends Module {
        final Norm norm;
        final Parameter reduction;
        /** A tuning method's branch on the reduction (a LoRA branch, an Adapter), or {@code null}. */
        LinearBranch branch;

        PatchMerging(int inDim, double eps) {
            norm = addChildBlock("norm", new Norm(4 * inDim, eps));
            reduction = addParameter(VisionTransformer.tensor("weight", new Shape(2L * inDim, 4L * inDim)));
        }

        /** {@code (B, H, W, C)} to {@code (B, H/2, W/2, 2C)}. */
        NDArray apply(ParameterStore store, NDArray x, boolean training) {
            Shape s = x.getShape();
            long b = s.get(0);
            long h = s.get(1);
            long w = s.get(2);
            long c = s.get(3);
            // (B, H/2, dh, W/2, dw, C) -> (B, H/2, W/2, dw, dh, C): channel block dw * 2 + dh
            NDArray merged = x.reshape(b, h / 2, 2, w / 2, 2, c).transpose(0, 1, 3, 4, 2, 5)
                    .reshape(b, h / 2, w / 2, 4 * c);
            NDArray normed = norm.apply(store, merged, training);
            NDArray y = Linear.linear(normed, store.getValue(reduction, x.getDevice(), training)).head();
            return branch == null ? y : branch.apply(normed, y, training);
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
            norm.collect(prefix + "norm.", into);
            into.put(prefix + "reduction.weight", reduction);
        }
    }

    /**
     * Multi-head self-attention inside {@code window x window} windows of the (cyclically shifted)
     * map, with separate q, k, v projections, the relative position bias and the shifted-window mask.
     */
    static final class WindowAttention extends Module {
        final LinearLayer q;
        final LinearLayer k;
        final LinearLayer v;
        final LinearLayer proj;
        final Parameter table;
        final int heads;
        final int window;
        final int shift;
        final int resolution;
        final float scale;
        /** Per pair of window tokens and head, the table row it reads: {@code (N*N, heads)} row-major. */
        private final long[] biasIndex;
        /** The shifted-window mask, {@code (windows, N, N)}, or {@code null} without shift. */
        private final float[] mask;

        WindowAttention(SwinConfig c, int stage, int block) {
            int d = c.dim(stage);
            q = addChildBlock("q", new LinearLayer(d, d));
            k = addChildBlock("k", new LinearLayer(d, d));
            v = addChildBlock("v", new LinearLayer(d, d));
            proj = addChildBlock("proj", new LinearLayer(d, d));
            heads = c.numHeads().get(stage);
            window = c.window(stage);
            shift = c.shift(stage, block);
            resolution = c.resolution(stage);
            scale = (float) (1.0 / Math.sqrt((double) d / heads));
            table = addParameter(VisionTransformer.tensor("relative_position_bias_table",
                    new Shape((2L * window - 1) * (2L * window - 1), heads)));
            int n = window * window;
            int[][] index = relativePositionIndex(window);
            biasIndex = new long[n * n * heads];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    for (int h = 0; h < heads; h++) {
                        biasIndex[(i * n + j) * heads + h] = index[i][j];
                    }
                }
            }
            mask = shift > 0 ? shiftMask(resolution, window, shift) : null;
        }

        /** Normalised features {@code (B, H, W, C)} to the attention's output, same shape. */
        NDArray apply(ParameterStore store, NDArray x, boolean training) {
            Shape s = x.getShape();
            long b = s.get(0);
            long res = s.get(1);
            long c = s.get(3);
            long perAxis = res / window;
            long windows = perAxis * perAxis;
            long n = (long) window * window;
            long bw = b * windows;
            NDArray shifted = shift > 0 ? roll(x, -shift) : x;
            NDArray tokens = shifted.reshape(b, perAxis, window, perAxis, window, c).transpose(0, 1, 3, 2, 4, 5)
                    .reshape(bw, n, c);

            NDArray qh = Tensors.mul(splitHeads(q.apply(store, tokens, training), bw, n, c), scale);
            NDArray kh = splitHeads(k.apply(store, tokens, training), bw, n, c);
            NDArray vh = splitHeads(v.apply(store, tokens, training), bw, n, c);
            NDArray attn = qh.matMul(kh.transpose(0, 1, 3, 2)).add(bias(store, x, training, n));
            if (mask != null) {
                NDArray m = Tensors.constant(x.getManager(), mask, new Shape(windows, 1, n, n), x.getDevice());
                attn = attn.reshape(b, windows, heads, n, n).add(m).reshape(bw, heads, n, n);
            }
            NDArray out = attn.softmax(-1).matMul(vh).transpose(0, 2, 1, 3).reshape(bw, n, c);
            out = proj.apply(store, out, training);
            NDArray merged = out.reshape(b, perAxis, perAxis, window, window, c).transpose(0, 1, 3, 2, 4, 5)
                    .reshape(b, res, res, c);
            return shift > 0 ? roll(merged, shift) : merged;
        }

        /** The relative position bias {@code (heads, N, N)}, gathered from the table, in {@code x}'s manager. */
        private NDArray bias(ParameterStore store, NDArray x, boolean training, long n) {
            NDArray index = Tensors.constant(x.getManager(), biasIndex, x.getDevice()).reshape(n * n, heads);
            NDArray gathered = store.getValue(table, x.getDevice(), training).gather(index, 0);
            gathered.attach(x.getManager()); // it would belong to the table's manager
            return gathered.transpose(1, 0).reshape(heads, n, n);
        }

        private NDArray splitHeads(NDArray t, long bw, long n, long c) {
            return t.reshape(bw, n, heads, c / heads).transpose(0, 2, 1, 3);
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
            into.put(prefix + "relative_position_bias_table", table);
            q.collect(prefix + "q.", into);
            k.collect(prefix + "k.", into);
            v.collect(prefix + "v.", into);
            proj.collect(prefix + "proj.", into);
        }
    }

    /** fc1, exact GELU, fc2. */
    static final class Mlp extends Module {
        final LinearLayer fc1;
        final LinearLayer fc2;

        Mlp(int dim, int hidden) {
            fc1 = addChildBlock("fc1", new LinearLayer(dim, hidden));
            fc2 = addChildBlock("fc2", new LinearLayer(hidden, dim));
        }

        NDArray apply(ParameterStore store, NDArray x, boolean training) {
            return fc2.apply(store, Activation.gelu(fc1.apply(store, x, training)), training);
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
            fc1.collect(prefix + "fc1.", into);
            fc2.collect(prefix + "fc2.", into);
        }
    }

    /** A pre-norm Swin block with stochastic depth on both residual branches. */
    static final class SwinBlock extends Module {
        final Norm norm1;
        final WindowAttention attn;
        final Norm norm2;
        final Mlp mlp;
        final int index;
        final double dropPath;

        SwinBlock(SwinConfig c, int stage, int block) {
            int d = c.dim(stage);
            norm1 = addChildBlock("norm1", new Norm(d, c.layerNormEps()));
            attn = addChildBlock("attn", new WindowAttention(c, stage, block));
            norm2 = addChildBlock("norm2", new Norm(d, c.layerNormEps()));
            mlp = addChildBlock("mlp", new Mlp(d, c.mlpRatio() * d));
            index = c.blockIndex(stage, block);
            dropPath = c.dropPathRate(index);
        }

        NDArray apply(ParameterStore store, NDArray x, boolean training, long seed) {
            SplittableRandom random = training && dropPath > 0 ? DropPath.blockRandom(seed, index) : null;
            NDArray a = attn.apply(store, norm1.apply(store, x, training), training);
            x = x.add(DropPath.apply(a, dropPath, training, random));
            NDArray m = mlp.apply(store, norm2.apply(store, x, training), training);
            return x.add(DropPath.apply(m, dropPath, training, random));
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
            norm1.collect(prefix + "norm1.", into);
            attn.collect(prefix + "attn.", into);
            norm2.collect(prefix + "norm2.", into);
            mlp.collect(prefix + "mlp.", into);
        }
    }

    /** A stage: the patch merging (stages after the first), then its blocks. */
    static final class Stage extends Module {
        final PatchMerging downsample;
        final List<SwinBlock> blocks = new ArrayList<>();

        Stage(SwinConfig c, int stage) {
            downsample = stage > 0 ? addChildBlock("downsample", new PatchMerging(c.dim(stage - 1), c.layerNormEps()))
                    : null;
            for (int j = 0; j < c.depths().get(stage); j++) {
                blocks.add(addChildBlock("blocks." + j, new SwinBlock(c, stage, j)));
            }
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
            if (downsample != null) {
                downsample.collect(prefix + "downsample.", into);
            }
            for (int j = 0; j < blocks.size(); j++) {
                blocks.get(j).collect(prefix + "blocks." + j + ".", into);
            }
        }
    }
}
