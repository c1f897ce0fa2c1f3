package org.sptspark.model;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.sptspark.lake.LakeFormat;
import org.sptspark.lake.SoftwareVersions;

/**
 * A pretrained backbone's manifest, {@code <checkpoint>.json} beside the checkpoint: format
 * {@code spt-backbone} version 1 (manifests without a {@code version} are version 1).
 *
 * @param checkpoint the checkpoint's file name, in the manifest's folder
 * @param sha256 hex SHA-256 of the checkpoint file
 * @param preset the architecture's preset
 * @param architecture the architecture, its head over the upstream tasks' classes together
 * @param command the command line that made it
 * @param upstream the tasks it was trained on, "name (n classes)"
 * @param trainImages images per epoch
 * @param recipe the training recipe as the trainer records it (its JSON form, so that manifests of
 *     older recipes still read)
 * @param testTop1 top-1 on each upstream task's test split
 * @param finalTrainLoss the last epoch's mean loss
 * @param seconds the whole run's wall time
 * @param createdAt ISO-8601 instant
 */
public record BackboneManifest(String checkpoint, String sha256, String preset, BackboneConfig architecture, String command,
        List<String> upstream, long trainImages, JsonObject recipe, Map<String, Double> testTop1, double finalTrainLoss,
        double seconds, SoftwareVersions versions, String createdAt) {

    public static final LakeFormat FORMAT = new LakeFormat("spt-backbone", 1, "backbone manifest");

    public BackboneManifest {
        if (checkpoint == null || sha256 == null || architecture == null) {
            throw new IllegalArgumentException("a backbone manifest names its checkpoint, sha256 and architecture");
        }
    }

    /** The manifest file of a checkpoint: {@code <checkpoint>.json}. */
    public static Path file(Path checkpoint) {
        return new Path(checkpoint.getParent(), checkpoint.getName() + ".json");
    }

    /** This manifest as its file holds it. */
    public byte[] toJson() {
        return FORMAT.writeBytes(this);
    }

    /**
     * Reads a backbone manifest.
     *
     * @param source the file, for messages
     */
    public static BackboneManifest parse(String json, String source) {
        return FORMAT.read(json, source, BackboneManifest.class);
    }

    /** Reads the manifest beside a checkpoint. */
    public static BackboneManifest read(Configuration hadoop, Path checkpoint) {
        Path file = file(checkpoint);
        try (InputStream in = file.getFileSystem(hadoop).open(file)) {
            return parse(new String(in.readAllBytes(), StandardCharsets.UTF_8), file.toString());
        } catch (java.io.FileNotFoundException e) {
            throw new IllegalArgumentException("backbone " + checkpoint + " has no manifest: " + file + " is missing", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }
}
