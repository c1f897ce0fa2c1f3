package org.sptspark.allocation;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Locale;
import org.sptspark.lake.Digests;
import org.sptspark.model.TensorRole;

/**
 * The versioned JSON form of a {@link TuningPlan}, which the trainer reads.
 *
 * <pre>{@code
 * {"format": "spt-plan", "version": 1, "id": "<sha256 of the document without this field>",
 *  "backbone": "vit_base_patch16_224", "numClasses": 100, "scores": "<scores id>",
 *  "rule": {"module": "lora", "rank": 8, "alpha": 10.0, "beta": 5.0, "mode": "mixed", "structuredVectors": true},
 *  "budget": {"label": "0.4M", "target": 400000, "achieved": 401234, "k": 61234},
 *  "totals": {"unstructured": 33000, "structured": 350000, "whole": 17466, "clsToken": 768, "head": 76900},
 *  "tensors": [{"name": "blocks.0.attn.q.weight", "block": 0, "operation": "q", "role": "matrix",
 *               "countInTopK": 12, "decision": "unstructured", "trainable": 12,
 *               "indices": "<base64 of LEB128 varints of the gaps between increasing flat indices>"},
 *              {"name": "blocks.3.mlp.fc1.weight", ..., "decision": "lora", "rank": 8, "trainable": 30720}, ...]}
 * }</pre>
 *
 * Every scored tensor appears, frozen ones too, so the plan alone describes the allocation.
 */
public final class PlanJson {

    public static final String FORMAT = "spt-plan";
    public static final int VERSION = 1;

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();

    private PlanJson() {}

    /** The plan's document, with its id. */
    public static String write(TuningPlan plan) {
        JsonObject body = body(plan);
        var doc = new JsonObject();
        doc.addProperty("format", FORMAT);
        doc.addProperty("version", VERSION);
        doc.addProperty("id", id(body));
        body.entrySet().forEach(e -> doc.add(e.getKey(), e.getValue()));
        return GSON.toJson(doc) + "\n";
    }

    /** The plan's id: SHA-256 of its canonical content. Equal plans have equal ids. */
    public static String id(TuningPlan plan) {
        return id(body(plan));
    }

    private static String id(JsonObject body) {
        return Digests.sha256Hex(body.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static JsonObject body(TuningPlan plan) {
        var o = new JsonObject();
        o.addProperty("backbone", plan.backbone());
        o.addProperty("numClasses", plan.numClasses());
        o.addProperty("scores", plan.scoresId());
        var rule = new JsonObject();
        rule.addProperty("module", plan.rule().module().id());
        rule.addProperty("rank", plan.rule().rank());
        rule.addProperty("alpha", plan.rule().alpha());
        rule.addProperty("beta", plan.rule().beta());
        rule.addProperty("mode", plan.rule().mode().name().toLowerCase(Locale.ROOT));
        rule.addProperty("structuredVectors", plan.rule().structuredVectors());
        o.add("rule", rule);
        var budget = new JsonObject();
        budget.addProperty("label", plan.budget().label());
        budget.addProperty("target", plan.budget().target());
        budget.addProperty("achieved", plan.totals().achieved());
        budget.addProperty("k", plan.k());
        o.add("budget", budget);
        var totals = new JsonObject();
        totals.addProperty("unstructured", plan.totals().unstructured());
        totals.addProperty("structured", plan.totals().structured());
        totals.addProperty("whole", plan.totals().whole());
        totals.addProperty("clsToken", plan.totals().clsToken());
        totals.addProperty("head", plan.totals().head());
        o.add("totals", totals);
        var tensors = new JsonArray();
        for (TuningPlan.Entry e : plan.entries()) {
            var t = new JsonObject();
            t.addProperty("name", e.name());
            t.addProperty("block", e.block());
            t.addProperty("operation", e.operation());
            t.addProperty("role", e.role().name().toLowerCase(Locale.ROOT));
            t.addProperty("countInTopK", e.countInTopK());
            t.addProperty("decision", e.decision().kind());
            t.addProperty("trainable", e.decision().trainable());
            if (e.decision() instanceof TensorDecision.Structured s) {
                t.addProperty("rank", s.rank());
            } else if (e.decision() instanceof TensorDecision.Sparse s) {
                t.addProperty("indices", encodeIndices(s.indices()));
            }
            tensors.add(t);
        }
        o.add("tensors", tensors);
        return o;
    }

    /**
     * Reads a plan document, checking its format, version, id and totals.
     *
     * @param source where it came from, for messages
     */
    public static TuningPlan read(String json, String source) {
        try {
            JsonObject doc = JsonParser.parseString(json).getAsJsonObject();
            if (!doc.has("format") || !FORMAT.equals(doc.get("format").getAsString())) {
                throw new IllegalArgumentException(source + " is not a tuning plan (no \"format\": \"" + FORMAT + "\")");
            }
            int version = doc.get("version").getAsInt();
            if (version != VERSION) {
                throw new IllegalArgumentException(source + " is plan format version " + version + "; this build reads "
                        + VERSION);
            }
            JsonObject r = doc.getAsJsonObject("rule");
            var rule = new AllocationRule(
                    AllocationRule.Module.valueOf(r.get("module").getAsString().toUpperCase(Locale.ROOT)),
                    r.get("rank").getAsInt(), r.get("alpha").getAsDouble(), r.get("beta").getAsDouble(),
                    AllocationRule.Mode.valueOf(r.get("mode").getAsString().toUpperCase(Locale.ROOT)),
                    r.get("structuredVectors").getAsBoolean());
            JsonObject b = doc.getAsJsonObject("budget");
            var budget = new Budget(b.get("label").getAsString(), b.get("target").getAsLong());
            var entries = new ArrayList<TuningPlan.Entry>();
            for (var element : doc.getAsJsonArray("tensors")) {
                JsonObject t = element.getAsJsonObject();
                String kind = t.get("decision").getAsString();
                long trainable = t.get("trainable").getAsLong();
                TensorDecision decision = switch (kind) {
                    case "frozen" -> new TensorDecision.Frozen();
                    case "unstructured" -> new TensorDecision.Sparse(decodeIndices(t.get("indices").getAsString()));
                    case "whole" -> new TensorDecision.Whole(trainable);
                    case "lora", "adapter" -> new TensorDecision.Structured(
                            AllocationRule.Module.valueOf(kind.toUpperCase(Locale.ROOT)), t.get("rank").getAsInt(), trainable);
                    default -> throw new IllegalArgumentException(source + ": unknown decision '" + kind + "' for "
                            + t.get("name").getAsString());
                };
                if (decision.trainable() != trainable) {
                    throw new IllegalArgumentException(source + ": tensor " + t.get("name").getAsString() + " says "
                            + trainable + " trainable but its indices hold " + decision.trainable());
                }
                entries.add(new TuningPlan.Entry(t.get("name").getAsString(), t.get("block").getAsInt(),
                        t.get("operation").getAsString(), TensorRole.valueOf(t.get("role").getAsString().toUpperCase(Locale.ROOT)),
                        t.get("countInTopK").getAsLong(), decision));
            }
            JsonObject tot = doc.getAsJsonObject("totals");
            var totals = new TuningPlan.Totals(tot.get("unstructured").getAsLong(), tot.get("structured").getAsLong(),
                    tot.get("whole").getAsLong(), tot.get("clsToken").getAsLong(), tot.get("head").getAsLong());
            var plan = new TuningPlan(doc.get("backbone").getAsString(), doc.get("numClasses").getAsInt(),
                    doc.get("scores").getAsString(), rule, budget, b.get("k").getAsLong(), entries, totals);
            String id = doc.get("id").getAsString();
            if (!id.equals(id(plan))) {
                throw new IllegalArgumentException(source + ": the plan's content does not match its id " + id
                        + " (edited or corrupted)");
            }
            return plan;
        } catch (JsonParseException | IllegalStateException | NullPointerException | UnsupportedOperationException e) {
            throw new IllegalArgumentException(source + " is not a valid plan document: " + e.getMessage(), e);
        }
    }

    /** Increasing indices as LEB128 varints of their gaps (the first gap from -1), base64. */
    static String encodeIndices(int[] indices) {
        var out = new ByteArrayOutputStream(indices.length * 2);
        int previous = -1;
        for (int index : indices) {
            int gap = index - previous - 1;
            previous = index;
            while ((gap & ~0x7f) != 0) {
                out.write(gap & 0x7f | 0x80);
                gap >>>= 7;
            }
            out.write(gap);
        }
        return Base64.getEncoder().encodeToString(out.toByteArray());
    }

    static int[] decodeIndices(String text) {
        ByteBuffer in = ByteBuffer.wrap(Base64.getDecoder().decode(text));
        int[] out = new int[in.remaining()];
        int n = 0;
        int previous = -1;
        while (in.hasRemaining()) {
            int gap = 0;
            int shift = 0;
            byte b;
            do {
                b = in.get();
                gap |= (b & 0x7f) << shift;
                shift += 7;
            } while ((b & 0x80) != 0);
            previous = previous + gap + 1;
            out[n++] = previous;
        }
        return java.util.Arrays.copyOf(out, n);
    }
}
