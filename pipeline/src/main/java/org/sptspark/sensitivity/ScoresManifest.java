package org.sptspark.sensitivity;

import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.util.Map;
import org.sptspark.data.TaskRef;
import org.sptspark.lake.FileDigest;
import org.sptspark.lake.LakeFormat;
import org.sptspark.lake.SoftwareVersions;
import org.sptspark.model.BackboneRef;

/**
 * A sensitivity scores folder's {@code manifest.json}: format {@code spt-scores} version 2.
 *
 * <p>Version 2 records {@code files} as every format does, name to {@code {sha256, bytes}};
 * version 1 recorded name to the bare sha256, and reads with the size unknown (-1).
 *
 * @param id the scores' identifier (the SHA-256 of {@code scores.safetensors}), carried into plans
 * @param backbone the backbone scored, its architecture with the task's classes
 * @param split the split the scores were summed over
 * @param batches and {@code batchSize}, {@code images}: how much of it
 * @param seed seeds the head and the batches
 * @param dropPath the backbone's stochastic depth while scoring
 * @param head how the task's head was initialised
 * @param normalization the images' normalisation
 * @param precision the forward and backward passes' arithmetic
 * @param wallSeconds the scoring's wall time
 * @param createdAt ISO-8601 instant
 * @param files the payload's digests; filled in by the commit
 */
public record ScoresManifest(String id, BackboneRef backbone, TaskRef task, String split, int batches, int batchSize,
        long images, long seed, double dropPath, String head, String normalization, String precision, double wallSeconds,
        String createdAt, SoftwareVersions versions, Map<String, FileDigest> files) {

    public static final LakeFormat FORMAT = new LakeFormat("spt-scores", 2, "sensitivity manifest");

    public ScoresManifest {
        if (backbone == null) {
            throw new IllegalArgumentException("a scores manifest names the backbone scored");
        }
    }

    /** A manifest recording only the backbone scored, for tests and tools that know nothing else. */
    public static ScoresManifest of(BackboneRef backbone, TaskRef task) {
        return new ScoresManifest(null, backbone, task, null, 0, 0, 0, 0, 0, null, null, null, 0, null, null, null);
    }

    /** This manifest as committed: with the payload's id and digests. */
    public ScoresManifest committed(String scoresId, Map<String, FileDigest> digests) {
        return new ScoresManifest(scoresId, backbone, task, split, batches, batchSize, images, seed, dropPath, head,
                normalization, precision, wallSeconds, createdAt, versions, digests);
    }

    /** This manifest as its file holds it. */
    public byte[] toJson() {
        return FORMAT.writeBytes(this);
    }

    /**
     * Reads a manifest of version 1 or 2.
     *
     * @param source the file, for messages
     */
    public static ScoresManifest parse(String json, String source) {
        LakeFormat.Document doc = FORMAT.open(json, source);
        if (doc.version() == 1 && doc.json().get("files") instanceof JsonObject files) {
            var upgraded = new JsonObject();
            for (var e : files.entrySet()) {
                if (e.getValue() instanceof JsonPrimitive sha) {
                    var digest = new JsonObject();
                    digest.add("sha256", sha);
                    digest.addProperty("bytes", -1);
                    upgraded.add(e.getKey(), digest);
                } else {
                    upgraded.add(e.getKey(), e.getValue());
                }
            }
            doc.json().add("files", upgraded);
        }
        return FORMAT.bind(doc, ScoresManifest.class);
    }
}
