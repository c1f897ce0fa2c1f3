package org.sptspark.sensitivity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.sptspark.lake.FileDigest;
import org.sptspark.lake.LakeFiles;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorSpec;

/**
 * Sensitivity scores on the lake: a folder holding {@code scores.safetensors} (F32, one tensor per
 * scored parameter, timm names with q/k/v split) and {@code manifest.json}, written last: a folder
 * without a valid manifest does not exist for readers, so a job killed mid-write leaves nothing
 * half-visible, and a re-run commits it ({@link org.sptspark.lake.LakeFiles#commit}).
 *
 * <p>Manifest: {@link ScoresManifest}.
 */
public final class ScoresStore {

    public static final String SCORES = "scores.safetensors";
    public static final String MANIFEST = "manifest.json";

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
            readManifest(fs, manifest);
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Commits the scores and their manifest (the commit point), completing {@code provenance} with
     * the scores' id and digest; committed scores already there are replaced.
     */
    public static void write(Configuration hadoop, String folder, SensitivityScores scores, ScoresManifest provenance) {
        write(hadoop, folder, scores, provenance, true);
    }

    /**
     * Commits as {@link #write} does unless the folder already holds committed scores (another
     * writer's, committed while these were computed): then nothing is written.
     *
     * @return whether these scores were committed
     */
    public static boolean writeIfAbsent(Configuration hadoop, String folder, SensitivityScores scores,
            ScoresManifest provenance) {
        return write(hadoop, folder, scores, provenance, false);
    }

    private static boolean write(Configuration hadoop, String folder, SensitivityScores scores, ScoresManifest provenance,
            boolean replace) {
        try {
            var payload = new LakeFiles.Payload(SCORES, out -> encode(scores, out));
            LakeFiles.ManifestWriter manifest = files -> provenance.committed(files.get(SCORES).sha256(), files).toJson();
            if (replace) {
                LakeFiles.commit(hadoop, new Path(folder, MANIFEST), List.of(payload), manifest);
                return true;
            }
            return LakeFiles.commitIfAbsent(hadoop, new Path(folder, MANIFEST), List.of(payload), manifest).isPresent();
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
            ScoresManifest manifest = readManifest(fs, manifestPath);
            byte[] bytes;
            try (InputStream in = fs.open(new Path(dir, SCORES))) {
                bytes = in.readAllBytes();
            } catch (org.apache.hadoop.fs.ChecksumException e) {
                throw new IllegalArgumentException(new Path(dir, SCORES) + " is corrupted (the file system's checksum"
                        + " does not match: " + e.getMessage() + ")", e);
            }
            FileDigest expected = manifest.files() == null ? null : manifest.files().get(SCORES);
            if (expected == null) {
                throw new IllegalArgumentException(manifestPath + " records no digest of " + SCORES);
            }
            if (!expected.matches(bytes)) {
                throw new IllegalArgumentException(new Path(dir, SCORES) + " does not match its manifest's sha256 "
                        + expected + " (corrupted or replaced)");
            }
            var space = manifest.backbone().architecture().space();
            var values = new LinkedHashMap<String, float[]>();
            try (NDManager manager = NDManager.newBaseManager()) {
                for (NDArray a : NDList.decode(manager, bytes)) {
                    values.put(a.getName(), a.toFloatArray());
                }
            }
            return new SensitivityScores(space, values, manifest.id());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read sensitivity scores from " + folder, e);
        }
    }

    /** The manifest of a committed folder. */
    public static ScoresManifest manifest(Configuration hadoop, String folder) {
        try {
            Path manifest = new Path(folder, MANIFEST);
            return readManifest(manifest.getFileSystem(hadoop), manifest);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + folder + "/" + MANIFEST, e);
        }
    }

    private static ScoresManifest readManifest(FileSystem fs, Path manifest) throws IOException {
        try (InputStream in = fs.open(manifest)) {
            return ScoresManifest.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8), manifest.toString());
        }
    }

    private static void encode(SensitivityScores scores, OutputStream out) throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            var list = new NDList();
            for (TensorSpec t : scores.space().scored()) {
                NDArray a = manager.create(scores.get(t.name()), new Shape(t.shape().getShape()));
                a.setName(t.name());
                list.add(a);
            }
            list.encode(out, NDList.Encoding.SAFETENSORS);
        }
    }
}
