package org.sptspark.model;

import static org.sptspark.model.VisionTransformer.tensor;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.norm.LayerNorm;
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
import org.sptspark.model.VisionTransformer.LinearLayer;
import org.sptspark.model.VisionTransformer.Module;
import org.sptspark.model.VisionTransformer.Norm;
import org.sptspark.model.VisionTransformer.WeightAndBias;

/**
 * A ConvNeXt as in timm's {@code ConvNeXt} (its {@code conv_mlp=False} variant): a stem (a strided
 * {@code patch x patch} convolution and a LayerNorm over channels), stages of blocks, each stage
 * after the first starting with a downsampling (a channel LayerNorm and a 2x2 convolution of stride
 * 2), global average pooling, {@code head.norm} and a linear head {@code head.fc}. A block is
 * {@code x + drop_path(gamma * fc2(gelu(fc1(norm(conv_dw(x))))))}, the depthwise convolution on
 * channels-first maps, the rest channels-last, GELU the exact-erf one.
 *
 * <p>Input: {@code (batch, channels, imageSize, imageSize)} float32, already normalised. Output:
 * logits {@code (batch, numClasses)}. Every intermediate array is attached to the manager of the
 * input array; parameters live in the manager passed to {@link #initialize}.
 *
 * <p>Stochastic depth is active only in training mode. Block {@code i} (its global index over all
 * stages) draws its per-sample masks from the {@code i}-th split of a {@link SplittableRandom}
 * seeded by the forward call's {@link VisionTransformer#DROP_PATH_SEED}, as the ViT does, so a
 * batch's randomness depends on the caller's seed alone.
 */
public final class ConvNext extends AbstractBlock implements Backbone {

    private static final byte VERSION = 1;

    /** timm's layer-scale initial value ({@code ls_init_value}). */
    public static final float LAYER_SCALE_INIT = 1e-6f;

    private final ConvNextConfig config;
    private final ParameterSpace space;
    private final Conv stemConv;
    private final ChannelNorm stemNorm;
    private final List<Stage> stages = new ArrayList<>();
    private final Norm headNorm;
    private final LinearLayer head;
    private final Map<String, Parameter> named;
    private final Map<String, LinearLayer> linears;
    /** Every block by its global index, and the stage it starts (or null). */
    private final List<ConvNextBlock> blocks = new ArrayList<>();
    private final List<Stage> stageStartingAt = new ArrayList<>();

    public ConvNext(ConvNextConfig config) {
        super(VERSION);
        this.config = config;
        this.space = config.space();
        stemConv = addChildBlock("stem.0", new Conv(config.inChannels(), config.dim(0), config.patchSize(),
                config.patchSize(), 0, 1));
        stemNorm = addChildBlock("stem.1", new ChannelNorm(config.dim(0), config.layerNormEps()));
        for (int i = 0; i < config.stages(); i++) {
            stages.add(addChildBlock("stages." + i, new Stage(config, i)));
        }
        headNorm = addChildBlock("head.norm", new Norm(config.numFeatures(), config.layerNormEps()));
        head = addChildBlock("head.fc", new LinearLayer(config.numFeatures(), config.numClasses()));

        var map = new LinkedHashMap<String, Parameter>();
        stemConv.collect("stem.0.", map);
        stemNorm.collect("stem.1.", map);
        for (int i = 0; i < stages.size(); i++) {
            stages.get(i).collect("stages." + i + ".", map);
        }
        headNorm.collect("head.norm.", map);
        head.collect("head.fc.", map);
        space.requireMatches(map);
        named = Collections.unmodifiableMap(map);
        var layers = new LinkedHashMap<String, LinearLayer>();
        for (int i = 0; i < stages.size(); i++) {
            List<ConvNextBlock> blocks = stages.get(i).blocks;
            for (int j = 0; j < blocks.size(); j++) {
                String prefix = "stages." + i + ".blocks." + j + ".mlp.";
                layers.put(prefix + "fc1", blocks.get(j).fc1);
                layers.put(prefix + "fc2", blocks.get(j).fc2);
            }
        }
        linears = Collections.unmodifiableMap(layers);
        for (Stage stage : stages) {
            for (int j = 0; j < stage.blocks.size(); j++) {
                blocks.add(stage.blocks.get(j));
                stageStartingAt.add(j == 0 ? stage : null);
            }
        }
    }

    /**
     * A model with every parameter allocated in {@code manager} and initialised deterministically
     * from {@code seed}: convolution and linear weights truncated-normal with std 0.02 (cut at two
     * standard deviations, as timm's {@code trunc_normal_}), biases zero, LayerNorm weights one and
     * biases zero, layer scales {@code gamma} {@value #LAYER_SCALE_INIT}. Each tensor draws from its
     * own stream, keyed by the seed and its name.
     */
    public static ConvNext create(NDManager manager, ConvNextConfig config, long seed) {
        var model = new ConvNext(config);
        model.setInitializer(Initializer.ZEROS, Parameter.Type.WEIGHT);
        model.setInitializer(Initializer.ZEROS, Parameter.Type.BIAS);
        model.initialize(manager, DataType.FLOAT32,
                new Shape(1, config.inChannels(), config.imageSize(), config.imageSize()));
        for (TensorSpec t : model.space().tensors()) {
            Tensors.assign(model.parameter(t.name()).getArray(), sample(t, seed));
        }
        return model;
    }

    /** The initial values of one tensor, row-major (see {@link #create}). */
    public static float[] sample(TensorSpec t, long seed) {
        var random = new SplittableRandom(seed ^ VitInitializer.fnv1a(t.name()));
        float[] values = new float[Math.toIntExact(t.size())];
        String name = t.name();
        int rank = t.shape().dimension();
        if (name.endsWith(".gamma")) {
            Arrays.fill(values, LAYER_SCALE_INIT);
        } else if (name.endsWith(".weight") && (rank == 2 || rank == 4)) {
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) VitInitializer.truncatedGaussian(random, VitInitializer.STD);
            }
        } else if (name.endsWith(".weight") && rank == 1) {
            Arrays.fill(values, 1f); // every 1-d weight of a ConvNeXt is a LayerNorm's
        }
        // biases stay zero
        return values;
    }

    @Override
    public ConvNextConfig config() {
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

    @Override
    public int depth() {
        return config.totalDepth();
    }

    @Override
    public void setBranch(String linear, VisionTransformer.LinearBranch branch) {
        LinearLayer layer = linears.get(linear);
        if (layer == null) {
            throw new IllegalArgumentException("no block linear layer '" + linear + "' in " + config.name());
        }
        layer.branch = branch;
    }

    @Override
    public void clearBranches() {
        linears.values().forEach(l -> l.branch = null);
    }

    @Override
    public NDArray embed(ParameterStore store, NDArray images, boolean training) {
        return stemNorm.apply(store, stemConv.apply(store, images, training), training);
    }

    @Override
    public NDArray block(int index, ParameterStore store, NDArray x, boolean training, long dropPathSeed) {
        Stage starting = stageStartingAt.get(index);
        if (starting != null && starting.downsampleNorm != null) {
            x = starting.downsampleConv.apply(store, starting.downsampleNorm.apply(store, x, training), training);
        }
        // block i draws from the i-th split of the seed, as the ViT's blocks do
        return blocks.get(index).forward(store, x, training, DropPath.blockRandom(dropPathSeed, index));
    }

    @Override
    public NDArray classify(ParameterStore store, NDArray x, boolean training) {
        Shape s = x.getShape();
        // global average pooling; DJL's PyTorch engine averages over one axis at a time
        NDArray pooled = x.reshape(s.get(0), s.get(1), s.get(2) * s.get(3)).mean(new int[] {2});
        return head.apply(store, headNorm.apply(store, pooled, training), training);
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

    @Override
    public String toString() {
        return "ConvNext(" + config + ")";
    }

    /** A 2-d convolution with bias, on {@code (batch, channels, height, width)}. */
    static final class Conv extends WeightAndBias {
        final int stride;
        final int padding;
        final int groups;

        /** {@code in} channels to {@code out}, a square kernel; {@code groups} equal to both makes it depthwise. */
        Conv(int in, int out, int kernel, int stride, int padding, int groups) {
            super(new Shape(out, in / groups, kernel, kernel), new Shape(out));
            this.stride = stride;
            this.padding = padding;
            this.groups = groups;
        }

        NDArray apply(ParameterStore store, NDArray x, boolean training) {
            return Conv2d.conv2d(x, weight(store, x, training), bias(store, x, training), new Shape(stride, stride),
                    new Shape(padding, padding), new Shape(1, 1), groups).head();
        }
    }

    /** timm's {@code LayerNorm2d}: a LayerNorm over the channel axis of {@code (batch, channels, h, w)}. */
    static final class ChannelNorm extends WeightAndBias {
        final int width;
        final float eps;

        ChannelNorm(int width, double eps) {
            super(new Shape(width), new Shape(width));
            this.width = width;
            this.eps = (float) eps;
        }

        NDArray apply(ParameterStore store, NDArray x, boolean training) {
            NDArray last = x.transpose(0, 2, 3, 1);
            return LayerNorm.layerNorm(last, new Shape(width), weight(store, x, training), bias(store, x, training), eps)
                    .head().transpose(0, 3, 1, 2);
        }
    }

    /** One stage: its downsampling (absent in the first) and its blocks. */
    static final class Stage extends Module {
        final ChannelNorm downsampleNorm;
        final Conv downsampleConv;
        final List<ConvNextBlock> blocks = new ArrayList<>();

        Stage(ConvNextConfig c, int stage) {
            if (stage > 0) {
                downsampleNorm = addChildBlock("downsample.0", new ChannelNorm(c.dim(stage - 1), c.layerNormEps()));
                downsampleConv = addChildBlock("downsample.1", new Conv(c.dim(stage - 1), c.dim(stage), 2, 2, 0, 1));
            } else {
                downsampleNorm = null;
                downsampleConv = null;
            }
            for (int j = 0; j < c.depths().get(stage); j++) {
                blocks.add(addChildBlock("blocks." + j, new ConvNextBlock(c, stage, j)));
            }
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
            if (downsampleNorm != null) {
                downsampleNorm.collect(prefix + "downsample.0.", into);
                downsampleConv.collect(prefix + "downsample.1.", into);
            }
            for (int j = 0; j < blocks.size(); j++) {
                blocks.get(j).collect(prefix + "blocks." + j + ".", into);
            }
        }
    }

    /** A ConvNeXt block: depthwise convolution, LayerNorm, MLP, layer scale, stochastic depth. */
    static final class ConvNextBlock extends Module {
        final Parameter gamma;
        final Conv convDw;
        final Norm norm;
        final LinearLayer fc1;
        final LinearLayer fc2;
        final double dropPath;

        ConvNextBlock(ConvNextConfig c, int stage, int block) {
            int d = c.dim(stage);
            int k = c.kernelSize();
            gamma = addParameter(tensor("gamma", new Shape(d)));
            convDw = addChildBlock("conv_dw", new Conv(d, d, k, 1, k / 2, d));
            norm = addChildBlock("norm", new Norm(d, c.layerNormEps()));
            fc1 = addChildBlock("mlp.fc1", new LinearLayer(d, c.mlpRatio() * d));
            fc2 = addChildBlock("mlp.fc2", new LinearLayer(c.mlpRatio() * d, d));
            dropPath = c.dropPathRate(c.blockIndex(stage, block));
        }

        NDArray forward(ParameterStore store, NDArray x, boolean training, SplittableRandom random) {
            NDArray y = convDw.apply(store, x, training).transpose(0, 2, 3, 1); // (B, H, W, C)
            y = norm.apply(store, y, training);
            y = fc2.apply(store, Activation.gelu(fc1.apply(store, y, training)), training);
            y = y.mul(store.getValue(gamma, x.getDevice(), training)).transpose(0, 3, 1, 2);
            return x.add(DropPath.apply(y, dropPath, training, random));
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
            into.put(prefix + "gamma", gamma);
            convDw.collect(prefix + "conv_dw.", into);
            norm.collect(prefix + "norm.", into);
            fc1.collect(prefix + "mlp.fc1.", into);
            fc2.collect(prefix + "mlp.fc2.", into);
        }
    }
}
