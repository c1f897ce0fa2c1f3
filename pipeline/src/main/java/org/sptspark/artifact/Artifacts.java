package org.sptspark.artifact;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.sptspark.lake.Digests;
import org.sptspark.lake.LakeFiles;
import org.sptspark.model.ParameterSpace;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.TunedModel;
import org.sptspark.tuning.TuningLayout;

/**
 * Tuned-parameter artifacts in the lake: one folder per (task, backbone, method, budget) holding
 * {@code adapter.safetensors} (only what training changed, see {@link TunedModel#export}) and
 * {@code manifest.json}. The manifest is written last and is the commit point: a folder without a
 * valid manifest does not exist for readers, and a reader verifies every file's SHA-256 and the
 * backbone's before using it.
 */
public final class Artifacts {

    public static final String TENSORS = "adapter.safetensors";
    public static final String MANIFEST = "manifest.json";
    public static final String FORMAT = "spt-artifact";
    public static final int VERSION = 1;

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();

    private Artifacts() {}

    /**
     * {@code <lake>/artifacts/<suite>/<task>/<preset>-<sha12>/<method>[-<budget>]}: one folder per
     * task, backbone, method and budget (baselines have no budget).
     */
    public static String folder(String lake, String suite, String task, String preset, String backboneSha, Method method,
            String budgetLabel) {
        String leaf = budgetLabel == null ? method.id() : method.id() + "-" + budgetLabel;
        return new Path(new Path(lake), String.join("/", "artifacts", suite, task,
                preset + "-" + backboneSha.substring(0, 12), leaf)).toString();
    }

    /**
     * Writes a tuned model's artifact: any old manifest is removed first, then the tensors, then
     * the manifest with the tensors' SHA-256 and size added to {@code manifest}.
     *
     * @param manifest everything the caller records (backbone, method, budget, plan, recipe,
     *     metrics, versions); {@code format}, {@code version}, {@code files} and {@code createdAt}
     *     are added here
     * @return the tensors' size in bytes
     */
    public static long write(Configuration hadoop, String folder, TunedModel tuned, JsonObject manifest) throws IOException {
        Path dir = new Path(folder);
        FileSystem fs = dir.getFileSystem(hadoop);
        fs.delete(new Path(dir, MANIFEST), false);
        fs.mkdirs(dir);
        byte[] tensors;
        try (NDManager scratch = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            NDList list = tuned.export(scratch);
            var bytes = new ByteArrayOutputStream();
            list.encode(bytes, NDList.Encoding.SAFETENSORS);
            tensors = bytes.toByteArray();
        }
        LakeFiles.writeAtomically(hadoop, new Path(dir, TENSORS), tensors);
        var out = manifest.deepCopy();
        out.addProperty("format", FORMAT);
        out.addProperty("version", VERSION);
        var files = new JsonObject();
        var entry = new JsonObject();
        entry.addProperty("sha256", Digests.sha256Hex(tensors));
        entry.addProperty("bytes", tensors.length);
        files.add(TENSORS, entry);
        out.add("files", files);
        out.addProperty("createdAt", Instant.now().toString());
        LakeFiles.writeAtomically(hadoop, new Path(dir, MANIFEST), GSON.toJson(out).getBytes(StandardCharsets.UTF_8));
        return tensors.length;
    }

    /** Whether the folder holds a committed artifact (a manifest of our format); files are not verified here. */
    public static boolean committed(Configuration hadoop, String folder) {
        try {
            JsonObject m = manifest(hadoop, folder);
            return FORMAT.equals(m.get("format").getAsString());
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * The manifest of a committed artifact.
     *
     * @throws IllegalArgumentException when there is none or it is not valid JSON
     */
    public static JsonObject manifest(Configuration hadoop, String folder) throws IOException {
        Path file = new Path(new Path(folder), MANIFEST);
        byte[] bytes;
        try (InputStream in = file.getFileSystem(hadoop).open(file)) {
            bytes = in.readAllBytes();
        } catch (FileNotFoundException e) {
            throw new IllegalArgumentException("no committed artifact at " + folder + ": " + MANIFEST
                    + " is missing (the write never finished, or this is not an artifact folder)", e);
        } catch (org.apache.hadoop.fs.ChecksumException e) {
            throw new IllegalArgumentException("artifact " + folder + " is damaged: " + MANIFEST
                    + " fails the file system's checksum (" + e.getMessage() + ")", e);
        }
        try {
            JsonObject m = JsonParser.parseString(new String(bytes, StandardCharsets.UTF_8)).getAsJsonObject();
            if (!m.has("format") || !FORMAT.equals(m.get("format").getAsString())) {
                throw new IllegalArgumentException(file + " is not an " + FORMAT + " manifest");
            }
            if (m.get("version").getAsInt() > VERSION) {
                throw new IllegalArgumentException(file + " has format version " + m.get("version").getAsInt()
                        + "; this build reads up to " + VERSION);
            }
            return m;
        } catch (JsonParseException | IllegalStateException | NullPointerException e) {
            throw new IllegalArgumentException(file + " is not a valid manifest: " + e.getMessage(), e);
        }
    }

    /**
     * A verified artifact.
     *
     * @param manifest as written
     * @param tensors the tensors, in the caller's manager
     * @param layout what the artifact trained, rebuilt from its tensors
     */
    public record Loaded(JsonObject manifest, Map<String, NDArray> tensors, TuningLayout layout) {
        public Method method() {
            return Method.parse(manifest.get("method").getAsString());
        }
    }

    /**
     * Reads and verifies an artifact for the backbone with this SHA-256.
     *
     * @throws IllegalArgumentException when the folder has no manifest, the manifest names another
     *     backbone or architecture, or a file's SHA-256 differs from the manifest's
     */
    public static Loaded read(Configuration hadoop, String folder, String backboneSha, ParameterSpace space,
            NDManager manager) throws IOException {
        JsonObject m = manifest(hadoop, folder);
        JsonObject backbone = m.getAsJsonObject("backbone");
        String expectedSha = backbone.get("sha256").getAsString();
        if (!expectedSha.equals(backboneSha)) {
            throw new IllegalArgumentException("artifact " + folder + " was trained on backbone " + backbone.get("preset").getAsString()
                    + " with sha256 " + expectedSha + ", but the given backbone has sha256 " + backboneSha
                    + ": pass the checkpoint the artifact was trained on");
        }
        String preset = backbone.get("preset").getAsString();
        int classes = m.getAsJsonObject("task").get("classes").getAsInt();
        if (!preset.equals(space.config().name()) || classes != space.config().numClasses()) {
            throw new IllegalArgumentException("artifact " + folder + " is for " + preset + " with " + classes
                    + " classes, not " + space.config().name() + " with " + space.config().numClasses());
        }
        JsonObject file = m.getAsJsonObject("files").getAsJsonObject(TENSORS);
        Path path = new Path(new Path(folder), TENSORS);
        byte[] bytes;
        try (InputStream in = path.getFileSystem(hadoop).open(path)) {
            bytes = in.readAllBytes();
        } catch (FileNotFoundException e) {
            throw new IllegalArgumentException("artifact " + folder + " is damaged: its manifest lists " + TENSORS
                    + " but the file is missing", e);
        } catch (org.apache.hadoop.fs.ChecksumException e) {
            throw new IllegalArgumentException("artifact " + folder + " is damaged: " + TENSORS
                    + " fails the file system's checksum (" + e.getMessage() + ")", e);
        }
        String actual = Digests.sha256Hex(bytes);
        String recorded = file.get("sha256").getAsString();
        if (!actual.equals(recorded)) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "artifact %s is damaged: %s has sha256 %s (%d bytes) but its manifest records %s (%d bytes);"
                            + " the file was corrupted or modified after it was committed",
                    folder, TENSORS, actual, bytes.length, recorded, file.get("bytes").getAsLong()));
        }
        NDList list = NDList.decode(manager, bytes);
        var tensors = new LinkedHashMap<String, NDArray>();
        for (NDArray a : list) {
            tensors.put(a.getName(), a);
        }
        Method method = Method.parse(m.get("method").getAsString());
        int rank = m.get("rank").getAsInt();
        return new Loaded(m, tensors, TuningLayout.fromArtifact(method, rank, space, tensors, folder));
    }
}
