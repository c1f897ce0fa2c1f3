package org.sptspark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.loss.Loss;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sptspark.bench.TrainingBenchmark;
import org.sptspark.model.Tensors;
import org.sptspark.model.VitConfig;
import org.sptspark.model.VitPresets;
import org.sptspark.modules.Trainable;

/**
 * The PyTorch peer of {@code spt bench peer} does our work: on the same weights (every trained
 * tensor set to random values, so LoRA and Adapter branches and SPT's sparse entries all count)
 * and the same batch, its logits and loss agree with ours within 1e-4, it trains the same tensors
 * with the same weight-decay flags, and after AdamW steps without randomness its losses agree
 * with ours. Skipped when {@code /usr/bin/python3} cannot import torch.
 */
class PeerCheckTest {

    static final String PYTHON = "/usr/bin/python3";

    static PeerServer peer;

    @TempDir
    Path dir;

    @BeforeAll
    static void startPeer() {
        var why = new StringBuilder();
        String torch = PeerServer.probe(PYTHON, why);
        assumeTrue(torch != null, () -> "peer skipped: " + why + " (" + PeerServer.INSTALL + ")");
        peer = PeerServer.start(PYTHON, 2);
    }

    @AfterAll
    static void stopPeer() {
        if (peer != null) {
            peer.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"linear", "bias", "lora", "adapter", "spt-lora", "spt-adapter", "spt-lora-masked", "snella"})
    void logitsAndLossAgreeWithOursOnTheSameWeights(String method) throws Exception {
        VitConfig config = VitPresets.get("vit_demo_patch4_32").withDropPathRate(0.1);
        try (var w = TrainingBenchmark.Workload.setUp(config, method, "2%", 4, 3)) {
            var random = new SplittableRandom(7);
            for (Trainable t : w.tuned().trainables()) {
                if (t.value().size() == 1) {
                    continue; // SNELLA's alpha, gamma and beta keep their initial 1, 1, 0
                }
                float[] values = new float[(int) t.value().size()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (0.05 * random.nextGaussian());
                }
                Tensors.assign(t.value(), values);
            }
            float[] ours;
            double oursLoss;
            try (NDManager scope = w.model().manager().newSubManager()) {
                NDArray x = w.images().duplicate();
                x.attach(scope);
                NDArray logits = w.tuned().forward(x, false, 0);
                NDArray y = w.labels().duplicate();
                y.attach(scope);
                oursLoss = Loss.softmaxCrossEntropyLoss().evaluate(new NDList(y), new NDList(logits)).getFloat();
                ours = logits.toFloatArray();
            }
            Path weights = dir.resolve(method + ".safetensors");
            PeerSpec.writeWeights(w, weights);
            JsonObject spec = PeerSpec.training(w);
            spec.addProperty("weights", weights.toString());
            Path file = PeerSpec.write(spec);
            JsonObject setup = peer.call("setup " + file);
            assertEquals(w.tuned().tunedScalars(), setup.get("tuned").getAsLong(), method + ": trained scalars");
            boolean sparse = method.startsWith("spt-");
            if (!sparse || w.masked()) {
                // the same tensors, shapes and decay flags as ours
                assertEquals(trainables(w), trainables(setup.getAsJsonArray("trainables")), method);
                assertEquals(w.tuned().trainableScalars(), setup.get("updated").getAsLong(), method + ": updated scalars");
            } else {
                assertTrue(setup.get("updated").getAsLong() > w.tuned().trainableScalars(),
                        "the peer trains sparse entries in their whole matrices");
            }
            JsonObject check = peer.call("check");
            assertEquals(oursLoss, check.get("loss").getAsDouble(), 1e-4, method + ": loss");
            JsonArray rows = check.getAsJsonArray("logits");
            int classes = config.numClasses();
            assertEquals(ours.length, rows.size() * classes);
            double worst = 0;
            for (int b = 0; b < rows.size(); b++) {
                JsonArray row = rows.get(b).getAsJsonArray();
                for (int k = 0; k < classes; k++) {
                    worst = Math.max(worst, Math.abs(row.get(k).getAsDouble() - ours[b * classes + k]));
                }
            }
            assertTrue(worst < 1e-4, method + ": logits differ by up to " + worst);
            assertTrue(Math.abs(ours[0]) > 1e-3 || Math.abs(ours[1]) > 1e-3, "logits are not all zero");
            peer.call("release");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"linear", "full"})
    void adamWStepsWithoutRandomnessGiveOurLosses(String method) throws Exception {
        // no drop-path, and these methods have no module dropout: the steps are deterministic on both sides
        VitConfig config = VitPresets.get("vit_demo_patch4_32");
        try (var w = TrainingBenchmark.Workload.setUp(config, method, "2%", 4, 3)) {
            Path weights = dir.resolve(method + ".safetensors");
            PeerSpec.writeWeights(w, weights);
            JsonObject spec = PeerSpec.training(w);
            spec.addProperty("weights", weights.toString());
            peer.call("setup " + PeerSpec.write(spec));
            for (int step = 0; step < 3; step++) {
                w.step();
                double theirs = peer.call("step").get("loss").getAsDouble();
                assertEquals(w.loss(), theirs, 1e-4, method + ", step " + step);
            }
            peer.call("release");
        }
    }

    @Test
    void modelAndSensitivityRowsCoverOurTensors() throws Exception {
        VitConfig config = VitPresets.get("vit_demo_patch4_32");
        var space = org.sptspark.model.ParameterSpace.of(config);
        JsonObject model = peer.call("setup " + PeerSpec.write(PeerSpec.model(config, 2)));
        assertEquals(space.tensors().stream().mapToLong(t -> t.size()).sum(), model.get("updated").getAsLong());
        assertTrue(peer.call("step").get("seconds").getAsDouble() > 0);
        JsonObject sens = peer.call("setup " + PeerSpec.write(PeerSpec.sensitivity(config, 2)));
        assertEquals(space.tensors().stream().filter(t -> t.isScored()).mapToLong(t -> t.size()).sum(),
                sens.get("scored").getAsLong());
        assertTrue(peer.call("step").get("peak_rss").getAsLong() > 0);
        peer.call("release");
    }

    private static TreeSet<String> trainables(TrainingBenchmark.Workload w) {
        var out = new TreeSet<String>();
        for (Trainable t : w.tuned().trainables()) {
            out.add(t.name() + " " + java.util.Arrays.toString(t.value().getShape().getShape()) + " decay=" + t.decay());
        }
        return out;
    }

    private static TreeSet<String> trainables(JsonArray peer) {
        var out = new TreeSet<String>();
        for (JsonElement e : peer) {
            JsonObject o = e.getAsJsonObject();
            JsonArray shape = o.getAsJsonArray("shape");
            long[] dims = new long[shape.size()];
            for (int i = 0; i < dims.length; i++) {
                dims[i] = shape.get(i).getAsLong();
            }
            out.add(o.get("name").getAsString() + " " + java.util.Arrays.toString(dims) + " decay="
                    + o.get("decay").getAsBoolean());
        }
        return out;
    }
}
