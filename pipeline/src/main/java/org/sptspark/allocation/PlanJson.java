package org.sptspark.allocation;

import com.google.gson.JsonParseException;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Locale;
import org.sptspark.model.TensorRole;

/**
 * The versioned JSON form of a {@link TuningPlan}, which the trainer reads: a {@link PlanDocument}.
 *
 * <pre>{@code
 * {"format": "spt-plan", "version": 3, "id": "<sha256 of the document without this field>",
 *  "backbone": "vit_base_patch16_224", "numClasses": 100, "scores": "<scores id>",
 *  "rule": {"module": "lora", "rank": 8, "alpha": 10.0, "beta": 5.0, "mode": "mixed", "structuredVectors": true},
 *  "budget": {"label": "0.4M", "target": 400000, "achieved": 401234, "k": 61234},
 *  "totals": {"unstructured": 33000, "structured": 350000, "whole": 17466, "clsToken": 768, "head": 76900,
 *             "maxReachable": 1449216},
 *  "tensors": [{"name": "blocks.0.attn.q.weight", "block": 0, "operation": "q", "role": "matrix",
 *               "countInTopK": 12, "decision": "unstructured", "trainable": 12,
 *               "indices": "<base64 of LEB128 varints of the gaps between increasing flat indices>"},
 *              {"name": "blocks.3.mlp.fc1.weight", ..., "decision": "lora", "rank": 8, "trainable": 30720}, ...]}
 * }</pre>
 *
 * Every scored tensor appears, frozen ones too, so the plan alone describes the allocation. A
 * hierarchical backbone's tensors also carry their {@code "stage"} ({@code "name":
 * "layers.2.blocks.5.attn.q.weight", "stage": 2, "block": 9, ...}); a ViT's, with one stage, do not,
 * so its plans and their ids are as version 2 wrote them.
 */
public final class PlanJson {

    private PlanJson() {}

    /** The plan's document, with its id. */
    public static String write(TuningPlan plan) {
        return document(plan).toJson();
    }

    /** The plan's id: SHA-256 of its canonical content. Equal plans have equal ids. */
    public static String id(TuningPlan plan) {
        return document(plan).id();
    }

    /** The plan as its document, with its id. */
    public static PlanDocument document(TuningPlan plan) {
        var r = plan.rule();
        var rule = new PlanDocument.Rule(r.module().id(), r.rank(), r.alpha(), r.beta(),
                r.mode().name().toLowerCase(Locale.ROOT), r.structuredVectors());
        var budget = new PlanDocument.BudgetTotals(plan.budget().label(), plan.budget().target(), plan.totals().achieved(),
                plan.k());
        var tensors = new ArrayList<PlanDocument.Tensor>();
        boolean stages = plan.hierarchical();
        for (TuningPlan.Entry e : plan.entries()) {
            Integer rank = e.decision() instanceof TensorDecision.Structured s ? s.rank() : null;
            String indices = e.decision() instanceof TensorDecision.Sparse s ? encodeIndices(s.indices()) : null;
            tensors.add(new PlanDocument.Tensor(e.name(), stages ? e.stage() : null, e.block(), e.operation(), e.role().name().toLowerCase(Locale.ROOT),
                    e.countInTopK(), e.decision().kind(), e.decision().trainable(), rank, indices));
        }
        return new PlanDocument(null, plan.backbone(), plan.numClasses(), plan.scoresId(), rule, budget, plan.totals(),
                tensors).withId();
    }

    /**
     * Reads a plan document, checking its format, version, id and totals.
     *
     * @param source where it came from, for messages
     */
    public static TuningPlan read(String json, String source) {
        PlanDocument doc = PlanDocument.parse(json, source);
        try {
            PlanDocument.Rule r = doc.rule();
            var rule = new AllocationRule(AllocationRule.Module.valueOf(r.module().toUpperCase(Locale.ROOT)), r.rank(),
                    r.alpha(), r.beta(), AllocationRule.Mode.valueOf(r.mode().toUpperCase(Locale.ROOT)),
                    r.structuredVectors());
            PlanDocument.BudgetTotals b = doc.budget();
            var budget = new Budget(b.label(), b.target());
            var entries = new ArrayList<TuningPlan.Entry>();
            for (PlanDocument.Tensor t : doc.tensors()) {
                String kind = t.decision();
                long trainable = t.trainable();
                TensorDecision decision = switch (kind) {
                    case "frozen" -> new TensorDecision.Frozen();
                    case "unstructured" -> new TensorDecision.Sparse(decodeIndices(t.indices()));
                    case "whole" -> new TensorDecision.Whole(trainable);
                    case "lora", "adapter" -> new TensorDecision.Structured(
                            AllocationRule.Module.valueOf(kind.toUpperCase(Locale.ROOT)), t.rank(), trainable);
                    default -> throw new IllegalArgumentException(source + ": unknown decision '" + kind + "' for "
                            + t.name());
                };
                if (decision.trainable() != trainable) {
                    throw new IllegalArgumentException(source + ": tensor " + t.name() + " says "
                            + trainable + " trainable but its indices hold " + decision.trainable());
                }
                int stage = t.stage() != null ? t.stage() : t.block() >= 0 ? 0 : -1;
                entries.add(new TuningPlan.Entry(t.name(), stage, t.block(), t.operation(),
                        TensorRole.valueOf(t.role().toUpperCase(Locale.ROOT)), t.countInTopK(), decision));
            }
            var plan = new TuningPlan(doc.backbone(), doc.numClasses(), doc.scores(), rule, budget, b.k(), entries,
                    doc.totals());
            if (doc.id() == null || !doc.id().equals(id(plan))) {
                throw new IllegalArgumentException(source + ": the plan's content does not match its id " + doc.id()
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
