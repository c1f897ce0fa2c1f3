package org.sptspark.jobs;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import org.sptspark.allocation.AllocationRule;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.bench.TrainingBenchmark;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.VitConfig;
import org.sptspark.modules.TensorNames;
import org.sptspark.modules.Trainable;
import org.sptspark.snella.Kernel;
import org.sptspark.tuning.TunedModel;

/**
 * The JSON a {@link PeerServer} sets a workload up from, so that the peer does our work: the
 * architecture, the batch, and for a training row our layout tensor by tensor (frozen, whole,
 * SPT's sparse entries with their flat indices, LoRA or Adapter with its rank, SNELLA with its
 * rank and the entries each matrix keeps) and our
 * trainables with their weight-decay flags.
 */
final class PeerSpec {

    private PeerSpec() {}

    /** {@code spt bench model}'s workload: forward+backward, every parameter trainable. */
    static JsonObject model(VitConfig config, int batch) {
        return base("model", config, batch);
    }

    /** One batch of SPT's sensitivity scoring over the tensors SPT scores. */
    static JsonObject sensitivity(VitConfig config, int batch) {
        JsonObject spec = base("sensitivity", config, batch);
        JsonArray scored = new JsonArray();
        for (TensorSpec t : ParameterSpace.of(config).tensors()) {
            if (t.isScored()) {
                scored.add(t.name());
            }
        }
        spec.add("scored", scored);
        return spec;
    }

    /** One training step of our row: its layout and trainables. */
    static JsonObject training(TrainingBenchmark.Workload w) {
        JsonObject spec = base("train", (VitConfig) w.config(), (int) w.images().getShape().get(0)); // the peer is a ViT
        spec.addProperty("method", w.method());
        spec.addProperty("lr", TrainingBenchmark.LR);
        spec.addProperty("weightDecay", TrainingBenchmark.WEIGHT_DECAY);
        spec.addProperty("moduleDropout", (double) TunedModel.MODULE_DROPOUT);
        spec.addProperty("moduleDropPath", TunedModel.MODULE_DROP_PATH);
        JsonArray tensors = new JsonArray();
        for (Map.Entry<String, TensorDecision> e : w.layout().decisions().entrySet()) {
            JsonObject t = new JsonObject();
            t.addProperty("name", e.getKey());
            TensorDecision d = e.getValue();
            if (d instanceof TensorDecision.Frozen) {
                t.addProperty("decision", "frozen");
            } else if (d instanceof TensorDecision.Whole) {
                t.addProperty("decision", "whole");
            } else if (d instanceof TensorDecision.Sparse s) {
                t.addProperty("decision", "sparse");
                JsonArray idx = new JsonArray();
                for (int i : s.indices()) {
                    idx.add(i);
                }
                t.add("indices", idx);
            } else if (d instanceof TensorDecision.Structured s) {
                t.addProperty("decision", s.module() == AllocationRule.Module.LORA ? "lora" : "adapter");
                t.addProperty("rank", s.rank());
            } else if (d instanceof TensorDecision.Kernelized k) {
                t.addProperty("decision", "snella");
                t.addProperty("rank", k.rank());
                t.addProperty("heads", Kernel.HEADS);
                t.addProperty("keep", kept(w).get(e.getKey()));
            } else {
                throw new IllegalArgumentException("no peer form for " + d);
            }
            tensors.add(t);
        }
        spec.add("tensors", tensors);
        JsonArray trainables = new JsonArray();
        for (Trainable t : w.tuned().trainables()) {
            JsonObject o = new JsonObject();
            o.addProperty("name", t.name());
            o.add("shape", new Gson().toJsonTree(t.value().getShape().getShape()));
            o.addProperty("decay", t.decay());
            o.addProperty("masked", t.mask() != null);
            trainables.add(o);
        }
        spec.add("trainables", trainables);
        return spec;
    }

    /**
     * The entries each SNELLA matrix keeps now, as the competition set them: the length of the
     * sparse delta it exports.
     */
    private static Map<String, Long> kept(TrainingBenchmark.Workload w) {
        var out = new java.util.HashMap<String, Long>();
        try (NDManager scratch = NDManager.newBaseManager()) {
            for (NDArray a : w.tuned().export(scratch)) {
                if (a.getName().endsWith(TensorNames.DELTA_INDEX)) {
                    out.put(a.getName().substring(0, a.getName().length() - TensorNames.DELTA_INDEX.length()), a.size());
                }
            }
        }
        return out;
    }

    /**
     * Writes our row's weights for the peer to load (safetensors): every backbone parameter by
     * timm name, with SPT's sparse delta (trained here as a delta) added into its matrix, since the
     * peer trains sparse entries in the matrix itself; every module tensor by its artifact name;
     * and the row's batch as {@code input.images} and {@code input.labels}.
     */
    static void writeWeights(TrainingBenchmark.Workload w, Path file) throws IOException {
        try (NDManager scratch = NDManager.newBaseManager()) {
            NDList list = new NDList();
            var params = w.model().namedParameters();
            Map<String, NDArray> trainables = new java.util.HashMap<>();
            for (Trainable t : w.tuned().trainables()) {
                trainables.put(t.name(), t.value());
            }
            for (var e : params.entrySet()) {
                String name = e.getKey();
                NDArray value = e.getValue().getArray().toDevice(Device.cpu(), true);
                value.attach(scratch);
                TensorDecision d = name.startsWith("head.") ? null : w.layout().decision(name);
                NDArray delta = trainables.get(name + TensorNames.DELTA_VALUE);
                if (d instanceof TensorDecision.Sparse s && delta != null) {
                    float[] weight = value.toFloatArray();
                    float[] dv = delta.toFloatArray();
                    int[] idx = s.indices();
                    for (int i = 0; i < idx.length; i++) {
                        weight[idx[i]] += dv[i];
                    }
                    value = scratch.create(weight, value.getShape());
                }
                value.setName(name);
                list.add(value);
            }
            var seen = new HashSet<>(params.keySet());
            for (Trainable t : w.tuned().trainables()) {
                if (seen.add(t.name()) && !t.name().endsWith(TensorNames.DELTA_VALUE)) {
                    NDArray copy = t.value().toDevice(Device.cpu(), true);
                    copy.attach(scratch);
                    copy.setName(t.name());
                    list.add(copy);
                }
            }
            NDArray images = w.images().toDevice(Device.cpu(), true);
            images.attach(scratch);
            images.setName("input.images");
            list.add(images);
            NDArray labels = w.labels().toDevice(Device.cpu(), true);
            labels.attach(scratch);
            labels.setName("input.labels");
            list.add(labels);
            try (OutputStream out = Files.newOutputStream(file)) {
                list.encode(out, NDList.Encoding.SAFETENSORS);
            }
        }
    }

    /** Writes a spec to a temporary file for {@code setup}. */
    static Path write(JsonObject spec) throws IOException {
        Path file = Files.createTempFile("spt-peer-spec-", ".json");
        Files.writeString(file, new Gson().toJson(spec));
        return file;
    }

    private static JsonObject base(String workload, VitConfig config, int batch) {
        JsonObject spec = new JsonObject();
        spec.addProperty("workload", workload);
        spec.add("config", config.toJson());
        spec.addProperty("batch", batch);
        spec.addProperty("seed", 0);
        return spec;
    }
}
