package org.sptspark.model;

import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Every tensor of a {@link BackboneConfig}'s model with its name, shape, flat offset and SPT role,
 * in a fixed order (timm's {@code state_dict} order, q/k/v split). Derived from the configuration
 * alone, so it describes ViT-H without allocating it.
 */
public final class ParameterSpace {

    private final BackboneConfig config;
    private final List<TensorSpec> tensors;
    private final Map<String, TensorSpec> byName;
    private final long totalSize;

    private ParameterSpace(BackboneConfig config, List<TensorSpec> tensors) {
        this.config = config;
        this.tensors = Collections.unmodifiableList(tensors);
        var map = new LinkedHashMap<String, TensorSpec>();
        for (TensorSpec t : tensors) {
            map.put(t.name(), t);
        }
        this.byName = Collections.unmodifiableMap(map);
        TensorSpec last = tensors.get(tensors.size() - 1);
        this.totalSize = last.offset() + last.size();
    }

    public static ParameterSpace of(VitConfig c) {
        var builder = new Builder();
        int d = c.embedDim();
        builder.add("cls_token", new Shape(1, 1, d), TensorRole.SKIPPED, -1, "cls_token");
        builder.add("pos_embed", new Shape(1, c.numTokens(), d), TensorRole.SKIPPED, -1, "pos_embed");
        builder.add("patch_embed.proj.weight", new Shape(d, c.inChannels(), c.patchSize(), c.patchSize()),
                TensorRole.SKIPPED, -1, "patch_embed");
        builder.add("patch_embed.proj.bias", new Shape(d), TensorRole.SKIPPED, -1, "patch_embed");
        builder.stage(0);
        for (int i = 0; i < c.depth(); i++) {
            String p = "blocks." + i + ".";
            builder.norm(p + "norm1", d, i, "norm1");
            for (String op : List.of("q", "k", "v", "proj")) {
                builder.linear(p + "attn." + op, d, d, i, op);
            }
            builder.norm(p + "norm2", d, i, "norm2");
            builder.linear(p + "mlp.fc1", c.mlpDim(), d, i, "fc1");
            builder.linear(p + "mlp.fc2", d, c.mlpDim(), i, "fc2");
        }
        builder.stage(-1).norm("norm", d, -1, "norm");
        builder.add("head.weight", new Shape(c.numClasses(), d), TensorRole.SKIPPED, -1, "head");
        builder.add("head.bias", new Shape(c.numClasses()), TensorRole.SKIPPED, -1, "head");
        return builder.build(c);
    }

    public BackboneConfig config() {
        return config;
    }

    public List<TensorSpec> tensors() {
        return tensors;
    }

    public Optional<TensorSpec> find(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /** The tensor, or an error naming the unknown name. */
    public TensorSpec get(String name) {
        TensorSpec t = byName.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no tensor '" + name + "' in " + config.name());
        }
        return t;
    }

    /**
     * Checks that a model's parameters are exactly this space's tensors, in order and of their
     * shapes: what a model's constructor asserts of the blocks it built.
     *
     * @throws IllegalStateException naming the first disagreement
     */
    void requireMatches(Map<String, ai.djl.nn.Parameter> parameters) {
        List<String> expected = tensors.stream().map(TensorSpec::name).toList();
        if (!List.copyOf(parameters.keySet()).equals(expected)) {
            throw new IllegalStateException("block parameters disagree with the parameter space: " + parameters.keySet());
        }
        for (TensorSpec t : tensors) {
            Shape shape = parameters.get(t.name()).getShape();
            if (!t.shape().equals(shape)) {
                throw new IllegalStateException("parameter " + t.name() + " has shape " + shape + ", the parameter"
                        + " space " + t.shape());
            }
        }
    }

    /** Total scalar count, head included. */
    public long totalSize() {
        return totalSize;
    }

    /**
     * Whether a tensor is the classification head's ({@code head.weight} and {@code head.bias} in a
     * ViT, {@code head.fc.weight} and {@code head.fc.bias} in timm's Swin and ConvNeXt): the part
     * every method trains and whose shape follows the task, not the backbone. ConvNeXt's {@code
     * head.norm} normalises the pooled features before it and belongs to the backbone.
     */
    public static boolean isHead(String name) {
        return name.equals("head.weight") || name.equals("head.bias") || name.startsWith("head.fc.");
    }

    /** Every tensor but the head's, in order. */
    public List<TensorSpec> backbone() {
        return tensors().stream().filter(t -> !isHead(t.name())).toList();
    }

    /** Scalars of the classification head (see {@link #isHead}). */
    public long headSize() {
        return tensors.stream().filter(t -> isHead(t.name())).mapToLong(TensorSpec::size).sum();
    }

    /** Scalars of the backbone: everything but the head. */
    public long backboneSize() {
        return totalSize - headSize();
    }

    /** The tensors SPT scores (matrices and vectors), in order. */
    public List<TensorSpec> scored() {
        return tensors.stream().filter(TensorSpec::isScored).toList();
    }

    public long scoredSize() {
        return scored().stream().mapToLong(TensorSpec::size).sum();
    }

    /** Lists a family's tensors in order, each at the flat offset after the previous one. */
    static final class Builder {
        private final List<TensorSpec> tensors = new ArrayList<>();
        private long offset;
        private int stage = -1;

        /** The stage of the tensors added next (-1, the default, outside the stages). */
        Builder stage(int index) {
            stage = index;
            return this;
        }

        Builder add(String name, Shape shape, TensorRole role, int block, String op) {
            tensors.add(new TensorSpec(name, shape, offset, role, stage, block, op));
            offset += shape.size();
            return this;
        }

        /** A linear layer's {@code (out, in)} weight (a matrix) and, unless {@code bias} is false, its bias. */
        Builder linear(String module, int out, int in, int block, String op, boolean bias) {
            add(module + ".weight", new Shape(out, in), TensorRole.MATRIX, block, op);
            return bias ? add(module + ".bias", new Shape(out), TensorRole.VECTOR, block, op) : this;
        }

        Builder linear(String module, int out, int in, int block, String op) {
            return linear(module, out, in, block, op, true);
        }

        Builder norm(String module, int width, int block, String op) {
            add(module + ".weight", new Shape(width), TensorRole.VECTOR, block, op);
            return add(module + ".bias", new Shape(width), TensorRole.VECTOR, block, op);
        }

        ParameterSpace build(BackboneConfig config) {
            return new ParameterSpace(config, tensors);
        }
    }
}
