package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.HashSet;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.artifact.Artifacts;
import org.sptspark.artifact.Merge;
import org.sptspark.data.HadoopFiles;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.StateDict;
import org.sptspark.model.VisionTransformer;
import org.sptspark.modules.Unstructured;
import org.sptspark.snella.Competition;
import org.sptspark.snella.SnellaOptions;
import org.sptspark.snella.SparsityAllocator;

/** SNELLA end to end on a generated counting task: learning, the final sparsity, the artifact. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SnellaTrainingTest {

    static final double TARGET = 0.7;
    static final int EPOCHS = 12;

    @TempDir
    static Path dir;

    Configuration hadoop = HadoopFiles.configuration();
    NDManager manager;
    Path backbone;
    String sha;
    VisionTransformer model;
    TuningLayout layout;
    TunedModel tuned;
    LabeledImages test;
    double before;
    double after;
    Trainer.Result result;
    long[] afterFirstAllocation;

    @BeforeAll
    void train() throws Exception {
        manager = NDManager.newBaseManager();
        backbone = TuningFixtures.writeBackbone(dir.resolve("backbone.safetensors"), TrainerTest.SMALL, 7);
        sha = Checkpoints.sha256(backbone);
        var train = TuningFixtures.generated(TrainerTest.KIND, "train", 800, 32, 1);
        test = TuningFixtures.generated(TrainerTest.KIND, "test", 300, 32, 1);
        model = TuningFixtures.loadBackbone(manager, backbone, TrainerTest.SMALL);
        layout = TuningLayout.baseline(Method.SNELLA, model.space(), 8);
        tuned = TunedModel.forTraining(model, layout, 3, Unstructured.DELTA);
        tuned.hook(Competition.class).start(SnellaOptions.defaults().withRank(8), TARGET, EPOCHS);
        before = TrainerTest.accuracy(tuned, test).top1();
        var recipe = Recipe.builder().epochs(EPOCHS).warmupEpochs(1).lr(3e-3).evalEvery(0).build();
        result = Trainer.train(tuned, train, recipe, null, e -> {
            if (e.epoch() == 2) {
                afterFirstAllocation = tuned.hook(Competition.class).states().stream().mapToLong(Competition.MatrixState::kept).toArray();
            }
        });
        after = TrainerTest.accuracy(tuned, test).top1();
    }

    @AfterAll
    void close() {
        tuned.close();
        manager.close();
    }

    @Test
    void theGeneratedTaskIsLearned() {
        double chance = 1.0 / TrainerTest.KIND.classes;
        assertTrue(before < chance + 0.07, "before training: " + before);
        assertTrue(after > 2 * chance, "after training: " + after + " (chance " + chance + ")");
        assertTrue(result.last().loss() < result.epochs().get(0).loss());
        // AdamW holds two moments of the factors, the class token and the head, never of a dense matrix
        assertEquals(2 * tuned.trainableBytes(), result.optimizerStateBytes());
        long matrices = layout.decisions().values().stream().filter(d -> d instanceof TensorDecision.Kernelized).count();
        assertEquals(6 * TrainerTest.SMALL.depth(), matrices);
    }

    @Test
    void theMatricesCompetedAndEndedExactlyAtTheTargetSparsity() {
        SparsityAllocator a = tuned.hook(Competition.class).allocator();
        long entries = a.totalEntries();
        assertEquals(Math.round((1 - TARGET) * entries), a.targetVolume());
        assertEquals(a.targetVolume(), tuned.hook(Competition.class).nonZeros());
        // after the first re-allocation the shares follow the scores, not the initial uniform ratio
        var initial = a.initial();
        boolean moved = false;
        for (int m = 0; m < initial.length; m++) {
            moved |= Math.abs((double) afterFirstAllocation[m] / initial[m] - (double) a.volume(1) / a.initVolume()) > 0.02;
        }
        assertTrue(moved, "the allocation after epoch 1 is the uniform one");
        try (NDManager scratch = NDManager.newBaseManager()) {
            long exported = 0;
            for (NDArray t : tuned.export(scratch)) {
                if (t.getName().endsWith(".delta_index")) {
                    exported += t.size();
                }
            }
            assertEquals(a.targetVolume(), exported, "non-zero entries in the artifact");
        }
    }

    @Test
    void theArtifactIsCompactAndItsMergeReproducesTheTunedLogits() throws Exception {
        String folder = dir.resolve("lake/artifacts/snella").toUri().toString();
        long bytes = Artifacts.write(hadoop, folder, tuned, TrainerTest.manifest(layout, sha));
        var loaded = Artifacts.read(hadoop, folder, sha, model.space(), manager);
        for (var e : loaded.layout().decisions().entrySet()) {
            if (layout.decision(e.getKey()) instanceof TensorDecision.Kernelized) {
                assertTrue(e.getValue() instanceof TensorDecision.Sparse, e.getKey() + " loads as a sparse delta");
            }
        }
        // int64 index + float32 value per non-zero entry, plus the head and class token
        long payload = 12 * tuned.hook(Competition.class).nonZeros();
        assertTrue(bytes < payload + 64 * 1024, bytes + " bytes for " + tuned.hook(Competition.class).nonZeros() + " entries");

        Path merged = dir.resolve("merged.safetensors");
        Merge.merge(hadoop, folder, backbone.toUri().toString(), merged.toUri().toString());
        TuningFixtures.assertMergedGivesTheTunedLogits(tuned, merged, test, manager);
        try (NDManager other = NDManager.newBaseManager(); StateDict dict = Checkpoints.read(merged, other)) {
            // outside the delta's indices every matrix is the checkpoint's, bit for bit
            try (NDManager scratch = NDManager.newBaseManager(); StateDict original = Checkpoints.read(backbone, scratch)) {
                String name = "blocks.1.mlp.fc1.weight";
                var index = new HashSet<Long>();
                for (long i : loaded.tensors().get(name + ".delta_index").toLongArray()) {
                    index.add(i);
                }
                float[] w0 = original.tensors().get(name).toFloatArray();
                float[] w = dict.tensors().get(name).toFloatArray();
                for (int i = 0; i < w0.length; i++) {
                    if (!index.contains((long) i)) {
                        assertEquals(Float.floatToRawIntBits(w0[i]), Float.floatToRawIntBits(w[i]), "entry " + i);
                    }
                }
            }
        }
    }
}
