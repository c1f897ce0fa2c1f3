package org.sptspark.tuning;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.Backbone;
import org.sptspark.model.Backprop;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitInitializer;
import org.sptspark.modules.ModuleType;
import org.sptspark.modules.Trainable;
import org.sptspark.modules.TrainingHook;
import org.sptspark.modules.TuningModule;
import org.sptspark.modules.Unstructured;
import org.sptspark.modules.WholeTensor;

/**
 * A frozen backbone with the modules a {@link TuningLayout} calls for: one {@link TuningModule}
 * per tuned tensor (made by the {@link ModuleType} its decision names, see {@link ModuleTypes}), plus
 * the head trained whole. It composes them: their trainables, forward hooks, export, loading,
 * merging and training hooks; what each module does is its own class's business.
 *
 * <p>Zero-initialised up/B projections and deltas make a fresh model compute exactly the
 * backbone's function (with the new head).
 */
public final class TunedModel implements AutoCloseable {

    /** Dropout on the structured modules' input, as the reference. */
    public static final float MODULE_DROPOUT = 0.1f;

    /** Drop-path on the structured modules' output, as the reference. */
    public static final double MODULE_DROP_PATH = 0.1;

    private final Backbone model;
    private final TuningLayout layout;
    private final Unstructured mode;
    private final NDManager manager;
    private final ModuleHost context;
    private final List<TuningModule> modules = new ArrayList<>();
    private final List<TrainingHook> hooks = new ArrayList<>();
    private final List<Trainable> trainables;
    private final ParameterStore store;
    private final Backprop.Hooks segmentHooks;
    private final int firstTrainedSegment;
    private final Map<String, java.util.Optional<NDArray>> sparseDeltas = new java.util.HashMap<>();
    private boolean merged;
    private boolean checkpointing;

    private TunedModel(Backbone model, TuningLayout layout, long seed, Unstructured mode, boolean training,
            Map<String, NDArray> overlay) {
        var backbone = model.space().backbone().stream().map(TensorSpec::name).collect(java.util.stream.Collectors.toSet());
        if (!layout.decisions().keySet().equals(backbone)) {
            throw new IllegalArgumentException("the layout does not cover " + model.config().name() + "'s tensors");
        }
        this.model = model;
        this.layout = layout;
        this.mode = mode;
        this.manager = model.manager().newSubManager();
        this.context = new ModuleHost(model, manager, seed, mode, overlay);
        this.store = new ParameterStore(manager, false) {
            @Override
            public NDArray getValue(Parameter parameter, Device device, boolean train) {
                NDArray base = super.getValue(parameter, device, train);
                return merged ? base : context.value(parameter, base);
            }
        };
        model.setTrainable(false);
        model.clearBranches();
        var byType = new LinkedHashMap<ModuleType, List<TuningModule>>();
        for (var e : layout.decisions().entrySet()) {
            if (e.getValue() instanceof TensorDecision.Frozen) {
                continue;
            }
            ModuleType type = ModuleTypes.forDecision(e.getValue());
            TuningModule module = type.create(context, model.space().get(e.getKey()), e.getValue());
            modules.add(module);
            byType.computeIfAbsent(type, t -> new ArrayList<>()).add(module);
        }
        for (TensorSpec t : model.space().tensors()) {
            if (ParameterSpace.isHead(t.name())) {
                modules.add(WholeTensor.TYPE.create(context, t, new TensorDecision.Whole(t.size())));
            }
        }
        byType.forEach((type, mine) -> {
            TrainingHook hook = type.hook(mine, context);
            if (hook != null) {
                hooks.add(hook);
            }
        });
        trainables = modules.stream().flatMap(m -> m.trainables().stream()).toList();
        firstTrainedSegment = Backprop.firstSegment(model, layout.decisions().entrySet().stream()
                .filter(e -> !(e.getValue() instanceof TensorDecision.Frozen))
                .map(e -> model.space().get(e.getKey())).toList());
        segmentHooks = new Backprop.Hooks() {
            @Override
            public void enter(int segment, NDManager scope) {
                context.enter(segment, scope);
            }

            @Override
            public void afterBlockBackward(int block) {
                hooks.forEach(h -> h.afterBlockBackward(block));
            }

            @Override
            public int firstTrainedSegment() {
                return firstTrainedSegment;
            }
        };
        if (training) {
            trainables.forEach(t -> t.value().setRequiresGradient(true));
        }
    }

    /**
     * A model ready to train: the head re-initialised from {@code seed} (trunc-normal 0.02, bias
     * zero), deltas and up projections zero, down projections drawn from {@code seed}.
     */
    public static TunedModel forTraining(Backbone model, TuningLayout layout, long seed, Unstructured mode) {
        VitInitializer.reinitializeHead(model, seed);
        return new TunedModel(model, layout, seed, mode, true, null);
    }

    /**
     * The tuned model an artifact describes, for inference or merging: every trained tensor is
     * set from {@code tensors}, which must hold exactly the layout's tensors with their shapes.
     */
    public static TunedModel fromTensors(Backbone model, TuningLayout layout, Map<String, NDArray> tensors,
            String source) {
        return load(new TunedModel(model, layout, 0, Unstructured.DELTA, false, null), tensors, source);
    }

    /**
     * An artifact laid over a backbone it shares with others: nothing of {@code model} is written.
     * Whole tensors and the head (whose class count may differ from the model's) are the
     * overlay's own copies, served through its parameter store, and its branches are installed
     * at each {@link #forward}; so several overlays can use one backbone in memory, one forward
     * at a time (callers serialise forwards on one model).
     */
    public static TunedModel overlay(Backbone model, TuningLayout layout, Map<String, NDArray> tensors,
            String source) {
        List<String> heads = model.space().tensors().stream().map(TensorSpec::name).filter(ParameterSpace::isHead).toList();
        for (String head : heads) {
            if (!tensors.containsKey(head)) {
                throw new IllegalArgumentException(source + " has no " + head);
            }
        }
        Shape w = tensors.get(heads.get(0)).getShape();
        Shape b = tensors.get(heads.get(1)).getShape();
        int features = model.config().numFeatures();
        if (w.dimension() != 2 || w.get(1) != features || b.dimension() != 1 || b.get(0) != w.get(0)) {
            throw new IllegalArgumentException(source + ": head " + w + " / " + b + " does not fit embedding width "
                    + features);
        }
        return load(new TunedModel(model, layout, 0, Unstructured.DELTA, false, tensors), tensors, source);
    }

    private static TunedModel load(TunedModel tuned, Map<String, NDArray> tensors, String source) {
        try {
            var expected = tuned.exportedNames();
            var missing = new TreeSet<>(expected);
            missing.removeAll(tensors.keySet());
            var unexpected = new TreeSet<>(tensors.keySet());
            unexpected.removeAll(expected);
            if (!missing.isEmpty() || !unexpected.isEmpty()) {
                throw new IllegalArgumentException(source + " does not match its " + tuned.layout.method().id() + " layout:"
                        + (missing.isEmpty() ? "" : " missing " + missing) + (unexpected.isEmpty() ? "" : " unexpected " + unexpected));
            }
            for (TuningModule m : tuned.modules) {
                m.load(tensors, source);
            }
            return tuned;
        } catch (RuntimeException e) {
            tuned.close();
            throw e;
        }
    }

    public Backbone model() {
        return model;
    }

    public TuningLayout layout() {
        return layout;
    }

    /** The modules, in layout order, the head's last. */
    public List<TuningModule> modules() {
        return List.copyOf(modules);
    }

    /** The tensors the optimizer updates, in a fixed order. */
    public Collection<Trainable> trainables() {
        return trainables;
    }

    /** Scalars the optimizer updates (for {@link Unstructured#MASKED_FULL}, whole masked tensors). */
    public long trainableScalars() {
        return trainables().stream().mapToLong(t -> t.value().size()).sum();
    }

    /** Scalars the method trains: the layout's count plus the head. */
    public long tunedScalars() {
        return layout.trainable() + model.space().headSize();
    }

    /** Bytes of one float32 copy of everything trained: the size of a gradient, a moment of AdamW. */
    public long trainableBytes() {
        return trainableScalars() * Float.BYTES;
    }

    /** The training hook of this class (e.g. SNELLA's competition), or {@code null} when the layout has none. */
    public <T extends TrainingHook> T hook(Class<T> type) {
        return hooks.stream().filter(type::isInstance).map(type::cast).findFirst().orElse(null);
    }

    /** Called by the trainer before each epoch; runs the modules' training hooks. */
    public void startEpoch(int epoch) {
        hooks.forEach(h -> h.startEpoch(epoch));
    }

    /** Called by the trainer after the network's backward pass and before the optimizer's step. */
    public void afterBackward() {
        hooks.forEach(TrainingHook::afterBackward);
    }

    /**
     * Whether {@link #backward} checkpoints activations: keeps only each block's input in the
     * forward pass and runs the blocks but the last again, one at a time, in the backward pass
     * (see {@link Backprop}), on a backbone of any family. The gradients are the same; the
     * activations held are one block's plus each block's input, at the cost of one more forward
     * pass.
     */
    public void setActivationCheckpointing(boolean on) {
        checkpointing = on;
    }

    public boolean activationCheckpointing() {
        return checkpointing;
    }

    /**
     * Logits for a batch. Every intermediate array, including the scattered deltas, belongs to
     * the images' manager.
     *
     * @param seed in training, seeds the backbone's drop-path masks and, per segment, the engine's
     *     generator that draws the modules' dropout and drop-path
     */
    public NDArray forward(NDArray images, boolean training, long seed) {
        context.beginForward(images.getManager(), !merged, training, seed);
        try {
            return model.forward(store, images, training, seed, context::enter);
        } finally {
            context.endForward();
        }
    }

    /**
     * A weight delta at most this dense (non-zero entries over size) is applied to a mixed batch
     * as a sparse product {@code x D^T} beside the shared backbone product; a denser one is added
     * to the backbone's weight and its group's rows take their own product. On this project's CPU
     * engine the sparse product is clearly the cheaper up to this density and about as costly as
     * the dense one at 0.5% ({@code spt bench predict}; BENCHMARKS.md, "Mixed-artifact batches").
     */
    public static final double MIXED_SPARSE_DENSITY = 0.002;

    /**
     * Logits of a batch whose rows go through different overlays of one backbone, in inference:
     * rows {@code [0, rows[0])} through the first overlay, the next {@code rows[1]} through the
     * second, and so on (see {@link VisionTransformer#forwardGroups}). The frozen product of each
     * layer is computed once for every row that shares it; each overlay adds its own part to its
     * rows. Callers serialise forwards on one model, as for {@link #forward}.
     *
     * @return each overlay's logits {@code (rows[g], its classes)}
     * @throws IllegalArgumentException when the overlays do not share one backbone or the row
     *     counts do not add up to the batch
     */
    public static List<NDArray> forwardMixed(List<TunedModel> overlays, int[] rows, NDArray images) {
        if (overlays.isEmpty() || overlays.size() != rows.length) {
            throw new IllegalArgumentException(overlays.size() + " overlays for " + rows.length + " row groups");
        }
        if (!(overlays.get(0).model instanceof VisionTransformer model)) {
            throw new IllegalArgumentException("mixed batches are implemented for ViT backbones only so far, not for "
                    + overlays.get(0).model.config().name() + ": route per artifact");
        }
        var groups = new ArrayList<VisionTransformer.RowGroup>();
        for (int g = 0; g < overlays.size(); g++) {
            TunedModel t = overlays.get(g);
            if (t.model != model || !t.context.isOverlay()) {
                throw new IllegalArgumentException("a mixed batch needs overlays of one backbone: "
                        + (t.context.isOverlay() ? "group " + g + " is on another model" : "group " + g + " is not an overlay"));
            }
            groups.add(t.new Rows(rows[g]));
        }
        overlays.forEach(t -> t.context.beginRows(images.getManager()));
        try {
            return model.forwardGroups(groups, images);
        } finally {
            overlays.forEach(t -> t.context.endForward());
        }
    }

    /** This overlay's rows of a mixed batch. */
    private final class Rows implements VisionTransformer.RowGroup {
        private final int rows;

        Rows(int rows) {
            this.rows = rows;
        }

        @Override
        public int rows() {
            return rows;
        }

        @Override
        public ParameterStore store() {
            return store;
        }

        @Override
        public boolean overrides(String parameter) {
            return context.overrides(model.parameter(parameter));
        }

        @Override
        public NDArray sparseWeightDelta(String linear) {
            return sparseDeltas.computeIfAbsent(linear, l -> java.util.Optional.ofNullable(sparseDelta(l))).orElse(null);
        }

        @Override
        public VisionTransformer.LinearBranch branch(String linear) {
            return context.branch(linear);
        }

        @Override
        public void enter(int segment, NDManager scope) {
            context.enter(segment, scope);
        }
    }

    /**
     * The overlay's weight minus the backbone's for a block linear layer, as a sparse matrix owned
     * by this model, when it is at most {@link #MIXED_SPARSE_DENSITY} dense; else {@code null}.
     * Computed in the forward pass under way (its dense arrays belong to the batch).
     */
    private NDArray sparseDelta(String linear) {
        Parameter weight = model.parameter(linear + ".weight");
        NDArray base = weight.getArray();
        NDArray delta = context.value(weight, base).sub(base);
        delta.attach(context.forwardScope());
        long nonZero = delta.countNonzero().getLong();
        if (nonZero > MIXED_SPARSE_DENSITY * base.size()) {
            return null;
        }
        NDArray sparse = delta.toSparse(ai.djl.ndarray.types.SparseFormat.COO);
        sparse.attach(manager);
        return sparse;
    }

    /** How many block linear layers of this overlay mixed batches have applied as a sparse product so far. */
    long sparseWeightDeltas() {
        return sparseDeltas.values().stream().filter(java.util.Optional::isPresent).count();
    }

    /**
     * One batch's forward pass in training mode, mean cross-entropy and backward pass, with
     * activation checkpointing if it is set: the trainables' gradients accumulate. SNELLA's
     * kernels take theirs as the pass goes (with checkpointing) or in {@link #afterBackward}.
     *
     * @param seed as {@link #forward}'s
     * @param check sees the loss before anything is back-propagated
     */
    public Backprop.Pass backward(NDArray images, NDArray labels, long seed, Backprop.LossCheck check) {
        if (merged) {
            throw new IllegalStateException("a merged model is not trained");
        }
        context.beginForward(images.getManager(), true, true, seed);
        try {
            return Backprop.run(model, store, images, labels, seed, checkpointing, segmentHooks, check);
        } finally {
            context.endForward();
        }
    }

    /** Names of the tensors {@link #export} writes. */
    public List<String> exportedNames() {
        return modules.stream().flatMap(m -> m.exportedNames().stream()).toList();
    }

    /** What changed, as named CPU copies in {@code into}: each module's artifact tensors, in module order. */
    public NDList export(NDManager into) {
        if (mode == Unstructured.MASKED_FULL) {
            throw new UnsupportedOperationException("the masked-full-gradient mode is a benchmark comparison and exports nothing");
        }
        NDList out = new NDList();
        modules.forEach(m -> m.export(into, out));
        return out;
    }

    /**
     * Folds every module into the backbone's own tensors, so the plain model computes what the
     * tuned one does. After this the model is an ordinary checkpoint.
     *
     * @throws IllegalArgumentException when a module cannot be merged (an Adapter), before any
     *     tensor is changed
     */
    public void merge() {
        if (context.isOverlay()) {
            throw new IllegalStateException("an overlay shares its backbone and is never merged into it");
        }
        modules.forEach(TuningModule::checkMergeable);
        try (NDManager scratch = manager.newSubManager()) {
            for (TuningModule m : modules) {
                m.merge(model.parameter(m.tensor()).getArray(), scratch);
            }
        }
        model.clearBranches();
        merged = true;
    }

    @Override
    public void close() {
        model.clearBranches();
        model.setTrainable(false);
        manager.close();
    }
}
