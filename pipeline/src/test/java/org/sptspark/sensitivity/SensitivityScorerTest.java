package org.sptspark.sensitivity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.StateDict;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;

/** The scorer against PyTorch's float64 sum over batches of squared per-batch gradients. */
class SensitivityScorerTest {

    static final Path FIXTURE = Path.of("src/test/resources/fixtures/vit-reference");
    static final VitConfig CONFIG = new VitConfig("vit_reference", 16, 4, 3, 32, 2, 4, 64, 5, 1e-6, 0.0);

    static Map<String, NDArray> load(NDManager manager, String file) throws Exception {
        try (InputStream in = Files.newInputStream(FIXTURE.resolve(file))) {
            var out = new LinkedHashMap<String, NDArray>();
            for (NDArray a : NDList.decode(manager, in)) {
                out.put(a.getName(), a);
            }
            return out;
        }
    }

    static VisionTransformer referenceModel(NDManager manager) throws Exception {
        var model = VisionTransformer.create(manager, CONFIG, 1);
        try (StateDict dict = Checkpoints.read(FIXTURE.resolve("weights.safetensors"), manager)) {
            Checkpoints.load(model, dict, Checkpoints.HeadPolicy.LOAD);
        }
        return model;
    }

    @Test
    void scoresEqualTheSumOverBatchesOfSquaredBatchGradients() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = referenceModel(manager);
            Map<String, NDArray> ref = load(manager, "sensitivity.npz");
            NDArray x = ref.get("x");
            NDArray y = ref.get("labels");
            Map<String, double[]> sums;
            try (var scorer = new SensitivityScorer(model, manager)) {
                for (int b = 0; b < 4; b++) {
                    scorer.add(x.get(b * 3 + ":" + (b * 3 + 3)), y.get(b * 3 + ":" + (b * 3 + 3)), b, "batch " + b);
                }
                assertEquals(4, scorer.batches());
                sums = scorer.sums();
            }
            List<String> failures = new ArrayList<>();
            double scale = 0;
            for (var e : ref.entrySet()) {
                if (e.getKey().startsWith("score/")) {
                    scale = Math.max(scale, maxAbs(e.getValue().toDoubleArray()));
                }
            }
            for (TensorSpec t : model.space().tensors()) {
                double[] expected = ref.get("score/" + t.name()).toDoubleArray();
                if (!t.isScored()) {
                    assertTrue(!sums.containsKey(t.name()), t.name() + " is not scored by SPT");
                    continue;
                }
                double[] actual = sums.get(t.name());
                double maxRef = maxAbs(expected);
                double maxDiff = 0;
                for (int i = 0; i < actual.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
                }
                // the key bias's gradient vanishes exactly (softmax ignores shifts): compare on the model's scale
                double err = t.name().endsWith(".attn.k.bias") ? maxDiff / scale : maxDiff / maxRef;
                if (!(err < 1e-4)) {
                    failures.add(t.name() + " relative error " + err);
                }
            }
            assertEquals(List.of(), failures);
        }
    }

    @Test
    void aNonFiniteLossNamesTheBatch() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = referenceModel(manager);
            float[] w = model.parameter("blocks.1.mlp.fc2.bias").getArray().toFloatArray();
            w[3] = Float.NaN;
            org.sptspark.model.Tensors.assign(model.parameter("blocks.1.mlp.fc2.bias").getArray(), w);
            Map<String, NDArray> ref = load(manager, "sensitivity.npz");
            try (var scorer = new SensitivityScorer(model, manager)) {
                var e = assertThrows(IllegalStateException.class,
                        () -> scorer.add(ref.get("x").get("0:3"), ref.get("labels").get("0:3"), 0, "task 'toy', batch 7"));
                assertTrue(e.getMessage().contains("loss is NaN in task 'toy', batch 7"), e.getMessage());
            }
        }
    }

    private static double maxAbs(double[] v) {
        double m = 0;
        for (double d : v) {
            m = Math.max(m, Math.abs(d));
        }
        return m;
    }
}
