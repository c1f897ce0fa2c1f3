package org.sptspark.tuning;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.UnaryOperator;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.Tensors;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitInitializer;

/**
 * A frozen backbone parametrised by a {@link TuningLayout}: what training updates, how the forward
 * pass uses it, and how the result is exported, loaded back and merged.
 *
 * <ul>
 *   <li>Unstructured entries are a sparse delta: a trainable value vector at the planned flat
 *       indices, scattered into a zero tensor and added to the frozen weight in each forward pass.
 *       Gradients and optimizer state are the size of the budget; the backbone tensor is never
 *       written.
 *   <li>LoRA is a parallel branch {@code B(A(dropout(x)))} with drop-path on its output and no
 *       {@code alpha/r} scaling; A is kaiming-uniform ({@code a = sqrt 5}), B zero.
 *   <li>An Adapter follows its linear layer: {@code y + droppath(up(GELU(down(dropout(y)))))},
 *       down kaiming-uniform with PyTorch's default bias, up zero. As in the reference, the module
 *       on {@code attn.proj} reads the layer's input instead (its width is the same) and neither
 *       structured module on {@code attn.proj} sees dropout.
 *   <li>SNELLA's kernelized sparse delta ({@link KernelDelta}) is a parallel branch
 *       {@code x delta^T} with the same dropout and drop-path as LoRA; its matrices compete for a
 *       shrinking non-zero volume ({@link SparsityAllocator}) once {@link #competeFor} is called.
 *       It is exported as the sparse delta it ends with, so its artifacts load and merge like SPT's.
 *   <li>Whole tensors, the class token and the head are the model's own parameters, trained in
 *       place.
 * </ul>
 *
 * Zero-initialised up/B projections and deltas make a fresh model compute exactly the backbone's
 * function (with the new head).
 */
public final class TunedModel implements AutoCloseable {

    /** Dropout on the structured modules' input, as the reference. */
    public static final float MODULE_DROPOUT = 0.1f;

    /** Drop-path on the structured modules' output, as the reference. */
    public static final double MODULE_DROP_PATH = 0.1;

    /** How unstructured entries are trained. */
    public enum Unstructured {
        /** Our way: a sparse delta of the budget's size. */
        DELTA,
        /**
         * The reference's way, for benchmarks only: the whole tensor is trainable and its gradient
         * is multiplied by a 0/1 mask, so gradients and optimizer state are the size of the tensor.
         */
        MASKED_FULL
    }

    /**
     * One trained tensor.
     *
     * @param name its name in artifacts
     * @param value the array the optimizer updates
     * @param decay whether AdamW's weight decay applies
     * @param mask the 0/1 gradient mask ({@link Unstructured#MASKED_FULL}), else {@code null}
     */
    public record Trainable(String name, NDArray value, boolean decay, NDArray mask) {}

    private final VisionTransformer model;
    private final TuningLayout layout;
    private final Unstructured mode;
    private final NDManager manager;
    private final Map<String, Trainable> trainables = new LinkedHashMap<>();
    private final Map<Parameter, UnaryOperator<NDArray>> overrides = new HashMap<>();
    private final Map<String, NDArray> sparseIndex = new LinkedHashMap<>();
    private final ParameterStore store;
    private NDManager scope;
    private boolean merged;
    private final Map<String, VisionTransformer.LinearBranch> branches = new LinkedHashMap<>();
    private final Map<String, NDArray> overlay;
    private NDArray lastDropoutInput;
    private NDArray lastDropoutOutput;
    private final Map<String, KernelDelta> kernels = new LinkedHashMap<>();
    private SnellaOptions snella;
    private SparsityAllocator allocator;
    private double[] lastScores;

    private TunedModel(VisionTransformer model, TuningLayout layout, long seed, Unstructured mode, boolean training,
            Map<String, NDArray> overlay) {
        if (!layout.decisions().keySet().equals(backboneNames(model))) {
            throw new IllegalArgumentException("the layout does not cover " + model.config().name() + "'s tensors");
        }
        this.model = model;
        this.layout = layout;
        this.overlay = overlay;
        this.mode = mode;
        this.manager = model.parameter("head.weight").getArray().getManager().newSubManager();
        Map<Parameter, UnaryOperator<NDArray>> view = Collections.unmodifiableMap(overrides);
        this.store = new ParameterStore(manager, false) {
            @Override
            public NDArray getValue(Parameter parameter, Device device, boolean train) {
                NDArray base = super.getValue(parameter, device, train);
                UnaryOperator<NDArray> f = view.get(parameter);
                return f == null || merged ? base : f.apply(base);
            }
        };
        model.setTrainable(false);
        model.clearBranches();
        for (var e : layout.decisions().entrySet()) {
            install(model.space().get(e.getKey()), e.getValue(), seed);
        }
        addWhole("head.weight", true);
        addWhole("head.bias", false);
        if (training) {
            for (Trainable t : trainables.values()) {
                t.value().setRequiresGradient(true);
            }
        }
    }

    /**
     * A model ready to train: the head re-initialised from {@code seed} (trunc-normal 0.02, bias
     * zero), deltas and up projections zero, down projections drawn from {@code seed}.
     */
    public static TunedModel forTraining(VisionTransformer model, TuningLayout layout, long seed, Unstructured mode) {
        VitInitializer.reinitializeHead(model, seed);
        return new TunedModel(model, layout, seed, mode, true, null);
    }

    /**
     * The tuned model an artifact describes, for inference or merging: every trained tensor is
     * set from {@code tensors}, which must hold exactly the layout's tensors with their shapes.
     */
    public static TunedModel fromTensors(VisionTransformer model, TuningLayout layout, Map<String, NDArray> tensors,
            String source) {
        return load(new TunedModel(model, layout, 0, Unstructured.DELTA, false, null), layout, tensors, source);
    }

    /**
     * An artifact laid over a backbone it shares with others: nothing of {@code model} is written.
     * Whole tensors and the head (whose class count may differ from the model's) are the
     * overlay's own copies, served through its parameter store, and its branches are installed
     * at each {@link #forward}; so several overlays can use one backbone in memory, one forward
     * at a time (callers serialise forwards on one model).
     */
    public static TunedModel overlay(VisionTransformer model, TuningLayout layout, Map<String, NDArray> tensors,
            String source) {
        for (String head : List.of("head.weight", "head.bias")) {
            if (!tensors.containsKey(head)) {
                throw new IllegalArgumentException(source + " has no " + head);
            }
        }
        Shape w = tensors.get("head.weight").getShape();
        Shape b = tensors.get("head.bias").getShape();
        if (w.dimension() != 2 || w.get(1) != model.config().embedDim() || b.dimension() != 1 || b.get(0) != w.get(0)) {
            throw new IllegalArgumentException(source + ": head " + w + " / " + b + " does not fit embedding width "
                    + model.config().embedDim());
        }
        return load(new TunedModel(model, layout, 0, Unstructured.DELTA, false, tensors), layout, tensors, source);
    }

    private static TunedModel load(TunedModel tuned, TuningLayout layout, Map<String, NDArray> tensors, String source) {
        var expected = tuned.exportedNames();
        var missing = new TreeSet<>(expected);
        missing.removeAll(tensors.keySet());
        var unexpected = new TreeSet<>(tensors.keySet());
        unexpected.removeAll(expected);
        if (!missing.isEmpty() || !unexpected.isEmpty()) {
            tuned.close();
            throw new IllegalArgumentException(source + " does not match its " + layout.method().id() + " layout:"
                    + (missing.isEmpty() ? "" : " missing " + missing) + (unexpected.isEmpty() ? "" : " unexpected " + unexpected));
        }
        for (Trainable t : tuned.trainables.values()) {
            NDArray a = tensors.get(t.name());
            if (!a.getShape().equals(t.value().getShape())) {
                tuned.close();
                throw new IllegalArgumentException(source + ": tensor '" + t.name() + "' has shape " + a.getShape()
                        + ", expected " + t.value().getShape());
            }
            Tensors.assign(t.value(), a.toFloatArray());
        }
        for (var e : tuned.sparseIndex.entrySet()) {
            long[] stored = tensors.get(e.getKey() + ".delta_index").toLongArray();
            if (!java.util.Arrays.equals(stored, e.getValue().toLongArray())) {
                tuned.close();
                throw new IllegalArgumentException(source + ": delta indices of '" + e.getKey() + "' disagree with the layout");
            }
        }
        return tuned;
    }

    public VisionTransformer model() {
        return model;
    }

    public TuningLayout layout() {
        return layout;
    }

    /** The tensors the optimizer updates, in a fixed order. */
    public Collection<Trainable> trainables() {
        return Collections.unmodifiableCollection(trainables.values());
    }

    /** Scalars the optimizer updates (for {@link Unstructured#MASKED_FULL}, whole masked tensors). */
    public long trainableScalars() {
        return trainables.values().stream().mapToLong(t -> t.value().size()).sum();
    }

    /** Scalars the method trains: the layout's count plus the head. */
    public long tunedScalars() {
        return layout.trainable() + model.space().headSize();
    }

    /**
     * Logits for a batch. Every intermediate array, including the scattered deltas, belongs to
     * the images' manager.
     *
     * @param dropPathSeed seeds the backbone's drop-path masks; the modules' dropout and
     *     drop-path draw from the engine's generator, which the trainer seeds per step
     */
    public NDArray forward(NDArray images, boolean training, long dropPathSeed) {
        scope = images.getManager();
        model.clearBranches();
        if (!merged) {
            branches.forEach(model::setBranch);
        }
        try {
            var params = new PairList<String, Object>();
            params.add(VisionTransformer.DROP_PATH_SEED, dropPathSeed);
            return model.forward(store, new NDList(images), training, params).head();
        } finally {
            scope = null;
            lastDropoutInput = null;
            lastDropoutOutput = null;
        }
    }

    /** Names of the tensors {@link #export} writes. */
    public List<String> exportedNames() {
        var names = new ArrayList<String>();
        for (String tensor : kernels.keySet()) {
            names.add(tensor + ".delta_index");
            names.add(tensor + ".delta_value");
        }
        for (String name : trainables.keySet()) {
            if (name.contains(".snella_")) {
                continue;
            }
            if (name.endsWith(".delta_value")) {
                names.add(name.substring(0, name.length() - ".delta_value".length()) + ".delta_index");
            }
            names.add(name);
        }
        return names;
    }

    /**
     * What changed, as named copies in {@code into}: for each sparse tensor {@code <name>.delta_index}
     * (int64 flat row-major positions) and {@code <name>.delta_value}; LoRA factors
     * {@code <linear>.lora_A} {@code (r, in)} and {@code <linear>.lora_B} {@code (out, r)}; Adapter
     * tensors {@code <linear>.adapter_down.weight/bias} and {@code <linear>.adapter_up.weight/bias};
     * whole tensors, the class token and the head under their own names.
     */
    public NDList export(NDManager into) {
        if (mode == Unstructured.MASKED_FULL) {
            throw new UnsupportedOperationException("the masked-full-gradient mode is a benchmark comparison and exports nothing");
        }
        NDList out = new NDList();
        for (var e : kernels.entrySet()) {
            long[] index;
            float[] values;
            try (NDManager scratch = manager.newSubManager()) {
                NDArray delta = e.getValue().delta(scratch);
                float[] dense = e.getValue().dense(scratch, false).toFloatArray();
                index = e.getValue().indices(dense);
                float[] all = delta.toFloatArray();
                values = new float[index.length];
                for (int i = 0; i < index.length; i++) {
                    values[i] = all[(int) index[i]];
                }
            }
            NDArray i = into.create(index);
            i.setName(e.getKey() + ".delta_index");
            out.add(i);
            NDArray v = into.create(values);
            v.setName(e.getKey() + ".delta_value");
            out.add(v);
        }
        for (var t : trainables.values()) {
            if (t.name().contains(".snella_")) {
                continue;
            }
            if (t.name().endsWith(".delta_value")) {
                String tensor = t.name().substring(0, t.name().length() - ".delta_value".length());
                NDArray index = sparseIndex.get(tensor).toDevice(Device.cpu(), true);
                index.attach(into);
                index.setName(tensor + ".delta_index");
                out.add(index);
            }
            NDArray copy = t.value().toDevice(Device.cpu(), true);
            copy.attach(into);
            copy.setName(t.name());
            out.add(copy);
        }
        return out;
    }

    /**
     * Folds everything into the backbone's own tensors, so the plain model computes what the tuned
     * one does: deltas added at their indices, {@code W += B A} for LoRA; whole tensors and the head
     * are already in place. After this the model is an ordinary checkpoint.
     *
     * @throws IllegalArgumentException for Adapter modules, which are non-linear and have no place
     *     in a plain ViT checkpoint
     */
    public void merge() {
        if (overlay != null) {
            throw new IllegalStateException("an overlay shares its backbone and is never merged into it");
        }
        for (var e : layout.decisions().entrySet()) {
            if (e.getValue() instanceof TensorDecision.Structured s && s.module() == AllocationRule.Module.ADAPTER) {
                throw new IllegalArgumentException("artifacts with Adapter modules cannot be merged: an Adapter is a"
                        + " non-linear bottleneck (" + e.getKey() + ") with no place in a plain ViT checkpoint;"
                        + " load the artifact with its backbone instead");
            }
        }
        try (NDManager scratch = manager.newSubManager()) {
            for (var e : layout.decisions().entrySet()) {
                String name = e.getKey();
                NDArray w = model.parameter(name).getArray();
                if (e.getValue() instanceof TensorDecision.Sparse) {
                    float[] base = w.toFloatArray();
                    long[] index = sparseIndex.get(name).toLongArray();
                    float[] delta = trainables.get(name + ".delta_value").value().toFloatArray();
                    for (int i = 0; i < index.length; i++) {
                        base[(int) index[i]] += delta[i];
                    }
                    Tensors.assign(w, base);
                } else if (e.getValue() instanceof TensorDecision.Structured) {
                    String linear = linearOf(name);
                    NDArray product = trainables.get(linear + ".lora_B").value().matMul(trainables.get(linear + ".lora_A").value());
                    product.attach(scratch);
                    NDArray sum = product.add(w);
                    Tensors.assign(w, sum.toFloatArray());
                } else if (e.getValue() instanceof TensorDecision.Kernelized) {
                    NDArray delta = kernels.get(name).delta(scratch);
                    NDArray sum = delta.add(w);
                    Tensors.assign(w, sum.toFloatArray());
                }
            }
        }
        model.clearBranches();
        merged = true;
    }

    /** Bytes of one float32 copy of everything trained: the size of a gradient, a moment of AdamW. */
    public long trainableBytes() {
        return trainableScalars() * Float.BYTES;
    }

    @Override
    public void close() {
        model.clearBranches();
        model.setTrainable(false);
        manager.close();
    }

    private void install(TensorSpec t, TensorDecision decision, long seed) {
        String name = t.name();
        Parameter p = model.parameter(name);
        if (decision instanceof TensorDecision.Frozen) {
            return;
        }
        if (decision instanceof TensorDecision.Whole) {
            boolean decay = t.shape().dimension() >= 2 && !name.equals("cls_token") && !name.equals("pos_embed");
            addWhole(name, decay);
        } else if (decision instanceof TensorDecision.Sparse sparse) {
            installSparse(t, p, sparse.indices());
        } else if (decision instanceof TensorDecision.Structured s) {
            if (s.module() == AllocationRule.Module.LORA) {
                installLora(t, s.rank(), seed);
            } else {
                installAdapter(t, s.rank(), seed);
            }
        } else if (decision instanceof TensorDecision.Kernelized k) {
            installKernel(t, k.rank(), seed);
        }
    }

    private void addWhole(String name, boolean decay) {
        Parameter p = model.parameter(name);
        if (overlay == null) {
            trainables.put(name, new Trainable(name, p.getArray(), decay, null));
            return;
        }
        Shape shape = name.startsWith("head.") ? overlay.get(name).getShape() : p.getArray().getShape();
        NDArray own = manager.zeros(shape, DataType.FLOAT32, p.getArray().getDevice());
        trainables.put(name, new Trainable(name, own, decay, null));
        overrides.put(p, base -> own);
    }

    private void installSparse(TensorSpec t, Parameter p, int[] indices) {
        long[] index = new long[indices.length];
        for (int i = 0; i < indices.length; i++) {
            index[i] = indices[i];
        }
        Device device = p.getArray().getDevice();
        if (mode == Unstructured.MASKED_FULL) {
            float[] mask = new float[(int) t.size()];
            for (int i : indices) {
                mask[i] = 1f;
            }
            NDArray m = Tensors.constant(manager, mask, t.shape(), device);
            trainables.put(t.name(), new Trainable(t.name(), p.getArray(), false, m));
            return;
        }
        NDArray idx = Tensors.constant(manager, index, device);
        NDArray values = manager.zeros(new Shape(index.length), DataType.FLOAT32, device);
        sparseIndex.put(t.name(), idx);
        trainables.put(t.name() + ".delta_value", new Trainable(t.name() + ".delta_value", values, false, null));
        Shape shape = t.shape();
        long size = t.size();
        overrides.put(p, base -> {
            NDArray dense = zeros(new Shape(size), base.getDevice()).scatter(idx, values, 0);
            return dense.reshape(shape).add(base);
        });
    }

    private void installLora(TensorSpec t, int rank, long seed) {
        String linear = linearOf(t.name());
        Device device = model.parameter(t.name()).getArray().getDevice();
        NDArray a = Tensors.constant(manager, kaimingUniform(rank, t.cols(), seed, linear + ".lora_A"),
                new Shape(rank, t.cols()), device);
        NDArray b = manager.zeros(new Shape(t.rows(), rank), DataType.FLOAT32, device);
        trainables.put(linear + ".lora_A", new Trainable(linear + ".lora_A", a, true, null));
        trainables.put(linear + ".lora_B", new Trainable(linear + ".lora_B", b, true, null));
        boolean dropout = !t.operation().equals("proj");
        branches.put(linear, (x, y, training) -> {
            NDArray in = dropout && training ? dropout(x) : x;
            NDArray delta = Linear.linear(Linear.linear(in, a).head(), b).head();
            return y.add(dropPath(delta, training));
        });
    }

    private void installKernel(TensorSpec t, int rank, long seed) {
        String linear = linearOf(t.name());
        Device device = model.parameter(t.name()).getArray().getDevice();
        var k = new KernelDelta(linear, t.rows(), t.cols(), rank, 2, seed, manager, device);
        kernels.put(t.name(), k);
        trainables.put(linear + ".snella_in", new Trainable(linear + ".snella_in", k.in, true, null));
        trainables.put(linear + ".snella_out", new Trainable(linear + ".snella_out", k.out, true, null));
        trainables.put(linear + ".snella_alpha", new Trainable(linear + ".snella_alpha", k.alpha, false, null));
        trainables.put(linear + ".snella_gamma", new Trainable(linear + ".snella_gamma", k.gamma, false, null));
        trainables.put(linear + ".snella_beta", new Trainable(linear + ".snella_beta", k.beta, false, null));
        boolean dropout = !t.operation().equals("proj");
        branches.put(linear, (x, y, training) -> {
            NDArray in = dropout && training ? dropout(x) : x;
            NDArray delta = training ? k.proxy(x.getManager()) : k.inference(manager);
            return y.add(dropPath(Linear.linear(in, delta).head(), training));
        });
    }

    /**
     * Starts SNELLA's competition for a training of {@code epochs} epochs on a task whose target
     * sparsity is {@code targetSparsity}; every matrix starts at the initial sparsity.
     */
    public void competeFor(SnellaOptions options, double targetSparsity, int epochs) {
        if (kernels.isEmpty()) {
            throw new IllegalStateException("the layout has no SNELLA matrices");
        }
        long[] sizes = kernels.values().stream().mapToLong(KernelDelta::size).toArray();
        snella = options;
        allocator = new SparsityAllocator(sizes, options.initSparsity(), targetSparsity, epochs, options.initWarmup(),
                options.finalWarmup(), options.maskInterval());
        long[] initial = allocator.initial();
        int m = 0;
        for (KernelDelta k : kernels.values()) {
            k.setKeep(initial[m++]);
        }
    }

    /** Whether the model has SNELLA matrices. */
    public boolean kernelized() {
        return !kernels.isEmpty();
    }

    /** The competition, once {@link #competeFor} was called. */
    public SparsityAllocator allocator() {
        return allocator;
    }

    /**
     * Called by the trainer before each epoch: re-allocates SNELLA's matrices when the schedule
     * says so. No-op for other methods.
     */
    public void startEpoch(int epoch) {
        if (kernels.isEmpty()) {
            return;
        }
        if (allocator == null) {
            throw new IllegalStateException("SNELLA needs its competition settings: call competeFor before training");
        }
        if (!allocator.reallocates(epoch)) {
            return;
        }
        double[] scores = kernels.values().stream().mapToDouble(KernelDelta::score).toArray();
        long[] counts = allocator.allocate(allocator.volume(epoch), scores);
        int m = 0;
        for (KernelDelta k : kernels.values()) {
            k.setKeep(counts[m++]);
        }
        lastScores = scores;
    }

    /**
     * Called by the trainer after the network's backward pass and before the optimizer's step:
     * back-propagates into SNELLA's factors, one matrix at a time, and updates their importance.
     * No-op for other methods. (The reference updates the importance after the optimizer's step,
     * with the updated factors; ours clears gradients as it steps, so the importance uses the
     * factors before it: one step's difference in an average over many.)
     */
    public void afterBackward() {
        if (kernels.isEmpty()) {
            return;
        }
        double b1 = snella == null ? 0.85 : snella.beta1();
        double b2 = snella == null ? 0.85 : snella.beta2();
        try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            for (KernelDelta k : kernels.values()) {
                k.backward(manager, collector, b1, b2);
            }
        }
    }

    /**
     * SNELLA's matrices as they stand: weight name, entries, entries kept, and the score of the
     * last re-allocation (NaN before the first).
     */
    public record KernelState(String tensor, long entries, long kept, double score) {}

    public List<KernelState> kernelStates() {
        var out = new ArrayList<KernelState>();
        int m = 0;
        for (var e : kernels.entrySet()) {
            out.add(new KernelState(e.getKey(), e.getValue().size(), e.getValue().keep(),
                    lastScores == null ? Double.NaN : lastScores[m]));
            m++;
        }
        return out;
    }

    /** Non-zero entries of SNELLA's deltas now. */
    public long kernelNonZeros() {
        return kernels.values().stream().mapToLong(KernelDelta::keep).sum();
    }

    private void installAdapter(TensorSpec t, int rank, long seed) {
        String linear = linearOf(t.name());
        Device device = model.parameter(t.name()).getArray().getDevice();
        int width = t.rows();
        String down = linear + ".adapter_down.";
        String up = linear + ".adapter_up.";
        NDArray dw = Tensors.constant(manager, kaimingUniform(rank, width, seed, down + "weight"), new Shape(rank, width),
                device);
        NDArray db = Tensors.constant(manager, java.util.Arrays.copyOf(kaimingUniform(1, width, seed, down + "bias"), rank),
                new Shape(rank), device);
        NDArray uw = manager.zeros(new Shape(width, rank), DataType.FLOAT32, device);
        NDArray ub = manager.zeros(new Shape(width), DataType.FLOAT32, device);
        trainables.put(down + "weight", new Trainable(down + "weight", dw, true, null));
        trainables.put(down + "bias", new Trainable(down + "bias", db, false, null));
        trainables.put(up + "weight", new Trainable(up + "weight", uw, true, null));
        trainables.put(up + "bias", new Trainable(up + "bias", ub, false, null));
        boolean proj = t.operation().equals("proj");
        branches.put(linear, (x, y, training) -> {
            NDArray source = proj ? x : y;
            NDArray in = !proj && training ? dropout(source) : source;
            NDArray hidden = Activation.gelu(Linear.linear(in, dw, db).head());
            NDArray delta = Linear.linear(hidden, uw, ub).head();
            return y.add(dropPath(delta, training));
        });
    }

    /**
     * Dropout on a module's input. Modules reading the same array (LoRA on q, k and v all read the
     * block's normalised tokens) share one mask, as the reference's shared {@code structured_drop}.
     */
    private NDArray dropout(NDArray input) {
        if (input != lastDropoutInput) {
            lastDropoutInput = input;
            lastDropoutOutput = Dropout.dropout(input, MODULE_DROPOUT, true).head();
        }
        return lastDropoutOutput;
    }

    /** Per-sample drop-path on a module's output, from the engine's generator. */
    private NDArray dropPath(NDArray branch, boolean training) {
        if (!training) {
            return branch;
        }
        Shape s = branch.getShape();
        long[] dims = new long[s.dimension()];
        java.util.Arrays.fill(dims, 1);
        dims[0] = s.get(0);
        double keep = 1 - MODULE_DROP_PATH;
        NDArray mask = branch.getManager().randomUniform(0f, 1f, new Shape(dims), DataType.FLOAT32, branch.getDevice())
                .lt(keep).toType(DataType.FLOAT32, false).div(keep);
        return branch.mul(mask);
    }

    private NDArray zeros(Shape shape, Device device) {
        if (scope == null) {
            throw new IllegalStateException("call TunedModel.forward, not the model's own forward");
        }
        return scope.zeros(shape, DataType.FLOAT32, device);
    }

    /**
     * PyTorch's {@code kaiming_uniform_(w, a=sqrt(5))} for a {@code (rows, fanIn)} weight, which is
     * also {@code nn.Linear}'s default bias bound: U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
     */
    static float[] kaimingUniform(int rows, int fanIn, long seed, String name) {
        double bound = 1.0 / Math.sqrt(fanIn);
        var random = new SplittableRandom(seed ^ fnv1a(name));
        float[] out = new float[rows * fanIn];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return out;
    }

    private static long fnv1a(String s) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < s.length(); i++) {
            h ^= s.charAt(i);
            h *= 0x100000001b3L;
        }
        return h;
    }

    private static String linearOf(String weightName) {
        if (!weightName.endsWith(".weight")) {
            throw new IllegalArgumentException("structured modules go on matrices, not on '" + weightName + "'");
        }
        return weightName.substring(0, weightName.length() - ".weight".length());
    }

    private static java.util.Set<String> backboneNames(VisionTransformer model) {
        var names = new java.util.LinkedHashSet<String>();
        for (TensorSpec t : model.space().tensors()) {
            if (!TuningLayout.isHead(t)) {
                names.add(t.name());
            }
        }
        return names;
    }
}
