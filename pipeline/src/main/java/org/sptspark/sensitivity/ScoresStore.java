package org.sptspark.sensitivity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.sptspark.lake.Digests;
import org.sptspark.lake.LakeFiles;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.VitConfig;

/**
 * Sensitivity scores on the lake: a folder holding {@code scores.safetensors} (F32, one tensor per
 * scored parameter, timm names with q/k/v split) and {@code manifest.json}, written last: a folder
 * without a valid manifest does not exist for readers, so a job killed mid-write leaves nothing
 * half-visible, and a re-run overwrites it.
 *
 * <p>Manifest: {@code format} "spt-scores", {@code version} 1, {@code id}, {@code backbone}
 * (preset, checkpoint, sha256), {@code task} (suite, name, classes, group), {@code batches},
 * {@code batchSize}, {@code images}, {@code seed}, {@code dropPath}, {@code normalization},
 * {@code wallSeconds}, {@code createdAt}, {@code versions}, {@code files} (name to sha256).
 */
public final class ScoresStore {

    public static final String SCORES = "scores.safetensors";
    public static final String MANIFEST = "manifest.json";
    public static final String FORMAT = "spt-scores";

    private ScoresStore() {}

    /** {@code <lake>/sensitivity/<suite>/<task>/<backbone preset>-<first 12 hex of its sha256>}. */
    public static String folder(String lake, String suite, String task, String preset, String checkpointSha256) {
        return new Path(new Path(new Path(new Path(lake, "sensitivity"), suite), task),
                preset + "-" + checkpointSha256.substring(0, 12)).toString();
    }

    /** Whether the folder holds committed scores (a manifest of this format). */
    public static boolean committed(Configuration hadoop, String folder) {
        try {
            Path manifest = new Path(folder, MANIFEST);
            FileSystem fs = manifest.getFileSystem(hadoop);
            if (!fs.exists(manifest)) {
                return false;
            }
            return FORMAT.equals(readManifest(fs, manifest).get("format").getAsString());
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Writes the scores, then the manifest (the commit point), completing {@code provenance} with
     * the format fields and the file digest.
     */
    public static void write(Configuration hadoop, String folder, SensitivityScores scores, JsonObject provenance) {
        try {
            Path dir = new Path(folder);
            FileSystem fs = dir.getFileSystem(hadoop);
            fs.delete(new Path(dir, MANIFEST), false); // uncommit first: a reader never pairs an old manifest with new scores
            byte[] bytes = encode(scores);
            try (OutputStream out = fs.create(new Path(dir, SCORES), true)) {
                out.write(bytes);
            }
            String sha = Digests.sha256Hex(bytes);
            var manifest = new JsonObject();
            manifest.addProperty("format", FORMAT);
            manifest.addProperty("version", 1);
            manifest.addProperty("id", sha);
            provenance.entrySet().forEach(e -> manifest.add(e.getKey(), e.getValue()));
            var files = new JsonObject();
            files.addProperty(SCORES, sha);
            manifest.add("files", files);
            byte[] json = new GsonBuilder().setPrettyPrinting().create().toJson(manifest).getBytes(StandardCharsets.UTF_8);
            LakeFiles.writeAtomically(hadoop, new Path(dir, MANIFEST), json);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write sensitivity scores to " + folder, e);
        }
    }

    /** Reads committed scores, checking the file's digest against the manifest. */
    public static SensitivityScores read(Configuration hadoop, String folder) {
        try {
            Path dir = new Path(folder);
            FileSystem fs = dir.getFileSystem(hadoop);
            Path manifestPath = new Path(dir, MANIFEST);
            if (!fs.exists(manifestPath)) {
                throw new IllegalArgumentException(folder + " holds no committed sensitivity scores (no " + MANIFEST + ")");
            }
            JsonObject manifest = readManifest(fs, manifestPath);
            if (!FORMAT.equals(manifest.get("format").getAsString())) {
                throw new IllegalArgumentException(manifestPath + " is not a sensitivity manifest");
            }
            byte[] bytes;
            try (InputStream in = fs.open(new Path(dir, SCORES))) {
                bytes = in.readAllBytes();
            } catch (org.apache.hadoop.fs.ChecksumException e) {
                throw new IllegalArgumentException(new Path(dir, SCORES) + " is corrupted (the file system's checksum"
                        + " does not match: " + e.getMessage() + ")", e);
            }
            String expected = manifest.getAsJsonObject("files").get(SCORES).getAsString();
            if (!expected.equals(Digests.sha256Hex(bytes))) {
                throw new IllegalArgumentException(new Path(dir, SCORES) + " does not match its manifest's sha256 "
                        + expected + " (corrupted or replaced)");
            }
            var space = ParameterSpace.of(VitConfig.fromJson(manifest.getAsJsonObject("backbone").get("architecture")));
            var values = new LinkedHashMap<String, float[]>();
            try (NDManager manager = NDManager.newBaseManager()) {
                for (NDArray a : NDList.decode(manager, bytes)) {
                    values.put(a.getName(), a.toFloatArray());
                }
            }
            return new SensitivityScores(space, values, manifest.get("id").getAsString());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read sensitivity scores from " + folder, e);
        }
    }

    /** The manifest of a committed folder. */
    public static JsonObject manifest(Configuration hadoop, String folder) {
        try {
            Path manifest = new Path(folder, MANIFEST);
            return readManifest(manifest.getFileSystem(hadoop), manifest);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + folder + "/" + MANIFEST, e);
        }
    }

    private static JsonObject readManifest(FileSystem fs, Path manifest) throws IOException {
        try (InputStream in = fs.open(manifest)) {
            return JsonParser.parseString(new String(in.readAllBytes(), StandardCharsets.UTF_8)).getAsJsonObject();
        }
    }

    private static byte[] encode(SensitivityScores scores) throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            var list = new NDList();
            for (TensorSpec t : scores.space().scored()) {
                NDArray a = manager.create(scores.get(t.name()), new Shape(t.shape().getShape()));
                a.setName(t.name());
                list.add(a);
            }
            var out = new ByteArrayOutputStream();
            list.encode(out, NDList.Encoding.SAFETENSORS);
            return out.toByteArray();
        }
    }
}
