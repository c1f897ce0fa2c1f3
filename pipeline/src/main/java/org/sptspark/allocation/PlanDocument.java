package org.sptspark.allocation;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.sptspark.lake.Digests;
import org.sptspark.lake.LakeFormat;
import org.sptspark.lake.LakeJson;

/**
 * A plan file as it is on disk, format {@code spt-plan} version 3 ({@link PlanJson} shows an
 * example and converts it to and from a {@link TuningPlan}).
 *
 * <p>Version 3 added each tensor's {@code stage}, written for hierarchical backbones (Swin,
 * ConvNeXt) only; documents of versions 1 and 2 read with every block in stage 0, which is right
 * for the ViTs they were written for (a Swin or ConvNeXt plan of version 2, written only by
 * development builds, reads with its stages lost: allocate it again). Version 2 builds refuse
 * version 3 plans by their version.
 *
 * <p>Version 2 added {@code totals.maxReachable}, the most the plan's rule can train on its
 * backbone; version 1 documents, which lack it, read as they are (their id is computed without it,
 * so it still matches). Version 1 builds refuse version 2 plans by their version rather than
 * mistaking the new field for an edit.
 *
 * @param id SHA-256 of the document's compact JSON without {@code format}, {@code version} and {@code id}
 * @param backbone the backbone preset planned for
 * @param scores the id of the scores planned from
 * @param tensors every scored tensor, frozen ones too
 */
public record PlanDocument(String id, String backbone, int numClasses, String scores, Rule rule, BudgetTotals budget,
        TuningPlan.Totals totals, List<Tensor> tensors) {

    public static final LakeFormat FORMAT = new LakeFormat("spt-plan", 3, "tuning plan");

    /** The allocation rule: module and mode in lower case. */
    public record Rule(String module, int rank, double alpha, double beta, String mode, boolean structuredVectors) {}

    /** The budget asked for and reached, and the top-k size that reached it. */
    public record BudgetTotals(String label, long target, long achieved, long k) {}

    /**
     * One scored tensor's decision.
     *
     * @param stage the tensor's stage, for hierarchical backbones only (else null: see {@link PlanJson})
     * @param decision frozen, unstructured, whole, lora or adapter
     * @param rank for lora and adapter only
     * @param indices for unstructured only: increasing flat indices as base64 LEB128 varints of their gaps
     */
    public record Tensor(String name, Integer stage, int block, String operation, String role, long countInTopK, String decision,
            long trainable, Integer rank, String indices) {}

    /** This document with its id computed from the rest. */
    public PlanDocument withId() {
        return new PlanDocument(contentId(), backbone, numClasses, scores, rule, budget, totals, tensors);
    }

    /** The SHA-256 of everything but the header and the id: equal plans have equal ids. */
    public String contentId() {
        var body = new PlanDocument(null, backbone, numClasses, scores, rule, budget, totals, tensors);
        return Digests.sha256Hex(LakeJson.tree(body).toString().getBytes(StandardCharsets.UTF_8));
    }

    /** The document as its file holds it, ending with a newline. */
    public String toJson() {
        return FORMAT.write(this) + "\n";
    }

    /**
     * Reads a plan document, checking its format and version (not yet its id: {@link PlanJson#read} does).
     *
     * @param source the file, for messages
     */
    public static PlanDocument parse(String json, String source) {
        return FORMAT.read(json, source, PlanDocument.class);
    }
}
