package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Consumer;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver-side checkpoint check, on real files: a valid tiny safetensors written by
 * {@link Checkpoints#write}, then corrupted as users' files are. No Spark, no tensor data read.
 */
class CheckpointHeaderTest {

    /** One block, width 8: a 5 kB checkpoint. */
    static final VitConfig TINY = new VitConfig("ckpt_tiny", 8, 4, 3, 8, 1, 2, 16, 3, 1e-6, 0.0);

    @TempDir
    static Path dir;

    static Path valid;
    static byte[] bytes;

    @BeforeAll
    static void writeValidCheckpoint() throws IOException {
        valid = dir.resolve("tiny.safetensors");
        try (NDManager manager = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(manager, TINY, 1), valid);
        }
        bytes = Files.readAllBytes(valid);
    }

    /** The header's length and JSON, and the data after it. */
    record Parts(long length, JsonObject header, byte[] data) {}

    static Parts parts(byte[] file) {
        long n = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String json = new String(file, 8, (int) n, StandardCharsets.UTF_8);
        return new Parts(n, JsonParser.parseString(json).getAsJsonObject(), Arrays.copyOfRange(file, 8 + (int) n, file.length));
    }

    /** A safetensors file of this header and data, the length written honestly. */
    static byte[] assemble(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        var out = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h).put(data);
        return out.array();
    }

    /** The valid file with its header edited. */
    static byte[] edited(Consumer<JsonObject> edit) {
        Parts p = parts(bytes);
        edit.accept(p.header());
        return assemble(p.header().toString(), p.data());
    }

    static Path file(String name, byte[] content) throws IOException {
        Path f = dir.resolve(name);
        Files.write(f, content);
        return f;
    }

    /** The check's refusal of a file: one line, naming the file. */
    static String refusal(Path f) {
        var e = assertThrows(IllegalArgumentException.class, () -> CheckpointHeader.read(f).requireFits(TINY,
                Checkpoints.HeadPolicy.DROP));
        String m = e.getMessage();
        assertFalse(m.contains("\n"), "one line: " + m);
        assertTrue(m.contains(f.toString()), "names the file: " + m);
        return m;
    }

    @Test
    void aValidCheckpointPassesReadingOnlyItsHeader() throws IOException {
        CheckpointHeader h = CheckpointHeader.read(valid).requireFits(TINY, Checkpoints.HeadPolicy.DROP);
        h.requireFits(TINY, Checkpoints.HeadPolicy.LOAD);
        assertEquals(Checkpoints.Format.SAFETENSORS, h.format());
        assertEquals(bytes.length, h.fileBytes());
        assertEquals(ParameterSpace.of(TINY).tensors().size(), h.ours().size()); // qkv split into q, k, v
        assertEquals(new Shape(8, 8), h.ours().get("blocks.0.attn.k.weight"));
        assertEquals(new Shape(24, 8), h.tensors().stream().filter(t -> t.name().equals("blocks.0.attn.qkv.weight"))
                .findFirst().orElseThrow().shape());
        // the fixtures PyTorch wrote (F32, F16, BF16) and Google's npz layout pass too
        for (String name : new String[] {"weights.safetensors", "weights_f16.safetensors", "weights_bf16.safetensors",
            "weights_google.npz"}) {
            CheckpointHeader.read(ReferenceFixture.file(name)).requireFits(ReferenceFixture.CONFIG,
                    Checkpoints.HeadPolicy.LOAD);
        }
        // of a 2.8 MB checkpoint, the first 64 KiB are read, which hold its header
        Path demo = dir.resolve("demo.safetensors");
        try (NDManager manager = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(manager, VitPresets.get(VitPresets.DEMO), 1), demo);
        }
        CheckpointHeader big = CheckpointHeader.read(demo).requireFits(VitPresets.get(VitPresets.DEMO),
                Checkpoints.HeadPolicy.DROP);
        assertEquals(CheckpointHeader.FIRST_READ, big.bytesRead());
        assertTrue(big.fileBytes() > 40 * big.bytesRead(), big.fileBytes() + " bytes");
        CheckpointHeader npz = CheckpointHeader.read(ReferenceFixture.file("weights_google.npz"));
        assertEquals(Checkpoints.Format.NPZ, npz.format());
        assertTrue(npz.ours().containsKey("blocks.1.mlp.fc2.weight"), npz.ours().keySet().toString());
        assertNull(npz.ours().get("blocks.1.mlp.fc2.weight")); // npz shapes are not read
    }

    @Test
    void aHeaderLengthOfTwoToTheSixtySecondIsRefused() throws IOException {
        byte[] b = bytes.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 62);
        Path f = file("huge-header.safetensors", b);
        assertEquals("checkpoint " + f + " is not usable: its header length (the first 8 bytes, little-endian) claims"
                + " 4611686018427387904 bytes, but the file is " + b.length + " bytes long", refusal(f));
        // a negative one, read as the unsigned 64-bit length it is
        assertTrue(refusal(file("negative.safetensors", withLength(-1))).contains("claims 18446744073709551615 bytes"));
        // within a (pretended) 300 MB file but above the format's 100 MB cap
        byte[] head = withLength(150_000_000);
        var e = assertThrows(IllegalArgumentException.class, () -> CheckpointHeader.read(new CheckpointHeader.Source() {
            @Override
            public String name() {
                return "s3a://bucket/big.safetensors";
            }

            @Override
            public long length() {
                return 300_000_000;
            }

            @Override
            public void readFully(long position, byte[] into) {
                Arrays.fill(into, (byte) ' ');
                if (position < head.length) {
                    System.arraycopy(head, (int) position, into, 0, (int) Math.min(into.length, head.length - position));
                }
            }
        }));
        assertEquals("checkpoint s3a://bucket/big.safetensors is not usable: its header length (the first 8 bytes,"
                + " little-endian) claims 150000000 bytes, more than the 100000000 a safetensors header may have",
                e.getMessage());
    }

    private static byte[] withLength(long n) {
        byte[] b = bytes.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n);
        return b;
    }

    @Test
    void aTensorWhoseOffsetsRunPastTheFileIsNamed() throws IOException {
        byte[] b = edited(h -> {
            var offsets = new JsonArray();
            offsets.add(0);
            offsets.add(1_000_000_000_000L);
            h.getAsJsonObject("cls_token").add("data_offsets", offsets);
        });
        Path f = file("past-the-end.safetensors", b);
        long headerEnd = 8 + parts(b).length();
        assertEquals("checkpoint " + f + " is not usable: tensor 'cls_token' claims bytes [" + headerEnd + ", "
                + (headerEnd + 1_000_000_000_000L) + ") of a " + b.length + "-byte file (data_offsets [0, 1000000000000)"
                + " after the " + headerEnd + "-byte header)", refusal(f));
    }

    @Test
    void aFileCutInHalfIsTruncated() throws IOException {
        byte[] half = Arrays.copyOf(bytes, bytes.length / 2);
        Path f = file("half.safetensors", half);
        assertTrue(parts(bytes).length() + 8 < half.length, "the cut is in the data");
        assertEquals("checkpoint " + f + " is not usable: it is truncated: the file ends at byte " + half.length
                + ", its header promises " + bytes.length, refusal(f));
        // cut inside the header: the header length promises more than the file holds
        Path g = file("stub.safetensors", Arrays.copyOf(bytes, 100));
        assertTrue(refusal(g).contains("but the file is 100 bytes long (truncated?)"), refusal(g));
        // and bytes after the last tensor
        byte[] longer = Arrays.copyOf(bytes, bytes.length + 3);
        assertTrue(refusal(file("longer.safetensors", longer)).endsWith("it has 3 bytes after its last tensor: the file"
                + " ends at byte " + longer.length + ", its header promises " + bytes.length));
    }

    @Test
    void picklesRenamedSafetensorsAreNamedAsPickles() throws IOException {
        Path legacy = file("legacy.safetensors", new byte[] {(byte) 0x80, 2, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc});
        String m = refusal(legacy);
        assertTrue(m.startsWith(legacy + " is a Python pickle (a PyTorch checkpoint in torch.save's legacy format),"
                + " not safetensors or npz"), m);
        assertTrue(m.endsWith("convert it to safetensors once, outside, with: " + Checkpoints.PICKLE_CONVERSION), m);

        var zip = new ByteArrayOutputStream();
        try (var out = new ZipOutputStream(zip)) {
            for (String entry : new String[] {"archive/data.pkl", "archive/byteorder", "archive/data/0", "archive/version"}) {
                out.putNextEntry(new ZipEntry(entry));
                out.write(new byte[] {(byte) 0x80, 2, '.'});
                out.closeEntry();
            }
        }
        Path zipped = file("zipped.safetensors", zip.toByteArray());
        assertTrue(refusal(zipped).startsWith(zipped + " is a Python pickle (a PyTorch checkpoint in torch.save's zip"
                + " format, holding archive/data.pkl), not safetensors or npz"), refusal(zipped));
        // by its name, whatever it holds
        assertTrue(refusal(file("mae_pretrain_vit_base.pth", bytes)).contains("is a Python pickle"));
    }

    @Test
    void aHeaderLengthWhoseLowByteIsThePickleOpcodeIsStillSafetensors() throws IOException {
        // Python's safetensors pads headers to multiples of 8, so one file in 32 starts with 0x80, as a pickle does
        Parts p = parts(bytes);
        String header = p.header().toString();
        int padded = (header.length() / 256 + 1) * 256 + 0x80;
        byte[] b = assemble(header + " ".repeat(padded - header.length()), p.data());
        assertEquals(0x80, b[0] & 0xff);
        Path f = file("padded.safetensors", b);
        CheckpointHeader.read(f).requireFits(TINY, Checkpoints.HeadPolicy.LOAD);
        try (NDManager manager = NDManager.newBaseManager(); StateDict dict = Checkpoints.read(f, manager)) {
            assertEquals(ParameterSpace.of(TINY).tensors().size(), dict.tensors().size());
        }
    }

    @Test
    void malformedHeadersAreNamedInOneLine() throws IOException {
        Parts p = parts(bytes);
        String header = p.header().toString();
        assertTrue(refusal(file("bad-json.safetensors", assemble(header.substring(0, header.length() - 1) + " ", p.data())))
                .contains("its header is not valid JSON: "));
        assertTrue(refusal(file("twice.safetensors", assemble("{\"a\":" + p.header().get("cls_token") + ",\"a\":"
                + p.header().get("cls_token") + "}", new byte[32]))).endsWith("its header names tensor 'a' twice"));
        assertTrue(refusal(file("dtype.safetensors", edited(h -> h.getAsJsonObject("cls_token").addProperty("dtype", "Q4"))))
                .contains("tensor 'cls_token' has dtype 'Q4', which DJL's safetensors reader does not read"));
        assertTrue(refusal(file("shape.safetensors", edited(h -> h.getAsJsonObject("cls_token").addProperty("shape", "big"))))
                .contains("tensor 'cls_token' has shape \"big\", not a list of non-negative integers"));
        // F32 (1, 1, 8) needs 32 bytes; as F16 it would need 16, its offsets still hold 32
        assertTrue(refusal(file("size.safetensors", edited(h -> h.getAsJsonObject("cls_token").addProperty("dtype", "F16"))))
                .contains("tensor 'cls_token' (F16 (1, 1, 8)) needs 16 bytes, but its data_offsets"));
        // two tensors swapped onto the same bytes, and a gap
        byte[] overlap = edited(h -> h.getAsJsonObject("norm.bias").add("data_offsets",
                h.getAsJsonObject("norm.weight").get("data_offsets")));
        assertTrue(refusal(file("overlap.safetensors", overlap)).contains("overlap"), refusal(dir.resolve("overlap.safetensors")));
        assertTrue(refusal(file("meta.safetensors", edited(h -> h.addProperty("__metadata__", 3))))
                .contains("__metadata__ is 3, not an object of strings"));
        // a header whose metadata is a map of strings is fine
        CheckpointHeader.read(file("meta-ok.safetensors", edited(h -> {
            var meta = new JsonObject();
            meta.addProperty("format", "pt");
            h.add("__metadata__", meta);
        }))).requireFits(TINY, Checkpoints.HeadPolicy.DROP);
        assertTrue(refusal(file("empty.safetensors", new byte[0])).endsWith("is not usable: the file is empty"));
        assertTrue(refusal(file("notes.safetensors", "hello, world".getBytes(StandardCharsets.UTF_8)))
                .contains("is neither safetensors nor npz (first bytes 68656c6c6f2c2077)"));
        // a fused qkv that cannot be split
        assertTrue(refusal(file("qkv.safetensors", edited(h -> {
            var shape = new JsonArray();
            shape.add(2);
            shape.add(96);
            h.getAsJsonObject("blocks.0.attn.qkv.weight").add("shape", shape);
        }))).contains("first axis is not a multiple of 3"));
    }

    @Test
    void aCheckpointOfAnotherPresetIsRefusedAsLoadWouldRefuseIt() throws IOException {
        var wider = new VitConfig("ckpt_wider", 8, 4, 3, 12, 1, 2, 16, 3, 1e-6, 0.0);
        var e = assertThrows(IllegalArgumentException.class,
                () -> CheckpointHeader.read(valid).requireFits(wider, Checkpoints.HeadPolicy.DROP));
        assertTrue(e.getMessage().startsWith("checkpoint " + valid + " holds a ViT with width 8, depth 1, patch 4 and 5"
                + " tokens, but preset ckpt_wider has width 12"), e.getMessage());
        // the head: dropped, any class count; loaded, the task's
        CheckpointHeader.read(valid).requireFits(TINY.withNumClasses(7), Checkpoints.HeadPolicy.DROP);
        e = assertThrows(IllegalArgumentException.class,
                () -> CheckpointHeader.read(valid).requireFits(TINY.withNumClasses(7), Checkpoints.HeadPolicy.LOAD));
        assertTrue(e.getMessage().contains("tensor 'head.weight' has shape (3, 8) but ckpt_tiny with 7 classes expects"
                + " (7, 8)"), e.getMessage());
        // a missing tensor and an unexpected one, as Checkpoints.load names them
        byte[] renamed = edited(h -> h.add("fc_norm.bias", h.remove("norm.bias")));
        Path f = file("renamed.safetensors", renamed);
        e = assertThrows(IllegalArgumentException.class,
                () -> CheckpointHeader.read(f).requireFits(TINY, Checkpoints.HeadPolicy.DROP));
        assertEquals("checkpoint " + f + " does not fit ckpt_tiny: unexpected tensors [fc_norm.bias]; missing tensor"
                + " 'norm.bias' (8)", e.getMessage());
    }

    @Test
    void npzFilesGetTheirZipDirectoryChecked() throws IOException {
        byte[] npz = Files.readAllBytes(ReferenceFixture.file("weights_google.npz"));
        Path cut = file("cut.npz", Arrays.copyOf(npz, npz.length / 2));
        assertTrue(refusal(cut).contains("it starts as a zip (npz) but is not a complete one: no end-of-central-directory"
                + " record"), refusal(cut));
        var zip = new ByteArrayOutputStream();
        try (var out = new ZipOutputStream(zip)) {
            out.putNextEntry(new ZipEntry("photo.jpg"));
            out.write(new byte[] {1, 2, 3});
            out.closeEntry();
        }
        Path photos = file("photos.npz", zip.toByteArray());
        assertTrue(refusal(photos).endsWith("it is a zip but holds 'photo.jpg', not a .npy array: not a NumPy .npz"
                + " checkpoint"), refusal(photos));
        zip.reset();
        try (var out = new ZipOutputStream(zip)) {
            out.putNextEntry(new ZipEntry("Transformer/encoderblock_0/Unknown/kernel.npy"));
            out.write(new byte[] {1, 2, 3});
            out.closeEntry();
        }
        Path foreign = file("foreign.npz", zip.toByteArray());
        assertTrue(refusal(foreign).contains("unexpected tensor 'Transformer/encoderblock_0/Unknown/kernel' in Google ViT"
                + " checkpoint " + foreign), refusal(foreign));
        // its central directory pointing past the file
        byte[] bad = npz.clone();
        var b = ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN);
        int eocd = bad.length - 22;
        assertEquals(0x06054b50, b.getInt(eocd), "the fixture's zip has no comment");
        b.putInt(eocd + 16, bad.length);
        assertTrue(refusal(file("moved.npz", bad)).contains("its zip directory claims bytes ["), "directory past the end");
        // a Google checkpoint of another depth
        var e = assertThrows(IllegalArgumentException.class, () -> CheckpointHeader.read(ReferenceFixture.file(
                "weights_google.npz")).requireFits(new VitConfig("vit_reference_deeper", 16, 4, 3, 32, 3, 4, 64, 5, 1e-6, 0.0),
                        Checkpoints.HeadPolicy.DROP));
        assertTrue(e.getMessage().contains("missing tensor 'blocks.2.norm1.weight'"), e.getMessage());
    }
}
