package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.stream.IntStream;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.data.ImageDecoder;
import org.sptspark.data.ImagePreprocessor;
import org.sptspark.data.Normalization;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.VtabWriter;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.StateDict;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;

/** Layouts and generated data shared by the tuning tests. */
final class TuningFixtures {

    private TuningFixtures() {}

    /**
     * An SPT-like layout touching every kind of decision: sparse entries in a matrix and a
     * LayerNorm weight, LoRA or Adapter on two matrices, a whole bias, the class token.
     */
    static TuningLayout mixed(ParameterSpace space, AllocationRule.Module module, int rank) {
        var map = new LinkedHashMap<String, TensorDecision>();
        for (TensorSpec t : space.tensors()) {
            if (!t.name().startsWith("head.")) {
                map.put(t.name(), new TensorDecision.Frozen());
            }
        }
        TensorSpec q = space.get("blocks.0.attn.q.weight");
        map.put(q.name(), new TensorDecision.Sparse(IntStream.iterate(3, i -> i < q.size(), i -> i + 37).toArray()));
        map.put("blocks.1.norm2.weight", new TensorDecision.Sparse(new int[] {1, 7, 8}));
        for (String name : List.of("blocks.0.attn.v.weight", "blocks.1.mlp.fc1.weight", "blocks.1.attn.proj.weight")) {
            TensorSpec t = space.get(name);
            map.put(name, new TensorDecision.Structured(module, rank, module.cost(rank, t.rows(), t.cols())));
        }
        map.put("blocks.0.norm1.bias", new TensorDecision.Whole(space.get("blocks.0.norm1.bias").size()));
        map.put("cls_token", new TensorDecision.Whole(space.get("cls_token").size()));
        var method = module == AllocationRule.Module.LORA ? Method.SPT_LORA : Method.SPT_ADAPTER;
        return new TuningLayout(method, map, rank, "test-plan", "test", 0);
    }

    /** {@code n} generated images of a part, preprocessed as the pipeline does. */
    static LabeledImages generated(StructuredTaskGenerator.Kind kind, String part, int n, int size, long seed) {
        var gen = new StructuredTaskGenerator(kind, size, seed);
        float[][] pixels = new float[n][];
        long[] labels = new long[n];
        IntStream.range(0, n).parallel().forEach(i -> {
            var item = gen.item(part, i);
            pixels[i] = ImagePreprocessor.toTensor(ImageDecoder.decode(VtabWriter.png(item.image()), part + i), size,
                    Normalization.IMAGENET);
            labels[i] = item.label();
        });
        return new LabeledImages(size, pixels, labels);
    }

    /** A randomly initialised backbone of {@code config} written to {@code file} as safetensors. */
    static Path writeBackbone(Path file, VitConfig config, long seed) throws IOException {
        try (NDManager scratch = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(scratch, config, seed), file);
        }
        return file;
    }

    /** The backbone at {@code file} in a new model of {@code config} in {@code manager}, its head dropped. */
    static VisionTransformer loadBackbone(NDManager manager, Path file, VitConfig config) throws IOException {
        var model = VisionTransformer.create(manager, config, 0);
        try (StateDict dict = Checkpoints.read(file, manager)) {
            Checkpoints.load(model, dict, Checkpoints.HeadPolicy.DROP);
        }
        return model;
    }

    /**
     * Asserts that the merged checkpoint at {@code merged}, loaded into a plain model, gives the
     * tuned model's evaluation logits on the first 64 test images (within 1e-5).
     */
    static void assertMergedGivesTheTunedLogits(TunedModel tuned, Path merged, LabeledImages test, NDManager manager)
            throws IOException {
        NDArray x = test.images(IntStream.range(0, 64).toArray(), 0, 64, manager);
        float[] expected;
        try (NDManager step = manager.newSubManager()) {
            NDArray xs = x.duplicate();
            xs.attach(step);
            expected = tuned.forward(xs, false, 0).toFloatArray();
        }
        try (NDManager other = NDManager.newBaseManager(); StateDict dict = Checkpoints.read(merged, other)) {
            var plain = org.sptspark.model.Backbones.create(other, tuned.model().config(), 0);
            Checkpoints.load(plain, dict, Checkpoints.HeadPolicy.LOAD);
            NDArray xo = other.create(x.toFloatArray(), x.getShape());
            float[] actual = plain.logits(new ParameterStore(other, false), xo, false, 0).toFloatArray();
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], actual[i], 1e-5, "logit " + i);
            }
        }
    }
}
