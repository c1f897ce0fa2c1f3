package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.BaseNDManager;
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
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java Swin Transformer against PyTorch: logits, loss and the gradient of every parameter,
 * computed by {@code swin_reference.py} in float64 from the same float32 weights and inputs; and
 * the model's checkpoints, presets and drop-path.
 */
class SwinTransformerReferenceTest {

    /** Our float32 arithmetic against PyTorch's float64: a relative error of 1e-4 or better is required. */
    private static final double TOLERANCE = 1e-4;

    static final Path DIR = Path.of("src/test/resources/fixtures/swin-reference");

    /**
     * The architecture the script uses: a 16x16 grid, windows of 4 shifted by 2 in stages 0 and 1
     * (16 and 4 windows), one window covering stage 2's 4x4 map.
     */
    static final SwinConfig CONFIG = new SwinConfig("swin_reference", 32, 2, 3, 4, List.of(2, 2, 2), List.of(1, 2, 4),
            4, 4, 5, 1e-5, 0.0);

    @Test
    void theReferenceConfigurationShiftsMergesAndCoversAMapWithOneWindow() {
        assertEquals(2, CONFIG.shift(0, 1));
        assertEquals(2, CONFIG.shift(1, 1));
        assertEquals(0, CONFIG.shift(2, 1));
        assertEquals(CONFIG.resolution(2), CONFIG.window(2));
    }

    @Test
    void logitsLossAndEveryGradientMatchPyTorchFromATimmCheckpointWithSavedBuffers() throws Exception {
        Path weights = DIR.resolve("weights.safetensors");
        // the file carries what older timm saved, which the loader must drop: the index buffers (I64), the masks
        var saved = CheckpointHeader.read(weights).tensors();
        assertEquals(CONFIG.totalDepth(), saved.stream()
                .filter(t -> t.name().endsWith(".attn.relative_position_index") && t.dtype().equals("I64")).count());
        assertEquals(2, saved.stream().filter(t -> t.name().endsWith(".attn_mask")).count());
        assertTrue(saved.stream().anyMatch(t -> t.name().endsWith(".attn.qkv.weight")));

        try (NDManager manager = NDManager.newBaseManager()) {
            var model = SwinTransformer.create(manager, CONFIG, 1);
            try (StateDict dict = Checkpoints.read(weights, manager)) {
                assertFalse(dict.tensors().keySet().stream().anyMatch(Checkpoints::isRebuiltBuffer));
                Checkpoints.load(model, dict, Checkpoints.HeadPolicy.LOAD);
            }
            Map<String, NDArray> ref = reference(manager);
            NDArray x = ref.get("x");
            NDArray labels = ref.get("labels");

            double lossValue;
            double[] logits;
            var store = new ParameterStore(manager, false);
            try (NDManager batch = manager.newSubManager();
                    GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                NDArray input = x.duplicate();
                input.attach(batch);
                var params = new PairList<String, Object>();
                params.add(VisionTransformer.DROP_PATH_SEED, 7L);
                NDArray out = model.forward(store, new NDList(input), true, params).head();
                assertEquals(new Shape(3, CONFIG.numClasses()), out.getShape());
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
            double scale = gradientScale(ref);
            for (String name : model.namedParameters().keySet()) {
                NDArray expected = ref.get("grad/" + name);
                assertTrue(expected != null, "the reference has no gradient for " + name);
                try (NDArray grad = model.parameter(name).getArray().getGradient()) {
                    double[] expectedValues = VitReference.doubles(expected);
                    double[] actual = VitReference.doubles(grad);
                    if (name.endsWith(".attn.k.bias")) {
                        // q.(k + b) adds the same q.b to every key's score of a query, and the position bias
                        // and mask do not depend on b: softmax ignores the shift, so dL/db_k is zero in exact
                        // arithmetic and both sides must be zero up to rounding
                        assertTrue(maxAbs(expectedValues) < 1e-12, "PyTorch's key-bias gradient should vanish");
                        assertTrue(maxAbs(actual) < TOLERANCE * scale, name + " should vanish");
                        continue;
                    }
                    assertTrue(maxAbs(expectedValues) > 0, "reference gradient of " + name + " is all zero");
                    double err = VitReference.relativeError(actual, expectedValues);
                    worst = Math.max(worst, err);
                    if (!(err < TOLERANCE)) {
                        failures.add(name + " relative error " + err);
                    }
                }
            }
            assertEquals(List.of(), failures, "gradients that differ from PyTorch (worst " + worst + ")");
            assertEquals(CONFIG.space().tensors().size(), model.namedParameters().size());
            assertEquals(ref.keySet().stream().filter(k -> k.startsWith("grad/")).count(),
                    model.namedParameters().size(), "one reference gradient per parameter");
        }
    }

    @Test
    void namedParametersAreTheSpaceInOrder() {
        var config = (SwinConfig) BackbonePresets.get("swin_tiny_patch4_window7_224");
        var model = new SwinTransformer(config); // not initialised: nothing allocated
        assertEquals(config.space().tensors().stream().map(TensorSpec::name).toList(),
                List.copyOf(model.namedParameters().keySet()));
    }

    @Test
    void aDemoCheckpointRoundTripsAndRefusesSwinTinyNamingItsPreset(@TempDir Path dir) throws IOException {
        var demo = (SwinConfig) BackbonePresets.get(BackbonePresets.SWIN_DEMO);
        Path file = dir.resolve("demo.safetensors");
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = SwinTransformer.create(manager, demo, 3);
            Checkpoints.write(model, file);
            try (StateDict dict = Checkpoints.read(file, manager)) {
                assertEquals(model.namedParameters().keySet(), dict.tensors().keySet());
                var copy = SwinTransformer.create(manager, demo, 4);
                Checkpoints.load(copy, dict, Checkpoints.HeadPolicy.LOAD);
                for (String name : model.namedParameters().keySet()) {
                    float[] expected = model.parameter(name).getArray().toFloatArray();
                    assertArrayBitsEqual(expected, dict.tensors().get(name).toFloatArray(), name);
                    assertArrayBitsEqual(expected, copy.parameter(name).getArray().toFloatArray(), name);
                }

                var tiny = (SwinConfig) BackbonePresets.get("swin_tiny_patch4_window7_224");
                var e = assertThrows(IllegalArgumentException.class,
                        () -> Checkpoints.load(new SwinTransformer(tiny), dict, Checkpoints.HeadPolicy.LOAD));
                assertTrue(e.getMessage().contains("preset " + BackbonePresets.SWIN_DEMO), e.getMessage());
                assertTrue(e.getMessage().contains(tiny.name()), e.getMessage());
            }
        }
    }

    @Test
    void theDemoPresetGivesOneRowOfLogitsPerImage() {
        var demo = (SwinConfig) BackbonePresets.get(BackbonePresets.SWIN_DEMO);
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = SwinTransformer.create(manager, demo, 5);
            int parameterArrays = ((BaseNDManager) manager).getManagedArrays().size();
            // the batch's own manager, not one under the model's, so what the forward leaves there shows
            try (NDManager batch = NDManager.newBaseManager()) {
                NDArray images = images(batch, 2, demo, 11);
                for (boolean training : new boolean[] {false, true}) {
                    NDArray logits = model.logits(new ParameterStore(manager, false), images, training, 0);
                    assertEquals(new Shape(2, 10), logits.getShape());
                    for (float v : logits.toFloatArray()) {
                        assertTrue(Float.isFinite(v));
                    }
                    assertEquals(batch, logits.getManager(), "the logits belong to the images' manager");
                }
                assertEquals(parameterArrays, ((BaseNDManager) manager).getManagedArrays().size(),
                        "no intermediate array is left in the parameters' manager");
            }
        }
    }

    @Test
    void dropPathMasksFollowTheSeedAloneInTraining() {
        var config = ((SwinConfig) BackbonePresets.get(BackbonePresets.SWIN_DEMO)).withDropPathRate(0.5);
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = SwinTransformer.create(manager, config, 6);
            var store = new ParameterStore(manager, false);
            try (NDManager batch = manager.newSubManager()) {
                NDArray images = images(batch, 4, config, 12);
                float[] a = model.logits(store, images, true, 42).toFloatArray();
                float[] b = model.logits(store, images, true, 42).toFloatArray();
                float[] c = model.logits(store, images, true, 43).toFloatArray();
                float[] eval1 = model.logits(store, images, false, 42).toFloatArray();
                float[] eval2 = model.logits(store, images, false, 43).toFloatArray();
                assertArrayEquals(a, b, "the same seed draws the same masks");
                assertFalse(java.util.Arrays.equals(a, c), "another seed draws other masks");
                assertFalse(java.util.Arrays.equals(a, eval1), "training drops paths");
                assertArrayEquals(eval1, eval2, "inference drops nothing");
            }
        }
    }

    private static NDArray images(NDManager manager, int n, SwinConfig c, long seed) {
        var random = new SplittableRandom(seed);
        float[] values = new float[n * c.inChannels() * c.imageSize() * c.imageSize()];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) VitInitializer.gaussian(random);
        }
        return Tensors.constant(manager, values, new Shape(n, c.inChannels(), c.imageSize(), c.imageSize()),
                manager.getDevice());
    }

    private static Map<String, NDArray> reference(NDManager manager) {
        try {
            return VitReference.read(DIR, manager);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void assertArrayBitsEqual(float[] expected, float[] actual, String name) {
        assertEquals(expected.length, actual.length, name);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                throw new AssertionError(name + "[" + i + "]: " + actual[i] + " is not " + expected[i]
                        + " bit for bit");
            }
        }
    }

    /** The largest gradient entry of the whole model in the reference. */
    private static double gradientScale(Map<String, NDArray> ref) {
        double m = 0;
        for (var e : ref.entrySet()) {
            if (e.getKey().startsWith("grad/")) {
                m = Math.max(m, maxAbs(VitReference.doubles(e.getValue())));
            }
        }
        return m;
    }

    private static double maxAbs(double[] values) {
        double m = 0;
        for (double v : values) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
