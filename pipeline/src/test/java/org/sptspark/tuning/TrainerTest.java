package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.Test;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;

class TrainerTest {

    static final VitConfig SMALL = new VitConfig("vit_small_test", 32, 8, 3, 48, 3, 3, 96, 8, 1e-6, 0.1);

    @Test
    void learns() {
        var kind = StructuredTaskGenerator.Kind.CLEVR_COUNT;
        var train = TuningFixtures.generated(kind, "train", 800, 32, 1);
        var test = TuningFixtures.generated(kind, "test", 300, 32, 1);
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = VisionTransformer.create(manager, SMALL.withNumClasses(kind.classes), 7);
            var layout = TuningFixtures.mixed(model.space(), AllocationRule.Module.LORA, 4);
            try (var tuned = TunedModel.forTraining(model, layout, 3, TunedModel.Unstructured.DELTA)) {
                int[] all = java.util.stream.IntStream.range(0, test.count()).toArray();
                var recipe = new Recipe(25, 64, 3e-3, 1e-4, 2, 1e-6, 1e-5, 0.1, 5, 0);
                var result = Trainer.train(tuned, train, recipe, () -> eval(tuned, test), e -> System.out.println(e));
                System.out.println(result.seconds() + " s " + result.optimizerStateBytes());
                assertTrue(true);
            }
        }
    }

    static Accuracy eval(TunedModel tuned, LabeledImages data) {
        var acc = Accuracy.empty(tuned.model().config().numClasses());
        var batches = new java.util.ArrayList<org.sptspark.data.ImageBatch>();
        int[] order = java.util.stream.IntStream.range(0, data.count()).toArray();
        for (int from = 0; from < data.count(); from += 100) {
            int to = Math.min(data.count(), from + 100);
            float[] px = new float[(to - from) * 3 * data.size() * data.size()];
            for (int i = from; i < to; i++) {
                System.arraycopy(data.pixels()[i], 0, px, (i - from) * data.pixels()[i].length, data.pixels()[i].length);
            }
            batches.add(new org.sptspark.data.ImageBatch(data.size(), px, data.labels(order, from, to), new long[to - from]));
        }
        return Trainer.evaluate(tuned, batches, tuned.model().config().numClasses());
    }
}
