package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.Budget;
import org.sptspark.allocation.BudgetAllocator;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.bench.AllocationBenchmark;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.model.Backbone;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.Backbones;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.ConvNextConfig;
import org.sptspark.model.StateDict;
import org.sptspark.model.SwinConfig;
import org.sptspark.model.TensorRole;
import org.sptspark.modules.Unstructured;
import org.sptspark.snella.Competition;
import org.sptspark.snella.SnellaOptions;

/**
 * Every method on the hierarchical families, as on ViT: a fresh tuned model computes the backbone
 * function, training lowers the loss, the exported tensors reopened on another copy of the backbone
 * give the same logits, and a merged checkpoint (every method but the Adapters) gives them too.
 */
class HierarchicalTuningTest {

    static final StructuredTaskGenerator.Kind KIND = StructuredTaskGenerator.Kind.CLEVR_DIST;

    @TempDir
    static Path dir;

    static LabeledImages train;
    static LabeledImages test;

    static Stream<BackboneConfig> configs() {
        int classes = KIND.classes;
        return Stream.of(
                new SwinConfig("tune_swin", 32, 4, 3, 8, List.of(2, 2), List.of(1, 2), 4, 4, classes, 1e-5, 0.1),
                new ConvNextConfig("tune_convnext", 32, 4, 3, List.of(1, 1), List.of(8, 16), 7, 4, classes, 1e-6, 0.1));
    }

    @BeforeAll
    static void data() {
        train = TuningFixtures.generated(KIND, "train", 96, 32, 1);
        test = TuningFixtures.generated(KIND, "test", 64, 32, 1);
    }

    /** Every method's layout: the baselines, SNELLA and SPT's plans on random scores. */
    static Map<String, TuningLayout> layouts(BackboneConfig config) {
        var space = config.space();
        var out = new LinkedHashMap<String, TuningLayout>();
        for (Method m : List.of(Method.LINEAR, Method.BIAS, Method.FULL, Method.LORA, Method.ADAPTER, Method.SNELLA)) {
            out.put(m.id(), TuningLayout.baseline(m, space, 4));
        }
        var scores = AllocationBenchmark.randomScores(config, 3);
        long budget = space.scoredSize() / 10;
        for (var module : List.of(AllocationRule.Module.LORA, AllocationRule.Module.ADAPTER)) {
            var plan = new BudgetAllocator(scores, AllocationRule.defaults(module, 4))
                    .allocate(List.of(new Budget("10%", budget))).get(0);
            var method = module == AllocationRule.Module.LORA ? Method.SPT_LORA : Method.SPT_ADAPTER;
            out.put(method.id(), TuningLayout.fromPlan(method, plan, "random-plan", space));
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("configs")
    void everyMethodTrainsReopensAndMerges(BackboneConfig config) throws Exception {
        Path backbone = dir.resolve(config.name() + ".safetensors");
        try (NDManager scratch = NDManager.newBaseManager()) {
            Checkpoints.write(Backbones.create(scratch, config, 11), backbone);
        }
        var layouts = layouts(config);
        assertTrue(layouts.get("spt-lora").decisions().values().stream().anyMatch(d -> d instanceof TensorDecision.Sparse),
                "the plan has sparse entries");
        for (var e : layouts.entrySet()) {
            String method = e.getKey();
            TuningLayout layout = e.getValue();
            try (NDManager manager = NDManager.newBaseManager()) {
                Backbone model = load(manager, backbone, config);
                NDArray x = test.images(IntStream.range(0, 16).toArray(), 0, 16, manager);
                try (var tuned = TunedModel.forTraining(model, layout, 5, Unstructured.DELTA)) {
                    if (!method.equals("snella")) {
                        // zero deltas and zero up/B projections add nothing to the backbone (SNELLA's
                        // kernel starts small, not zero)
                        float[] fresh = logits(tuned, x, manager);
                        model.clearBranches();
                        float[] plain = model.logits(new ParameterStore(manager, false), x, false, 0).toFloatArray();
                        assertArrayEquals(plain, fresh, 1e-6f, method + ": a fresh tuned model is the backbone");
                    } else {
                        tuned.hook(Competition.class).start(SnellaOptions.defaults(), 0.8, 4);
                    }

                    var recipe = Recipe.builder().epochs(4).warmupEpochs(0).batchSize(32).lr(3e-3).evalEvery(0).build();
                    var result = Trainer.train(tuned, train, recipe, null, null);
                    double first = result.epochs().get(0).loss();
                    double last = result.epochs().get(result.epochs().size() - 1).loss();
                    assertTrue(Double.isFinite(last) && last < first, method + ": loss " + first + " -> " + last);

                    float[] trained = logits(tuned, x, manager);
                    var tensors = new HashMap<String, NDArray>();
                    for (NDArray a : tuned.export(manager)) {
                        tensors.put(a.getName(), a);
                    }
                    try (NDManager other = NDManager.newBaseManager()) {
                        Backbone copy = load(other, backbone, config);
                        // as an artifact is opened: the layout read back from the tensors' names
                        var read = TuningLayout.fromArtifact(layout.method(), 4, copy.space(), tensors, method);
                        try (var reopened = TunedModel.fromTensors(copy, read, tensors, method)) {
                            assertArrayEquals(trained, logits(reopened, other.create(x.toFloatArray(), x.getShape()), other),
                                    1e-5f, method + ": the exported tensors reopen to the same model");
                        }
                    }
                    if (method.contains("adapter")) {
                        assertThrows(IllegalArgumentException.class, tuned::merge, method + " is not mergeable");
                        continue;
                    }
                    tuned.merge();
                    Path merged = dir.resolve(config.name() + "-" + method + ".safetensors");
                    Checkpoints.write(tuned.model(), merged);
                    try (NDManager other = NDManager.newBaseManager(); StateDict dict = Checkpoints.read(merged, other)) {
                        Backbone plainModel = Backbones.create(other, config, 0);
                        Checkpoints.load(plainModel, dict, Checkpoints.HeadPolicy.LOAD);
                        float[] mergedLogits = plainModel.logits(new ParameterStore(other, false),
                                other.create(x.toFloatArray(), x.getShape()), false, 0).toFloatArray();
                        assertArrayEquals(trained, mergedLogits, 1e-4f, method + ": the merged checkpoint");
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("configs")
    void baselinesTrainWhatTheyShould(BackboneConfig config) {
        var space = config.space();
        long matrices = space.backbone().stream().filter(t -> t.role() == TensorRole.MATRIX).count();
        long lora = space.backbone().stream().filter(t -> t.role() == TensorRole.MATRIX)
                .mapToLong(t -> 4L * (t.rows() + t.cols())).sum();
        assertTrue(matrices > 0);
        assertEquals(lora, TuningLayout.baseline(Method.LORA, space, 4).trainable(), "LoRA r4 on every matrix");
        assertEquals(space.backboneSize(), TuningLayout.baseline(Method.FULL, space, 0).trainable());
        assertEquals(0, TuningLayout.baseline(Method.LINEAR, space, 0).trainable());
        long biases = space.backbone().stream().filter(t -> t.name().endsWith(".bias")).mapToLong(t -> t.size()).sum();
        assertEquals(biases, TuningLayout.baseline(Method.BIAS, space, 0).trainable(), "every bias");
        // full fine-tuning decays matrices and kernels, as timm's groups do, but not vectors nor Swin's position tables
        try (NDManager manager = NDManager.newBaseManager();
                var tuned = TunedModel.forTraining(Backbones.create(manager, config, 1),
                        TuningLayout.baseline(Method.FULL, space, 0), 5, Unstructured.DELTA)) {
            for (var t : tuned.trainables()) {
                boolean expected = t.value().getShape().dimension() >= 2 && !t.name().contains("relative_position_bias_table");
                assertEquals(expected, t.decay(), t.name());
            }
        }
    }

    private static Backbone load(NDManager manager, Path file, BackboneConfig config) throws Exception {
        Backbone model = Backbones.create(manager, config, 0);
        try (StateDict dict = Checkpoints.read(file, manager)) {
            Checkpoints.load(model, dict, Checkpoints.HeadPolicy.DROP);
        }
        return model;
    }

    private static float[] logits(TunedModel tuned, NDArray x, NDManager manager) {
        try (NDManager step = manager.newSubManager()) {
            NDArray xs = x.duplicate();
            xs.attach(step);
            return tuned.forward(xs, false, 0).toFloatArray();
        }
    }
}
