package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.artifact.ArtifactManifest;
import org.sptspark.artifact.Artifacts;
import org.sptspark.artifact.Merge;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.TaskRef;
import org.sptspark.model.BackboneRef;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.StateDict;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.modules.Unstructured;

/**
 * Training an SPT-like layout (sparse deltas, LoRA, whole vectors, class token, head) on a
 * generated counting task, then the artifact: commit, verification, merge.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TrainerTest {

    static final StructuredTaskGenerator.Kind KIND = StructuredTaskGenerator.Kind.CLEVR_COUNT;
    static final VitConfig SMALL = new VitConfig("vit_small_test", 32, 8, 3, 48, 3, 3, 96, KIND.classes, 1e-6, 0.1);

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

    @BeforeAll
    void train() throws Exception {
        manager = NDManager.newBaseManager();
        backbone = TuningFixtures.writeBackbone(dir.resolve("backbone.safetensors"), SMALL, 7);
        sha = Checkpoints.sha256(backbone);
        model = TuningFixtures.loadBackbone(manager, backbone, SMALL);
        layout = TuningFixtures.mixed(model.space(), AllocationRule.Module.LORA, 4);
        var train = TuningFixtures.generated(KIND, "train", 800, 32, 1);
        test = TuningFixtures.generated(KIND, "test", 300, 32, 1);
        tuned = TunedModel.forTraining(model, layout, 3, Unstructured.DELTA);
        before = accuracy(tuned, test).top1();
        var recipe = Recipe.builder().epochs(25).warmupEpochs(2).lr(3e-3).evalEvery(0).build();
        result = Trainer.train(tuned, train, recipe, null, null);
        after = accuracy(tuned, test).top1();
    }

    @AfterAll
    void close() {
        tuned.close();
        manager.close();
    }

    @Test
    void theTunedModelLearnsWhatTheFrozenBackboneWithARandomHeadCannot() {
        double chance = 1.0 / KIND.classes;
        assertTrue(before < chance + 0.07, "before training: " + before);
        assertTrue(after > 2.4 * chance, "after training: " + after + " (chance " + chance + ")");
        assertEquals(25, result.epochs().size());
        assertEquals(25 * 13, result.steps());
        assertTrue(result.last().loss() < result.epochs().get(0).loss());
        // two AdamW moments per trained scalar, and no more: the deltas, not their matrices
        assertEquals(2 * tuned.trainableBytes(), result.optimizerStateBytes());
        assertEquals(layout.trainable() + model.space().headSize(), tuned.trainableScalars());
    }

    @Test
    void everyBackboneEntryOutsideThePlanIsBitIdenticalToTheCheckpoint() throws Exception {
        int changedWhole = 0;
        try (NDManager scratch = NDManager.newBaseManager(); StateDict dict = Checkpoints.read(backbone, scratch)) {
            for (var e : layout.decisions().entrySet()) {
                float[] now = model.parameter(e.getKey()).getArray().toFloatArray();
                float[] then = dict.tensors().get(e.getKey()).toFloatArray();
                if (e.getValue() instanceof TensorDecision.Whole) {
                    changedWhole += java.util.Arrays.equals(now, then) ? 0 : 1;
                    continue;
                }
                // frozen, sparse (the delta lives apart) and structured (the branch lives apart) tensors are never written
                assertArrayEquals(bits(then), bits(now), e.getKey());
            }
        }
        assertEquals(2, changedWhole, "the class token and the whole bias were trained");
    }

    @Test
    void theMergedCheckpointReproducesTheTunedLogits() throws Exception {
        String folder = dir.resolve("lake/artifacts/lora-mixed").toUri().toString();
        long bytes = Artifacts.write(hadoop, folder, tuned, manifest(layout, sha));
        assertTrue(Artifacts.committed(hadoop, folder));
        Path merged = dir.resolve("merged.safetensors");
        var result = Merge.merge(hadoop, folder, backbone.toUri().toString(), merged.toUri().toString());
        assertEquals("spt-lora", result.method());
        assertTrue(bytes < Files.size(backbone) / 4, "artifact " + bytes + " bytes vs checkpoint " + Files.size(backbone));

        TuningFixtures.assertMergedGivesTheTunedLogits(tuned, merged, test, manager);
        try (NDManager other = NDManager.newBaseManager(); StateDict dict = Checkpoints.read(merged, other)) {
            // outside the planned indices the merged q matrix is the checkpoint's, bit for bit
            int[] planned = ((TensorDecision.Sparse) layout.decision("blocks.0.attn.q.weight")).indices();
            float[] q = dict.tensors().get("blocks.0.attn.q.weight").toFloatArray();
            try (NDManager scratch = NDManager.newBaseManager(); StateDict original = Checkpoints.read(backbone, scratch)) {
                float[] q0 = original.tensors().get("blocks.0.attn.q.weight").toFloatArray();
                var set = new java.util.HashSet<Integer>();
                for (int i : planned) {
                    set.add(i);
                }
                int moved = 0;
                for (int i = 0; i < q0.length; i++) {
                    if (set.contains(i)) {
                        moved += q[i] != q0[i] ? 1 : 0;
                    } else {
                        assertEquals(Float.floatToRawIntBits(q0[i]), Float.floatToRawIntBits(q[i]), "entry " + i);
                    }
                }
                assertTrue(moved > planned.length / 2, "the planned entries were trained: " + moved);
            }
        }
    }

    @Test
    void aDamagedMissingOrForeignArtifactIsRefusedWithAClearMessage() throws Exception {
        String folder = dir.resolve("lake/artifacts/refusals").toUri().toString();
        Artifacts.write(hadoop, folder, tuned, manifest(layout, sha));
        Path tensors = Path.of(java.net.URI.create(folder)).resolve(Artifacts.TENSORS);
        String out = dir.resolve("never.safetensors").toUri().toString();

        // another backbone
        Path other = dir.resolve("other.safetensors");
        try (NDManager scratch = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(scratch, SMALL, 8), other);
        }
        var e = assertThrows(IllegalArgumentException.class,
                () -> Merge.merge(hadoop, folder, other.toUri().toString(), out));
        assertTrue(e.getMessage().contains("was trained on backbone") && e.getMessage().contains(sha), e.getMessage());

        // one flipped byte in the tensors
        byte[] bytes = Files.readAllBytes(tensors);
        bytes[bytes.length - 3] ^= 0x10;
        Files.write(tensors, bytes);
        e = assertThrows(IllegalArgumentException.class,
                () -> Merge.merge(hadoop, folder, backbone.toUri().toString(), out));
        assertTrue(e.getMessage().contains("is damaged"), e.getMessage());
        // without the local file system's own checksum file, our SHA-256 check catches it (as on S3)
        Files.delete(tensors.resolveSibling("." + Artifacts.TENSORS + ".crc"));
        e = assertThrows(IllegalArgumentException.class,
                () -> Merge.merge(hadoop, folder, backbone.toUri().toString(), out));
        assertTrue(e.getMessage().contains("is damaged") && e.getMessage().contains("its manifest records"), e.getMessage());

        // no manifest: not committed
        Files.delete(Path.of(java.net.URI.create(folder)).resolve(Artifacts.MANIFEST));
        assertFalse(Artifacts.committed(hadoop, folder));
        e = assertThrows(IllegalArgumentException.class,
                () -> Merge.merge(hadoop, folder, backbone.toUri().toString(), out));
        assertTrue(e.getMessage().contains("no committed artifact") && e.getMessage().contains("manifest.json"),
                e.getMessage());
        assertFalse(Files.exists(Path.of(java.net.URI.create(out))), "nothing is written on refusal");
    }

    @Test
    void adapterArtifactsLoadButAreNotMerged() throws Exception {
        try (NDManager scratch = NDManager.newBaseManager()) {
            var m = TuningFixtures.loadBackbone(scratch, backbone, SMALL);
            var adapterLayout = TuningFixtures.mixed(m.space(), AllocationRule.Module.ADAPTER, 2);
            String folder = dir.resolve("lake/artifacts/adapter").toUri().toString();
            try (var t = TunedModel.forTraining(m, adapterLayout, 1, Unstructured.DELTA)) {
                Artifacts.write(hadoop, folder, t, manifest(adapterLayout, sha));
            }
            var loaded = Artifacts.read(hadoop, folder, sha, m.space(), scratch);
            assertEquals(adapterLayout.decisions().keySet(), loaded.layout().decisions().keySet());
            for (var e : adapterLayout.decisions().entrySet()) {
                assertEquals(e.getValue().kind(), loaded.layout().decision(e.getKey()).kind(), e.getKey());
                assertEquals(e.getValue().trainable(), loaded.layout().decision(e.getKey()).trainable(), e.getKey());
            }
            var e = assertThrows(IllegalArgumentException.class, () -> Merge.merge(hadoop, folder,
                    backbone.toUri().toString(), dir.resolve("adapter-merged.safetensors").toUri().toString()));
            assertTrue(e.getMessage().contains("cannot be merged"), e.getMessage());
        }
    }

    /**
     * Seeded runs train to bit-identical tensors: two in each of two fresh JVMs, the second run of
     * each JVM after the first's work.
     */
    @Test
    void trainingIsDeterministicForASeed() throws Exception {
        var digests = new ArrayList<String>();
        for (int run = 0; run < 2; run++) {
            var command = new ArrayList<String>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            command.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                    .filter(a -> !a.startsWith("-agentlib") && !a.startsWith("-javaagent")).toList());
            command.add("-cp");
            command.add(System.getProperty("java.class.path"));
            command.add(DeterminismProbe.class.getName());
            command.add(backbone.toString());
            Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertEquals(0, p.waitFor(), out);
            List<String> printed = out.lines().filter(l -> l.startsWith("DIGEST ")).toList();
            assertEquals(2, printed.size(), "the probe should print two digests: " + out);
            digests.addAll(printed);
        }
        assertEquals(List.of(digests.get(0), digests.get(0), digests.get(0), digests.get(0)), digests);
    }

    static ArtifactManifest manifest(TuningLayout layout, String sha) {
        return ArtifactManifest.of(new TaskRef(null, "gen_clevr_count", KIND.classes, null, null),
                new BackboneRef(SMALL.name(), SMALL, null, sha), layout.method().id(), layout.rank());
    }

    static Accuracy accuracy(TunedModel tuned, LabeledImages data) {
        return Trainer.evaluate(tuned, data.batches(100), tuned.model().config().numClasses());
    }

    static int[] bits(float[] values) {
        int[] out = new int[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Float.floatToRawIntBits(values[i]);
        }
        return out;
    }
}
