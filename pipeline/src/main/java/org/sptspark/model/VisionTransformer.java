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
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A Vision Transformer as in timm's {@code VisionTransformer}: a patch-embedding convolution,
 * a class token, a learned position embedding, pre-norm blocks ({@code x + attn(norm1(x))},
 * {@code x + mlp(norm2(x))}) with exact-erf GELU, a final LayerNorm, and a linear head on the
 * class token. Attention keeps q, k and v as separate linear layers, because SPT allocates per
 * matrix; checkpoints with timm's fused {@code qkv} are split by {@link Checkpoints}.
 *
 * <p>Input: {@code (batch, channels, imageSize, imageSize)} float32, already normalised. Output:
 * logits {@code (batch, numClasses)}.
 *
 * <p>Every intermediate array is attached to the manager of the input array, so a caller that
 * creates each batch in its own sub-manager frees all activations by closing it. Parameters live
 * in the manager passed to {@link #initialize}.
 *
 * <p>Stochastic depth (drop-path) is active only in training mode. Its per-sample masks are drawn
 * from a {@link SplittableRandom} seeded by {@link #DROP_PATH_SEED} in the forward call's
 * parameters, so a batch's randomness depends on the caller's seed alone, never on the engine's
 * global generator or on which executor runs it.
 */
public final class VisionTransformer extends AbstractBlock implements Backbone {

    /** Forward-call parameter (a {@link Long}) seeding this call's drop-path masks. */
    public static final String DROP_PATH_SEED = "dropPathSeed";

    private static final byte VERSION = 1;

    private final VitConfig config;
    private final ParameterSpace space;
    private final Parameter clsToken;
    private final Parameter posEmbed;
    private final PatchEmbedding patchEmbed;
    private final List<TransformerBlock> blocks = new ArrayList<>();
    private final Norm norm;
    private final LinearLayer head;
    private final Map<String, Parameter> named;
    private final Map<String, LinearLayer> linears;
    private Precision precision = Precision.FP32;

    /**
     * Extra computation around one linear layer, installed by a tuning method (LoRA's parallel
     * branch, an Adapter after the layer).
     */
    @FunctionalInterface
    public interface LinearBranch {
        /**
         * @param input the layer's input {@code (..., in)}
         * @param output the frozen layer's output {@code (..., out)}
         * @return the output the model goes on with
         */
        NDArray apply(NDArray input, NDArray output, boolean training);
    }

    public VisionTransformer(VitConfig config) {
        super(VERSION);
        this.config = config;
        this.space = ParameterSpace.of(config);
        int d = config.embedDim();
        clsToken = addParameter(tensor("cls_token", new Shape(1, 1, d)));
        posEmbed = addParameter(tensor("pos_embed", new Shape(1, config.numTokens(), d)));
        patchEmbed = addChildBlock("patch_embed", new PatchEmbedding(config));
        for (int i = 0; i < config.depth(); i++) {
            blocks.add(addChildBlock("blocks." + i, new TransformerBlock(config, i)));
        }
        norm = addChildBlock("norm", new Norm(d, config.layerNormEps()));
        head = addChildBlock("head", new LinearLayer(d, config.numClasses()));

        var map = new LinkedHashMap<String, Parameter>();
        map.put("cls_token", clsToken);
        map.put("pos_embed", posEmbed);
        patchEmbed.collect("patch_embed.", map);
        for (int i = 0; i < blocks.size(); i++) {
            blocks.get(i).collect("blocks." + i + ".", map);
        }
        norm.collect("norm.", map);
        head.collect("head.", map);
        if (!map.keySet().equals(space.tensors().stream().map(TensorSpec::name)
                .collect(java.util.stream.Collectors.toCollection(java.util.LinkedHashSet::new)))) {
            throw new IllegalStateException("block parameters disagree with the parameter space: " + map.keySet());
        }
        named = Collections.unmodifiableMap(map);
        var layers = new LinkedHashMap<String, LinearLayer>();
        for (int i = 0; i < blocks.size(); i++) {
            TransformerBlock b = blocks.get(i);
            String prefix = "blocks." + i + ".";
            layers.put(prefix + "attn.q", b.attn.q);
            layers.put(prefix + "attn.k", b.attn.k);
            layers.put(prefix + "attn.v", b.attn.v);
            layers.put(prefix + "attn.proj", b.attn.proj);
            layers.put(prefix + "mlp.fc1", b.mlp.fc1);
            layers.put(prefix + "mlp.fc2", b.mlp.fc2);
        }
        linears = Collections.unmodifiableMap(layers);
    }

    /**
     * A model with every parameter allocated in {@code manager} and initialised deterministically
     * from {@code seed} by {@link VitInitializer}.
     */
    public static VisionTransformer create(NDManager manager, VitConfig config, long seed) {
        var model = new VisionTransformer(config);
        model.setInitializer(Initializer.ZEROS, Parameter.Type.WEIGHT);
        model.setInitializer(Initializer.ZEROS, Parameter.Type.BIAS);
        model.initialize(manager, DataType.FLOAT32,
                new Shape(1, config.inChannels(), config.imageSize(), config.imageSize()));
        VitInitializer.initialize(model, seed);
        return model;
    }

    @Override
    public VitConfig config() {
        return config;
    }

    /**
     * The manager that owns the model's parameters: scratch managers for work on this model are
     * made under it, so they live on its device and close before it.
     */
    @Override
    public NDManager manager() {
        return parameter("head.weight").getArray().getManager();
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
     * prefix, e.g. {@code blocks.3.attn.q} or {@code blocks.3.mlp.fc1}.
     */
    @Override
    public void setBranch(String linear, LinearBranch branch) {
        LinearLayer layer = linears.get(linear);
        if (layer == null) {
            throw new IllegalArgumentException("no block linear layer '" + linear + "' in " + config.name());
        }
        layer.branch = branch;
    }

    /** Removes every installed branch: the model computes the plain backbone function again. */
    @Override
    public void clearBranches() {
        linears.values().forEach(l -> l.branch = null);
    }

    /**
     * Sets the arithmetic of the matrix products (see {@link Precision}); parameters stay float32.
     * Callers check {@link Precision#requireSupported} first.
     */
    @Override
    public void setPrecision(Precision p) {
        precision = java.util.Objects.requireNonNull(p, "precision");
        patchEmbed.precision = p;
        head.precision = p;
        for (TransformerBlock b : blocks) {
            b.attn.precision = p;
        }
        linears.values().forEach(l -> l.precision = p);
    }

    public Precision precision() {
        return precision;
    }

    /** The number of transformer blocks. */
    @Override
    public int depth() {
        return blocks.size();
    }

    /**
     * Called as the forward pass enters each segment, with the manager the segment's arrays belong
     * to: a tuning method's per-segment state (its generator, its arrays' scope) is set here.
     * Segments are numbered {@link #EMBEDDING} (patch and position embedding), {@code 0..depth-1}
     * (the blocks) and {@code depth} (the final norm and the head).
     */
    @FunctionalInterface
    public interface SegmentListener {
        SegmentListener NONE = (segment, scope) -> {};

        void enter(int segment, NDManager scope);
    }

    /** The embedding's segment number (see {@link SegmentListener}). */
    public static final int EMBEDDING = -1;

    /**
     * The first segment: patch embedding, class token and position embedding, {@code (batch,
     * tokens, dim)}, in the images' manager.
     */
    @Override
    public NDArray embed(ParameterStore store, NDArray images, boolean training) {
        return embed(new OneStore(store, training), images);
    }

    /**
     * Block {@code index} on tokens {@code x}, its arrays in {@code x}'s manager. Its drop-path masks
     * depend on the forward's seed and the block's index only, so a block run again (activation
     * checkpointing) draws the masks it drew the first time.
     */
    @Override
    public NDArray block(int index, ParameterStore store, NDArray x, boolean training, long dropPathSeed) {
        return blocks.get(index).forward(x, new OneStore(store, training), DropPath.blockRandom(dropPathSeed, index));
    }

    /** The last segment: the final norm, the class token's features and the head: logits. */
    @Override
    public NDArray classify(ParameterStore store, NDArray tokens, boolean training) {
        NDArray cls = norm.apply(store, tokens, training).get(":, 0, :");
        return head.apply(store, cls, training);
    }

    /**
     * One group of a mixed batch: consecutive rows that compute their own tuned function of this
     * shared frozen model (one artifact laid over it), in inference. See {@link #forwardGroups}.
     */
    public interface RowGroup {
        /** How many consecutive rows of the batch are this group's. */
        int rows();

        /** Serves the group's value of every parameter (the backbone's where it tunes nothing). */
        ParameterStore store();

        /**
         * Whether the group's value of the parameter with this timm name may differ from the
         * backbone's stored array; where it does not, the group shares the batch's backbone product.
         */
        boolean overrides(String parameter);

        /**
         * For a block linear layer (its timm prefix, e.g. {@code blocks.3.attn.q}) whose weight the
         * group overrides: its weight minus the backbone's as a sparse {@code (out, in)} matrix when
         * the correction {@code x D^T} is cheaper than the group's own product, else {@code null}
         * (the group's rows then take their own product with their whole weight).
         */
        NDArray sparseWeightDelta(String linear);

        /** The group's branch on a block linear layer (a LoRA branch, an Adapter), or {@code null}. */
        LinearBranch branch(String linear);

        /** Called as each segment starts, with the manager the segment's arrays belong to. */
        void enter(int segment, NDManager scope);
    }

    /**
     * Logits of a mixed batch: rows {@code [0, n0)} are the first group's, the next {@code n1} the
     * second's, and so on. Every layer computes the frozen backbone's product once for the rows of
     * all groups that share it and adds each group's own part to its rows (its sparse weight delta,
     * bias, branch); a group that overrides a tensor whole takes its own product for its rows; each
     * group has its own head. Inference only; all arrays belong to the images' manager.
     *
     * @return each group's logits {@code (rows, its classes)}, in group order
     */
    public List<NDArray> forwardGroups(List<RowGroup> groups, NDArray images) {
        var ops = new Groups(groups, images.getShape().get(0));
        ops.enter(EMBEDDING, images.getManager());
        NDArray x = embed(ops, images);
        for (int i = 0; i < blocks.size(); i++) {
            ops.enter(i, x.getManager());
            x = blocks.get(i).forward(x, ops, null);
        }
        ops.enter(blocks.size(), x.getManager());
        NDArray cls = ops.norm(norm, x).get(":, 0, :");
        var logits = new ArrayList<NDArray>();
        for (int g = 0; g < groups.size(); g++) {
            RowGroup group = groups.get(g);
            NDArray rows = ops.rows(cls, g);
            logits.add(head.apply(group.store(), rows, false));
        }
        return logits;
    }

    private NDArray embed(Ops ops, NDArray images) {
        NDArray x = ops.patches(patchEmbed, images);
        NDArray cls = ops.classToken(clsToken, x);
        cls.attach(x.getManager());
        return ops.addPositions(posEmbed, NDArrays.concat(new NDList(cls, x), 1));
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore store, NDList inputs, boolean training, PairList<String, Object> params) {
        long seed = 0;
        if (params != null && params.contains(DROP_PATH_SEED)) {
            seed = (Long) params.get(DROP_PATH_SEED);
        }
        return new NDList(forward(store, inputs.head(), training, seed, SegmentListener.NONE));
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
     * How one forward pass evaluates the model's parameterised operations: from one parameter store
     * for the whole batch ({@link OneStore}), or per group of rows ({@link Groups}).
     */
    private interface Ops {
        boolean training();

        NDArray linear(LinearLayer layer, NDArray x);

        NDArray norm(Norm norm, NDArray x);

        /** The patch embedding's tokens {@code (batch, patches, dim)}. */
        NDArray patches(PatchEmbedding embedding, NDArray images);

        /** The class token of every row, {@code (batch, 1, dim)}. */
        NDArray classToken(Parameter token, NDArray tokens);

        /** {@code tokens} plus the position embedding. */
        NDArray addPositions(Parameter positions, NDArray tokens);
    }

    /** The whole batch from one parameter store, with the branches installed on the model's layers. */
    private record OneStore(ParameterStore store, boolean training) implements Ops {
        @Override
        public NDArray linear(LinearLayer layer, NDArray x) {
            return layer.apply(store, x, training);
        }

        @Override
        public NDArray norm(Norm norm, NDArray x) {
            return norm.apply(store, x, training);
        }

        @Override
        public NDArray patches(PatchEmbedding embedding, NDArray images) {
            return embedding.tokens(images, store.getValue(embedding.weight, images.getDevice(), training),
                    store.getValue(embedding.bias, images.getDevice(), training));
        }

        @Override
        public NDArray classToken(Parameter token, NDArray tokens) {
            return store.getValue(token, tokens.getDevice(), training).repeat(0, tokens.getShape().get(0));
        }

        @Override
        public NDArray addPositions(Parameter positions, NDArray tokens) {
            return tokens.add(store.getValue(positions, tokens.getDevice(), training));
        }
    }

    /**
     * A mixed batch, in inference: consecutive row ranges, one per {@link RowGroup}. An operation
     * whose parameters no group overrides runs once on the whole batch; otherwise the backbone's
     * product is computed (once, for every row, when some group shares it) and each group's rows
     * are sliced from it and corrected, or computed from the group's own tensors.
     */
    private static final class Groups implements Ops {
        private final List<RowGroup> groups;
        private final long[] starts;

        Groups(List<RowGroup> groups, long batch) {
            if (groups.isEmpty()) {
                throw new IllegalArgumentException("a mixed batch needs at least one group");
            }
            this.groups = groups;
            starts = new long[groups.size() + 1];
            for (int g = 0; g < groups.size(); g++) {
                if (groups.get(g).rows() < 1) {
                    throw new IllegalArgumentException("group " + g + " of a mixed batch has no rows");
                }
                starts[g + 1] = starts[g] + groups.get(g).rows();
            }
            if (starts[groups.size()] != batch) {
                throw new IllegalArgumentException("the groups hold " + starts[groups.size()] + " rows, the batch "
                        + batch);
            }
        }

        void enter(int segment, NDManager scope) {
            groups.forEach(g -> g.enter(segment, scope));
        }

        /** Group {@code g}'s rows of {@code x} (the array itself when it is the only group). */
        NDArray rows(NDArray x, int g) {
            return groups.size() == 1 ? x : x.get(new NDIndex().addSliceDim(starts[g], starts[g + 1]));
        }

        private boolean anyOverrides(String parameter) {
            return groups.stream().anyMatch(g -> g.overrides(parameter));
        }

        private static NDArray join(NDList pieces) {
            return pieces.size() == 1 ? pieces.head() : NDArrays.concat(pieces, 0);
        }

        @Override
        public boolean training() {
            return false;
        }

        /**
         * The backbone's {@code op} on the rows of the groups that share it, computed once: on
         * {@code x} itself when every group does, else on those groups' rows gathered together
         * (so no product is spent on rows that take their own).
         */
        private final class Shared {
            private final NDArray x;
            private final boolean[] sharing;
            private final java.util.function.UnaryOperator<NDArray> op;
            private NDArray out;
            private long[] at;

            Shared(NDArray x, boolean[] sharing, java.util.function.UnaryOperator<NDArray> op) {
                this.x = x;
                this.sharing = sharing;
                this.op = op;
            }

            /** Group {@code g}'s rows of the shared result (computed on first use). */
            NDArray rows(int g) {
                if (out == null) {
                    at = new long[groups.size()];
                    var pieces = new NDList();
                    long offset = 0;
                    for (int h = 0; h < groups.size(); h++) {
                        if (sharing[h]) {
                            at[h] = offset;
                            offset += starts[h + 1] - starts[h];
                            pieces.add(Groups.this.rows(x, h));
                        }
                    }
                    boolean all = pieces.size() == groups.size();
                    out = op.apply(all ? x : join(pieces));
                    if (all) {
                        at = java.util.Arrays.copyOf(starts, groups.size());
                    }
                }
                if (groups.size() == 1) {
                    return out;
                }
                return out.get(new NDIndex().addSliceDim(at[g], at[g] + starts[g + 1] - starts[g]));
            }
        }

        @Override
        public NDArray linear(LinearLayer layer, NDArray x) {
            String name = layer.prefix.substring(0, layer.prefix.length() - 1); // blocks.3.attn.q
            String w = layer.prefix + "weight";
            String b = layer.prefix + "bias";
            var deltas = new NDArray[groups.size()];
            var sharing = new boolean[groups.size()];
            for (int g = 0; g < groups.size(); g++) {
                RowGroup group = groups.get(g);
                deltas[g] = group.overrides(w) ? group.sparseWeightDelta(name) : null;
                sharing[g] = !group.overrides(w) || deltas[g] != null;
            }
            var base = new Shared(x, sharing, in -> layer.product(in, layer.weight.getArray(), layer.bias.getArray()));
            var pieces = new NDList();
            for (int g = 0; g < groups.size(); g++) {
                RowGroup group = groups.get(g);
                LinearBranch branch = group.branch(name);
                NDArray in = !sharing[g] || deltas[g] != null || branch != null ? rows(x, g) : null;
                NDArray y;
                if (!sharing[g]) {
                    y = layer.product(in, group.store().getValue(layer.weight, x.getDevice(), false),
                            group.store().getValue(layer.bias, x.getDevice(), false));
                } else {
                    y = base.rows(g);
                    if (deltas[g] != null) {
                        y = y.add(sparseProduct(in, deltas[g]));
                    }
                    if (group.overrides(b)) {
                        y = y.add(difference(group.store().getValue(layer.bias, x.getDevice(), false),
                                layer.bias.getArray(), x.getManager()));
                    }
                }
                pieces.add(branch == null ? y : branch.apply(in, y, false));
            }
            return join(pieces);
        }

        /** {@code mine - backbone}, a vector, in the batch's manager (not a parameter's). */
        private static NDArray difference(NDArray mine, NDArray backbone, NDManager batch) {
            NDArray d = mine.sub(backbone);
            d.attach(batch);
            return d;
        }

        /** {@code x D^T} for a sparse {@code D} of shape {@code (out, in)}, in float32. */
        private static NDArray sparseProduct(NDArray x, NDArray delta) {
            Shape s = x.getShape();
            long in = s.get(s.dimension() - 1);
            NDArray flat = x.reshape(-1, in);
            NDArray product = delta.matMul(flat.transpose());
            product.attach(x.getManager()); // it would belong to the delta's manager, which outlives the batch
            return product.transpose().reshape(s.slice(0, s.dimension() - 1).add(delta.getShape().get(0)));
        }

        @Override
        public NDArray norm(Norm norm, NDArray x) {
            String w = norm.prefix + "weight";
            String b = norm.prefix + "bias";
            var sharing = new boolean[groups.size()];
            for (int g = 0; g < groups.size(); g++) {
                sharing[g] = !groups.get(g).overrides(w) && !groups.get(g).overrides(b);
            }
            var base = new Shared(x, sharing, in -> norm.layerNorm(in, norm.weight.getArray(), norm.bias.getArray()));
            var pieces = new NDList();
            for (int g = 0; g < groups.size(); g++) {
                RowGroup group = groups.get(g);
                pieces.add(sharing[g] ? base.rows(g) : norm.layerNorm(rows(x, g),
                        group.store().getValue(norm.weight, x.getDevice(), false),
                        group.store().getValue(norm.bias, x.getDevice(), false)));
            }
            return join(pieces);
        }

        @Override
        public NDArray patches(PatchEmbedding embedding, NDArray images) {
            String w = embedding.prefix + "weight";
            String b = embedding.prefix + "bias";
            var sharing = new boolean[groups.size()];
            for (int g = 0; g < groups.size(); g++) {
                sharing[g] = !groups.get(g).overrides(w);
            }
            var base = new Shared(images, sharing,
                    in -> embedding.tokens(in, embedding.weight.getArray(), embedding.bias.getArray()));
            var pieces = new NDList();
            for (int g = 0; g < groups.size(); g++) {
                RowGroup group = groups.get(g);
                NDArray y;
                if (!sharing[g]) {
                    y = embedding.tokens(rows(images, g), group.store().getValue(embedding.weight, images.getDevice(), false),
                            group.store().getValue(embedding.bias, images.getDevice(), false));
                } else {
                    y = base.rows(g);
                    if (group.overrides(b)) {
                        y = y.add(difference(group.store().getValue(embedding.bias, images.getDevice(), false),
                                embedding.bias.getArray(), images.getManager()));
                    }
                }
                pieces.add(y);
            }
            return join(pieces);
        }

        @Override
        public NDArray classToken(Parameter token, NDArray tokens) {
            var pieces = new NDList();
            for (int g = 0; g < groups.size(); g++) {
                NDArray rows = groups.get(g).store().getValue(token, tokens.getDevice(), false)
                        .repeat(0, starts[g + 1] - starts[g]);
                rows.attach(tokens.getManager());
                pieces.add(rows);
            }
            return join(pieces);
        }

        @Override
        public NDArray addPositions(Parameter positions, NDArray tokens) {
            if (!anyOverrides(positions.getName())) {
                return tokens.add(positions.getArray());
            }
            var pieces = new NDList();
            for (int g = 0; g < groups.size(); g++) {
                pieces.add(rows(tokens, g).add(groups.get(g).store().getValue(positions, tokens.getDevice(), false)));
            }
            return join(pieces);
        }
    }

    static Parameter tensor(String name, Shape shape) {
        return Parameter.builder()
                .setName(name)
                .setType(name.endsWith("bias") ? Parameter.Type.BIAS : Parameter.Type.WEIGHT)
                .optShape(shape)
                .build();
    }

    /** Base of the sub-blocks: fixed shapes, parameters collected under timm names. */
    abstract static class Module extends AbstractBlock {
        Module() {
            super(VERSION);
        }

        /** Adds this module's parameters to {@code into} under {@code prefix}. */
        abstract void collect(String prefix, Map<String, Parameter> into);

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
            for (Block child : getChildren().values()) {
                child.initialize(manager, dataType, inputShapes);
            }
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store, NDList inputs, boolean training, PairList<String, Object> params) {
            throw new UnsupportedOperationException(getClass().getSimpleName() + " is applied by its parent");
        }
    }

    /** A module whose parameters are one weight and one bias, collected as {@code <prefix>weight/bias}. */
    abstract static class WeightAndBias extends Module {
        final Parameter weight;
        final Parameter bias;
        /** The timm prefix of its parameters, e.g. {@code blocks.3.attn.q.}, set when collected. */
        String prefix;

        WeightAndBias(Shape weightShape, Shape biasShape) {
            weight = addParameter(tensor("weight", weightShape));
            bias = addParameter(tensor("bias", biasShape));
        }

        NDArray weight(ParameterStore store, NDArray x, boolean training) {
            return store.getValue(weight, x.getDevice(), training);
        }

        NDArray bias(ParameterStore store, NDArray x, boolean training) {
            return store.getValue(bias, x.getDevice(), training);
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
            this.prefix = prefix;
            into.put(prefix + "weight", weight);
            into.put(prefix + "bias", bias);
        }
    }

    /** A linear layer {@code y = x W^T + b} with {@code W} of shape {@code (out, in)}. */
    static final class LinearLayer extends WeightAndBias {
        LinearBranch branch;
        Precision precision = Precision.FP32;

        LinearLayer(int in, int out) {
            super(new Shape(out, in), new Shape(out));
        }

        NDArray apply(ParameterStore store, NDArray x, boolean training) {
            NDArray y = product(x, weight(store, x, training), bias(store, x, training));
            return branch == null ? y : branch.apply(x, y, training);
        }

        /** {@code x w^T + b} in the model's precision. */
        NDArray product(NDArray x, NDArray w, NDArray b) {
            return precision.result(Linear.linear(precision.compute(x), precision.compute(w), precision.compute(b)).head());
        }
    }

    /** LayerNorm over the last axis. */
    static final class Norm extends WeightAndBias {
        final float eps;
        final int width;

        Norm(int width, double eps) {
            super(new Shape(width), new Shape(width));
            this.width = width;
            this.eps = (float) eps;
        }

        NDArray apply(ParameterStore store, NDArray x, boolean training) {
            return layerNorm(x, weight(store, x, training), bias(store, x, training));
        }

        NDArray layerNorm(NDArray x, NDArray w, NDArray b) {
            return LayerNorm.layerNorm(x, new Shape(width), w, b, eps).head();
        }
    }

    /** Non-overlapping patches projected by a strided convolution, flattened to tokens. */
    static final class PatchEmbedding extends Module {
        final Parameter weight;
        final Parameter bias;
        final int patch;
        Precision precision = Precision.FP32;
        /** The timm prefix of its parameters, {@code patch_embed.proj.}, set when collected. */
        String prefix;

        PatchEmbedding(VitConfig c) {
            patch = c.patchSize();
            weight = addParameter(tensor("weight",
                    new Shape(c.embedDim(), c.inChannels(), c.patchSize(), c.patchSize())));
            bias = addParameter(tensor("bias", new Shape(c.embedDim())));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store, NDList inputs, boolean training, PairList<String, Object> params) {
            NDArray images = inputs.head();
            return new NDList(tokens(images, store.getValue(weight, images.getDevice(), training),
                    store.getValue(bias, images.getDevice(), training)));
        }

        /** The patches projected by {@code w}, {@code b}: tokens {@code (batch, patches, dim)}. */
        NDArray tokens(NDArray images, NDArray w, NDArray b) {
            NDArray y = precision.result(Conv2d.conv2d(precision.compute(images), precision.compute(w),
                    precision.compute(b), new Shape(patch, patch), new Shape(0, 0), new Shape(1, 1), 1).head());
            Shape s = y.getShape();
            // (B, D, g, g) -> (B, g*g, D), row-major over the grid as timm's flatten(2).transpose(1, 2)
            return y.reshape(s.get(0), s.get(1), s.get(2) * s.get(3)).transpose(0, 2, 1);
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
            this.prefix = prefix + "proj.";
            into.put(prefix + "proj.weight", weight);
            into.put(prefix + "proj.bias", bias);
        }
    }

    /** Multi-head self-attention with separate q, k, v projections. */
    static final class Attention extends Module {
        final LinearLayer q;
        final LinearLayer k;
        final LinearLayer v;
        final LinearLayer proj;
        final int heads;
        final float scale;
        Precision precision = Precision.FP32;

        Attention(VitConfig c) {
            int d = c.embedDim();
            q = addChildBlock("q", new LinearLayer(d, d));
            k = addChildBlock("k", new LinearLayer(d, d));
            v = addChildBlock("v", new LinearLayer(d, d));
            proj = addChildBlock("proj", new LinearLayer(d, d));
            heads = c.numHeads();
            scale = (float) (1.0 / Math.sqrt(c.headDim()));
        }

        NDArray apply(Ops ops, NDArray x) {
            Shape s = x.getShape();
            long b = s.get(0);
            long n = s.get(1);
            long d = s.get(2);
            NDArray qh = Tensors.mul(splitHeads(ops.linear(q, x), b, n, d), scale);
            NDArray kh = splitHeads(ops.linear(k, x), b, n, d);
            NDArray vh = splitHeads(ops.linear(v, x), b, n, d);
            // under bf16 the two products run in bfloat16 and the softmax in float32, as autocast does
            NDArray attn = precision.result(precision.compute(qh).matMul(precision.compute(kh).transpose(0, 1, 3, 2)))
                    .softmax(-1);
            NDArray out = precision.result(precision.compute(attn).matMul(precision.compute(vh)))
                    .transpose(0, 2, 1, 3).reshape(b, n, d);
            return ops.linear(proj, out);
        }

        private NDArray splitHeads(NDArray t, long b, long n, long d) {
            return t.reshape(b, n, heads, d / heads).transpose(0, 2, 1, 3);
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
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

        Mlp(VitConfig c) {
            fc1 = addChildBlock("fc1", new LinearLayer(c.embedDim(), c.mlpDim()));
            fc2 = addChildBlock("fc2", new LinearLayer(c.mlpDim(), c.embedDim()));
        }

        NDArray apply(Ops ops, NDArray x) {
            return ops.linear(fc2, Activation.gelu(ops.linear(fc1, x)));
        }

        @Override
        void collect(String prefix, Map<String, Parameter> into) {
            fc1.collect(prefix + "fc1.", into);
            fc2.collect(prefix + "fc2.", into);
        }
    }

    /** A pre-norm transformer block with stochastic depth on both residual branches. */
    static final class TransformerBlock extends Module {
        final Norm norm1;
        final Attention attn;
        final Norm norm2;
        final Mlp mlp;
        final double dropPath;

        TransformerBlock(VitConfig c, int index) {
            norm1 = addChildBlock("norm1", new Norm(c.embedDim(), c.layerNormEps()));
            attn = addChildBlock("attn", new Attention(c));
            norm2 = addChildBlock("norm2", new Norm(c.embedDim(), c.layerNormEps()));
            mlp = addChildBlock("mlp", new Mlp(c));
            dropPath = c.dropPathRate(index);
        }

        NDArray forward(NDArray x, Ops ops, SplittableRandom random) {
            boolean training = ops.training();
            NDArray a = attn.apply(ops, ops.norm(norm1, x));
            x = x.add(DropPath.apply(a, dropPath, training, random));
            NDArray m = mlp.apply(ops, ops.norm(norm2, x));
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
}
