package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import ai.djl.util.PairList;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java ConvNeXt against PyTorch: logits, loss and the gradient of every parameter, computed by
 * {@code convnext_reference.py} in float64 from the same float32 weights and inputs; and its
 * checkpoints, presets and drop-path.
 */
class ConvNextReferenceTest {

    /** Our float32 arithmetic against PyTorch's float64: a relative error of 1e-4 or better is required. */
    private static final double TOLERANCE = 1e-4;

    static final Path DIR = Path.of("src/test/resources/fixtures/convnext-reference");

    /** The architecture {@code convnext_reference.py} uses. */
    static final ConvNextConfig CONFIG = new ConvNextConfig("convnext_reference", 32, 4, 3, List.of(1, 2, 1),
            List.of(8, 16, 24), 7, 4, 5, 1e-6, 0.0);

    @TempDir
    Path dir;

    @Test
    void logitsLossAndEveryGradientMatchPyTorch() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = ConvNext.create(manager, CONFIG, 1);
            try (StateDict dict = Checkpoints.read(DIR.resolve("weights.safetensors"), manager)) {
                Checkpoints.load(model, dict, Checkpoints.HeadPolicy.LOAD);
            }
            Map<String, NDArray> ref = VitReference.read(DIR, manager);
            NDArray labels = ref.get("labels");

            double lossValue;
            double[] logits;
            var store = new ParameterStore(manager, false);
            try (NDManager batch = manager.newSubManager();
                    GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                NDArray input = ref.get("x").duplicate();
                input.attach(batch);
                // training mode, drop-path 0: the function PyTorch computed
                NDArray out = model.forward(store, new NDList(input), true).head();
                assertEquals(new Shape(3, 5), out.getShape());
                NDArray loss = Loss.softmaxCrossEntropyLoss().evaluate(new NDList(labels), new NDList(out));
                collector.backward(loss);
                logits = VitReference.doubles(out);
                lossValue = loss.toType(DataType.FLOAT64, false).getDouble();
            }

            double logitError = VitReference.relativeError(logits, VitReference.doubles(ref.get("logits")));
            assertTrue(logitError < TOLERANCE, "logits differ from PyTorch: relative error " + logitError);
            double expectedLoss = ref.get("loss").getDouble();
            assertEquals(expectedLoss, lossValue, TOLERANCE * Math.abs(expectedLoss), "mean cross-entropy");

            List<String> failures = new ArrayList<>();
            double worst = 0;
            for (String name : model.namedParameters().keySet()) {
                NDArray expected = ref.get("grad/" + name);
                assertTrue(expected != null, "the reference has no gradient for " + name);
                try (NDArray grad = model.parameter(name).getArray().getGradient()) {
                    double[] expectedValues = VitReference.doubles(expected);
                    assertTrue(maxAbs(expectedValues) > 1e-3, "reference gradient of " + name + " is uninformative");
                    double err = VitReference.relativeError(VitReference.doubles(grad), expectedValues);
                    worst = Math.max(worst, err);
                    if (!(err < TOLERANCE)) {
                        failures.add(name + " relative error " + err);
                    }
                }
            }
            assertEquals(List.of(), failures, "gradients that differ from PyTorch (worst " + worst + ")");
            assertEquals(ref.keySet().stream().filter(k -> k.startsWith("grad/")).count(),
                    model.namedParameters().size(), "a gradient for every parameter and no more");
        }
    }

    @Test
    void parametersAreTheParameterSpaceInOrder() {
        var model = new ConvNext(CONFIG);
        assertEquals(CONFIG.space().tensors().stream().map(TensorSpec::name).toList(),
                List.copyOf(model.namedParameters().keySet()));
        for (TensorSpec t : CONFIG.space().tensors()) {
            assertEquals(t.shape(), model.parameter(t.name()).getShape(), t.name());
        }
    }

    @Test
    void demoCheckpointReadsBackBitIdenticalAndRefusesAnotherPreset() throws IOException {
        var demo = (ConvNextConfig) BackbonePresets.get(BackbonePresets.CONVNEXT_DEMO);
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = ConvNext.create(manager, demo, 42);
            Path file = dir.resolve("demo.safetensors");
            Checkpoints.write(model, file);

            var copy = ConvNext.create(manager, demo, 7);
            assertFalse(same(model, copy, "stages.3.blocks.1.mlp.fc2.weight"), "two seeds, two initialisations");
            try (StateDict dict = Checkpoints.read(file, manager)) {
                assertEquals(demo.space().tensors().stream().map(TensorSpec::name).collect(Collectors.toSet()),
                        dict.tensors().keySet(), "timm's names, each once");
                Checkpoints.load(copy, dict, Checkpoints.HeadPolicy.LOAD);

                var tiny = new ConvNext((ConvNextConfig) BackbonePresets.get("convnext_tiny"));
                var e = assertThrows(IllegalArgumentException.class,
                        () -> Checkpoints.load(tiny, dict, Checkpoints.HeadPolicy.LOAD));
                assertTrue(e.getMessage().contains("preset " + BackbonePresets.CONVNEXT_DEMO), e.getMessage());
                assertTrue(e.getMessage().contains("convnext_tiny"), e.getMessage());
            }
            for (String name : model.namedParameters().keySet()) {
                assertTrue(same(model, copy, name), name + " differs after the round trip");
            }
        }
    }

    @Test
    void missingAndMisshapenTensorsAreRefusedByName() throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = ConvNext.create(manager, CONFIG, 1);
            try (StateDict full = Checkpoints.read(DIR.resolve("weights.safetensors"), manager)) {
                var missing = new LinkedHashMap<>(full.tensors());
                missing.remove("stages.1.blocks.1.gamma");
                var e = assertThrows(IllegalArgumentException.class, () -> Checkpoints.load(model,
                        new StateDict(missing, "missing.safetensors", Checkpoints.Format.SAFETENSORS, ""),
                        Checkpoints.HeadPolicy.LOAD));
                assertTrue(e.getMessage().contains("missing tensor 'stages.1.blocks.1.gamma'"), e.getMessage());

                var misshapen = new LinkedHashMap<>(full.tensors());
                misshapen.put("stages.2.blocks.0.conv_dw.weight", manager.zeros(new Shape(24, 1, 5, 5)));
                e = assertThrows(IllegalArgumentException.class, () -> Checkpoints.load(model,
                        new StateDict(misshapen, "misshapen.safetensors", Checkpoints.Format.SAFETENSORS, ""),
                        Checkpoints.HeadPolicy.LOAD));
                assertTrue(e.getMessage().contains("'stages.2.blocks.0.conv_dw.weight' has shape (24, 1, 5, 5)"),
                        e.getMessage());
                assertTrue(e.getMessage().contains("expects (24, 1, 7, 7)"), e.getMessage());
            }
        }
    }

    @Test
    void demoPresetRunsForward() {
        var demo = (ConvNextConfig) BackbonePresets.get(BackbonePresets.CONVNEXT_DEMO);
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = ConvNext.create(manager, demo, 3);
            try (NDManager batch = manager.newSubManager()) {
                NDArray images = batch.randomNormal(new Shape(2, 3, 32, 32));
                NDArray logits = model.logits(new ParameterStore(manager, false), images, false, 0);
                assertEquals(new Shape(2, 10), logits.getShape());
                for (float v : logits.toFloatArray()) {
                    assertTrue(Float.isFinite(v));
                }
                assertEquals(batch, logits.getManager(), "activations belong to the images' manager");
            }
        }
    }

    @Test
    void dropPathMasksDependOnTheSeedAlone() throws IOException {
        var config = CONFIG.withDropPathRate(0.5);
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = ConvNext.create(manager, config, 1);
            try (StateDict dict = Checkpoints.read(DIR.resolve("weights.safetensors"), manager)) {
                Checkpoints.load(model, dict, Checkpoints.HeadPolicy.LOAD);
            }
            NDArray x = VitReference.read(DIR, manager).get("x");
            float[] a = logits(model, manager, x, true, 11);
            float[] b = logits(model, manager, x, true, 11);
            float[] c = logits(model, manager, x, true, 12);
            float[] eval = logits(model, manager, x, false, 11);
            assertArrayEquals(a, b, "the same seed, the same masks");
            assertFalse(java.util.Arrays.equals(a, c), "another seed, other masks");
            assertFalse(java.util.Arrays.equals(a, eval), "drop-path is active in training");
            assertArrayEquals(eval, logits(model, manager, x, false, 12), "and only in training");
        }
    }

    private static float[] logits(ConvNext model, NDManager manager, NDArray x, boolean training, long seed) {
        try (NDManager batch = manager.newSubManager()) {
            NDArray input = x.duplicate();
            input.attach(batch);
            var params = new PairList<String, Object>();
            params.add(VisionTransformer.DROP_PATH_SEED, seed);
            return model.forward(new ParameterStore(manager, false), new NDList(input), training, params).head()
                    .toFloatArray();
        }
    }

    private static boolean same(ConvNext a, ConvNext b, String name) {
        float[] x = a.parameter(name).getArray().toFloatArray();
        float[] y = b.parameter(name).getArray().toFloatArray();
        if (x.length != y.length) {
            return false;
        }
        for (int i = 0; i < x.length; i++) {
            if (Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i])) {
                return false;
            }
        }
        return true;
    }

    private static double maxAbs(double[] values) {
        double m = 0;
        for (double v : values) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
