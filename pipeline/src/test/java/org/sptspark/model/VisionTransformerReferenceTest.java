package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The Java ViT against PyTorch: logits, loss and the gradient of every parameter, computed by
 * {@code vit_reference.py} in float64 from the same float32 weights and inputs.
 */
class VisionTransformerReferenceTest {

    /** Our float32 arithmetic against PyTorch's float64: a relative error of 1e-4 or better is required. */
    private static final double TOLERANCE = 1e-4;

    @Test
    void logitsLossAndEveryGradientMatchPyTorchFromTimmSafetensors() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = VisionTransformer.create(manager, ReferenceFixture.CONFIG, 1);
            try (StateDict dict = Checkpoints.read(ReferenceFixture.file("weights.safetensors"), manager)) {
                Checkpoints.load(model, dict, Checkpoints.HeadPolicy.LOAD);
            }
            Map<String, NDArray> ref = ReferenceFixture.reference(manager);
            NDArray x = ref.get("x");
            NDArray labels = ref.get("labels");

            double lossValue;
            double[] logits;
            var store = new ParameterStore(manager, false);
            try (NDManager batch = manager.newSubManager();
                    GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                NDArray input = x.duplicate();
                input.attach(batch);
                NDArray out = model.forward(store, new NDList(input), true).head();
                NDArray loss = Loss.softmaxCrossEntropyLoss().evaluate(new NDList(labels), new NDList(out));
                collector.backward(loss);
                logits = ReferenceFixture.doubles(out);
                lossValue = loss.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).getDouble();
            }

            assertTrue(ReferenceFixture.relativeError(logits, ReferenceFixture.doubles(ref.get("logits"))) < TOLERANCE,
                    "logits differ from PyTorch");
            double expectedLoss = ref.get("loss").getDouble();
            assertEquals(expectedLoss, lossValue, TOLERANCE * Math.abs(expectedLoss), "mean cross-entropy");

            List<String> failures = new ArrayList<>();
            double worst = 0;
            for (String name : model.namedParameters().keySet()) {
                NDArray expected = ref.get("grad/" + name);
                assertTrue(expected != null, "the reference has no gradient for " + name);
                try (NDArray grad = model.parameter(name).getArray().getGradient()) {
                    double[] expectedValues = ReferenceFixture.doubles(expected);
                    double[] actual = ReferenceFixture.doubles(grad);
                    if (name.endsWith(".attn.k.bias")) {
                        // q.(k + b) adds the same q.b to every key's score and softmax ignores shifts, so
                        // dL/db_k is zero in exact arithmetic: both sides must be zero up to rounding
                        assertTrue(maxAbs(expectedValues) < 1e-12, "PyTorch's key-bias gradient should vanish");
                        assertTrue(maxAbs(actual) < TOLERANCE * gradientScale(ref), name + " should vanish");
                        continue;
                    }
                    assertTrue(maxAbs(expectedValues) > 0, "reference gradient of " + name + " is all zero");
                    double err = ReferenceFixture.relativeError(actual, expectedValues);
                    worst = Math.max(worst, err);
                    if (!(err < TOLERANCE)) {
                        failures.add(name + " relative error " + err);
                    }
                }
            }
            assertEquals(List.of(), failures, "gradients that differ from PyTorch (worst " + worst + ")");
            assertEquals(ReferenceFixture.CONFIG.depth() * 16 + 8, model.namedParameters().size());
        }
    }

    @Test
    void googleNpzCheckpointGivesTheSameLogits() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = VisionTransformer.create(manager, ReferenceFixture.CONFIG, 1);
            try (StateDict dict = Checkpoints.read(ReferenceFixture.file("weights_google.npz"), manager)) {
                assertEquals(Checkpoints.Format.NPZ, dict.format());
                Checkpoints.load(model, dict, Checkpoints.HeadPolicy.LOAD);
            }
            Map<String, NDArray> ref = ReferenceFixture.reference(manager);
            double[] logits = logits(model, manager, ref.get("x"));
            assertTrue(ReferenceFixture.relativeError(logits, ReferenceFixture.doubles(ref.get("logits"))) < TOLERANCE);
        }
    }

    @Test
    void halfPrecisionCheckpointsLoadAsTheirExactFloat32Widening() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            var f32 = VisionTransformer.create(manager, ReferenceFixture.CONFIG, 1);
            try (StateDict dict = Checkpoints.read(ReferenceFixture.file("weights.safetensors"), manager)) {
                Checkpoints.load(f32, dict, Checkpoints.HeadPolicy.LOAD);
            }
            for (String file : List.of("weights_f16.safetensors", "weights_bf16.safetensors")) {
                var half = VisionTransformer.create(manager, ReferenceFixture.CONFIG, 2);
                try (StateDict dict = Checkpoints.read(ReferenceFixture.file(file), manager)) {
                    Checkpoints.load(half, dict, Checkpoints.HeadPolicy.LOAD);
                }
                boolean bf16 = file.contains("bf16");
                // F16 keeps 11 significant bits, BF16 8: round-to-nearest errs by at most half an ulp
                double bound = bf16 ? Math.scalb(1.0, -8) : Math.scalb(1.0, -11);
                for (String name : f32.namedParameters().keySet()) {
                    float[] exact = f32.parameter(name).getArray().toFloatArray();
                    float[] loaded = half.parameter(name).getArray().toFloatArray();
                    for (int i = 0; i < exact.length; i++) {
                        double tolerance = bound * Math.abs(exact[i]) + (bf16 ? 0 : 6e-8);
                        assertTrue(Math.abs(loaded[i] - exact[i]) <= tolerance,
                                file + " " + name + "[" + i + "]: " + loaded[i] + " vs " + exact[i]);
                        if (bf16) {
                            assertEquals(0, Float.floatToRawIntBits(loaded[i]) & 0xffff,
                                    "a BF16 value widens to an F32 with zero low half");
                        }
                    }
                }
            }
        }
    }

    static double[] logits(VisionTransformer model, NDManager manager, NDArray x) {
        try (NDManager batch = manager.newSubManager()) {
            NDArray input = x.duplicate();
            input.attach(batch);
            return ReferenceFixture.doubles(model.forward(new ParameterStore(manager, false), new NDList(input), false).head());
        }
    }

    /** The largest gradient entry of the whole model in the reference. */
    private static double gradientScale(Map<String, NDArray> ref) {
        double m = 0;
        for (var e : ref.entrySet()) {
            if (e.getKey().startsWith("grad/")) {
                m = Math.max(m, maxAbs(ReferenceFixture.doubles(e.getValue())));
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
