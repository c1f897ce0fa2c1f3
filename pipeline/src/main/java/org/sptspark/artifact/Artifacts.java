package org.sptspark.artifact;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.sptspark.lake.Digests;
import org.sptspark.lake.FileDigest;
import org.sptspark.lake.LakeFiles;
import org.sptspark.model.ParameterSpace;
import org.sptspark.tuning.Method;
import org.sptspark.tuning.TunedModel;
import org.sptspark.tuning.TuningLayout;

/**
 * Tuned-parameter artifacts in the lake: one folder per (task, backbone, method, budget) holding
 * {@code adapter.safetensors} (only what training changed, see {@link TunedModel#export}) and
 * {@code manifest.json} ({@link ArtifactManifest}). The manifest is written last and is the commit
 * point: a folder without a valid manifest does not exist for readers, and a reader verifies every
 * file's SHA-256 and the backbone's before using it.
 */
public final class Artifacts {

    public static final String TENSORS = "adapter.safetensors";
    public static final String MANIFEST = "manifest.json";

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
     * Commits a tuned model's artifact, replacing one already there: the tensors and the manifest,
     * with their SHA-256 and size and the commit's time, are staged, then moved into place under the
     * folder's commit lock, manifest last ({@link LakeFiles#commit}).
     *
     * @param manifest everything the caller records (task, backbone, method, budget, plan, recipe,
     *     metrics, versions); {@code files} and {@code createdAt} are set here
     * @return the tensors' size in bytes
     */
    public static long write(Configuration hadoop, String folder, TunedModel tuned, ArtifactManifest manifest)
            throws IOException {
        Map<String, FileDigest> files = LakeFiles.commit(hadoop, new Path(folder, MANIFEST), List.of(payload(tuned)),
                digests -> manifest.committed(digests, Instant.now().toString()).toJson());
        return files.get(TENSORS).bytes();
    }

    /**
     * Commits as {@link #write} does unless the folder already holds a committed artifact (another
     * writer's, committed while this one trained): then nothing is written and this one is discarded.
     *
     * @return whether this artifact was committed
     */
    public static boolean writeIfAbsent(Configuration hadoop, String folder, TunedModel tuned, ArtifactManifest manifest)
            throws IOException {
        return LakeFiles.commitIfAbsent(hadoop, new Path(folder, MANIFEST), List.of(payload(tuned)),
                digests -> manifest.committed(digests, Instant.now().toString()).toJson()).isPresent();
    }

    private static LakeFiles.Payload payload(TunedModel tuned) {
        return new LakeFiles.Payload(TENSORS, out -> {
            try (NDManager scratch = NDManager.newBaseManager(ai.djl.Device.cpu())) {
                tuned.export(scratch).encode(out, NDList.Encoding.SAFETENSORS);
            }
        });
    }

    /** Whether the folder holds a committed artifact (a manifest this build reads); files are not verified here. */
    public static boolean committed(Configuration hadoop, String folder) {
        try {
            manifest(hadoop, folder);
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * The manifest of a committed artifact.
     *
     * @throws IllegalArgumentException when there is none, or it is not a manifest this build reads
     */
    public static ArtifactManifest manifest(Configuration hadoop, String folder) throws IOException {
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
        return ArtifactManifest.parse(new String(bytes, StandardCharsets.UTF_8), file.toString());
    }

    /**
     * A verified artifact.
     *
     * @param manifest as written
     * @param tensors the tensors, in the caller's manager
     * @param layout what the artifact trained, rebuilt from its tensors
     */
    public record Loaded(ArtifactManifest manifest, Map<String, NDArray> tensors, TuningLayout layout) {
        public Method method() {
            return Method.parse(manifest.method());
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
        ArtifactManifest m = manifest(hadoop, folder);
        String expectedSha = m.backbone().sha256();
        if (!backboneSha.equals(expectedSha)) {
            throw new IllegalArgumentException("artifact " + folder + " was trained on backbone " + m.backbone().preset()
                    + " with sha256 " + expectedSha + ", but the given backbone has sha256 " + backboneSha
                    + ": pass the checkpoint the artifact was trained on");
        }
        String preset = m.backbone().preset();
        int classes = m.task().classes();
        if (!preset.equals(space.config().name()) || classes != space.config().numClasses()) {
            throw new IllegalArgumentException("artifact " + folder + " is for " + preset + " with " + classes
                    + " classes, not " + space.config().name() + " with " + space.config().numClasses());
        }
        FileDigest file = m.files() == null ? null : m.files().get(TENSORS);
        if (file == null) {
            throw new IllegalArgumentException("artifact " + folder + " is damaged: its manifest records no " + TENSORS);
        }
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
        String recorded = file.sha256();
        if (!actual.equals(recorded)) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "artifact %s is damaged: %s has sha256 %s (%d bytes) but its manifest records %s (%d bytes);"
                            + " the file was corrupted or modified after it was committed",
                    folder, TENSORS, actual, bytes.length, recorded, file.bytes()));
        }
        NDList list = NDList.decode(manager, bytes);
        var tensors = new LinkedHashMap<String, NDArray>();
        for (NDArray a : list) {
            tensors.put(a.getName(), a);
        }
        Method method = Method.parse(m.method());
        return new Loaded(m, tensors, TuningLayout.fromArtifact(method, m.rank(), space, tensors, folder));
    }
}
