package org.sptspark.tuning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.lake.Digests;
import org.sptspark.modules.Unstructured;

/**
 * Trains a short seeded run twice in a fresh JVM and prints, for each, one SHA-256 over every
 * exported tensor, so that a test can compare runs made in one process and in separate ones.
 */
public final class DeterminismProbe {

    private DeterminismProbe() {}

    public static void main(String[] args) throws Exception {
        Path backbone = Path.of(args[0]);
        var data = TuningFixtures.generated(TrainerTest.KIND, "train", 96, 32, 5);
        var recipe = Recipe.builder().epochs(2).warmupEpochs(1).batchSize(32).evalEvery(0).seed(42).build();
        // twice in this JVM: the second run follows other work, as trainings do in a long-lived executor
        for (int run = 0; run < 2; run++) {
            System.out.println("DIGEST " + train(backbone, data, recipe));
        }
        System.exit(0);
    }

    private static String train(Path backbone, LabeledImages data, Recipe recipe) throws Exception {
        var digest = Digests.sha256();
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = TuningFixtures.loadBackbone(manager, backbone, TrainerTest.SMALL);
            try (var tuned = TunedModel.forTraining(model, TuningFixtures.mixed(model.space(), AllocationRule.Module.ADAPTER, 2),
                    recipe.seed(), Unstructured.DELTA)) {
                Trainer.train(tuned, data, recipe, null, null);
                for (NDArray a : tuned.export(manager)) {
                    digest.update(a.getName().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                    float[] values = a.toType(DataType.FLOAT32, false).toFloatArray();
                    ByteBuffer bytes = ByteBuffer.allocate(values.length * 4);
                    bytes.asFloatBuffer().put(values);
                    digest.update(bytes.array());
                }
            }
        }
        return java.util.HexFormat.of().formatHex(digest.digest());
    }
}
