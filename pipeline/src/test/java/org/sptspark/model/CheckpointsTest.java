package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointsTest {

    @TempDir
    Path dir;

    @Test
    void writtenCheckpointUsesTimmsFusedQkvAndReadsBackBitIdentical() throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = VisionTransformer.create(manager, VitPresets.get(VitPresets.DEMO), 42);
            Path file = dir.resolve("demo.safetensors");
            Checkpoints.write(model, file);

            List<String> names = new ArrayList<>();
            try (InputStream in = Files.newInputStream(file)) {
                for (NDArray a : NDList.decode(manager, in)) {
                    names.add(a.getName());
                }
            }
            assertTrue(names.contains("blocks.0.attn.qkv.weight") && names.contains("blocks.5.attn.qkv.bias"));
            assertTrue(names.stream().noneMatch(n -> n.contains(".attn.q.")));
            assertEquals(model.namedParameters().size() - 2 * 2 * model.config().depth(), names.size());

            var copy = VisionTransformer.create(manager, model.config(), 7);
            try (StateDict dict = Checkpoints.read(file, manager)) {
                assertEquals(Checkpoints.sha256(file), dict.sha256());
                Checkpoints.load(copy, dict, Checkpoints.HeadPolicy.LOAD);
            }
            for (String name : model.namedParameters().keySet()) {
                assertArrayEquals(model.parameter(name).getArray().toFloatArray(),
                        copy.parameter(name).getArray().toFloatArray(), name);
            }
        }
    }

    @Test
    void droppingTheHeadKeepsTheModelsOwnHeadAndAcceptsAnotherClassCount() throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            var upstream = VisionTransformer.create(manager, ReferenceFixture.CONFIG, 3);
            var downstream = VisionTransformer.create(manager, ReferenceFixture.CONFIG.withNumClasses(9), 4);
            float[] head = downstream.parameter("head.weight").getArray().toFloatArray();
            try (StateDict dict = Checkpoints.read(ReferenceFixture.file("weights.safetensors"), manager)) {
                var e = assertThrows(IllegalArgumentException.class,
                        () -> Checkpoints.load(downstream, dict, Checkpoints.HeadPolicy.LOAD));
                assertTrue(e.getMessage().contains("'head.weight' has shape (5, 32)"), e.getMessage());
                assertTrue(e.getMessage().contains("expects (9, 32)"), e.getMessage());
                Checkpoints.load(downstream, dict, Checkpoints.HeadPolicy.DROP);
                Checkpoints.load(upstream, dict, Checkpoints.HeadPolicy.LOAD);
            }
            assertArrayEquals(head, downstream.parameter("head.weight").getArray().toFloatArray());
            assertArrayEquals(upstream.parameter("blocks.1.mlp.fc2.weight").getArray().toFloatArray(),
                    downstream.parameter("blocks.1.mlp.fc2.weight").getArray().toFloatArray());
        }
    }

    @Test
    void missingUnexpectedAndMisshapenTensorsAreAllNamed() throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            var model = VisionTransformer.create(manager, ReferenceFixture.CONFIG, 3);
            NDList list = new NDList();
            try (StateDict dict = Checkpoints.read(ReferenceFixture.file("weights.safetensors"), manager)) {
                for (var e : dict.tensors().entrySet()) {
                    NDArray a = e.getValue().duplicate();
                    String name = e.getKey();
                    if (name.equals("blocks.1.norm2.bias")) {
                        continue; // missing
                    }
                    if (name.equals("blocks.0.mlp.fc1.bias")) {
                        a = a.get("0:10"); // wrong shape
                    }
                    a.setName(name);
                    list.add(a);
                }
            }
            NDArray extra = manager.zeros(new ai.djl.ndarray.types.Shape(4));
            extra.setName("fc_norm.weight");
            list.add(extra);
            Path file = dir.resolve("broken.safetensors");
            try (var out = Files.newOutputStream(file)) {
                list.encode(out, NDList.Encoding.SAFETENSORS);
            }
            try (StateDict dict = Checkpoints.read(file, manager)) {
                var e = assertThrows(IllegalArgumentException.class,
                        () -> Checkpoints.load(model, dict, Checkpoints.HeadPolicy.LOAD));
                String m = e.getMessage();
                assertTrue(m.contains("broken.safetensors"), m);
                assertTrue(m.contains("missing tensor 'blocks.1.norm2.bias' (32)"), m);
                assertTrue(m.contains("unexpected tensors [fc_norm.weight]"), m);
                assertTrue(m.contains("'blocks.0.mlp.fc1.bias' has shape (10) but vit_reference expects (64)"), m);
            }
        }
    }

    @Test
    void aCheckpointOfAnotherArchitectureNamesTheMatchingPreset() throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            var demo = VisionTransformer.create(manager, VitPresets.get(VitPresets.DEMO_FINE), 1);
            Path file = dir.resolve("demo.safetensors");
            Checkpoints.write(demo, file);
            var other = VisionTransformer.create(manager, ReferenceFixture.CONFIG, 1);
            try (StateDict dict = Checkpoints.read(file, manager)) {
                var e = assertThrows(IllegalArgumentException.class,
                        () -> Checkpoints.load(other, dict, Checkpoints.HeadPolicy.DROP));
                assertTrue(e.getMessage().contains("width 96, depth 6, patch 4 and 65 tokens (like preset "
                        + VitPresets.DEMO_FINE + "), but preset vit_reference has width 32"), e.getMessage());
            }
        }
    }

    @Test
    void picklesAreRefusedByNameAndByContentWithTheConversionOneLiner() throws IOException {
        try (NDManager manager = NDManager.newBaseManager()) {
            Path byName = dir.resolve("mae_pretrain_vit_base.pth");
            Files.write(byName, new byte[] {1, 2, 3});
            var e = assertThrows(IllegalArgumentException.class, () -> Checkpoints.read(byName, manager));
            assertTrue(e.getMessage().contains("pickle") && e.getMessage().contains(Checkpoints.PICKLE_CONVERSION));

            Path legacy = dir.resolve("legacy.bin"); // torch.save's legacy format starts with the PROTO opcode
            Files.write(legacy, new byte[] {(byte) 0x80, 2, (byte) 0x8a, 0x0a});
            assertThrows(IllegalArgumentException.class, () -> Checkpoints.read(legacy, manager));

            Path zipped = dir.resolve("model.bin"); // torch.save's zip format holds archive/data.pkl
            var bytes = new ByteArrayOutputStream();
            try (var zip = new ZipOutputStream(bytes)) {
                zip.putNextEntry(new ZipEntry("archive/data.pkl"));
                zip.write(new byte[] {(byte) 0x80, 2, '.'});
                zip.closeEntry();
            }
            Files.write(zipped, bytes.toByteArray());
            e = assertThrows(IllegalArgumentException.class, () -> Checkpoints.read(zipped, manager));
            assertTrue(e.getMessage().contains("model.bin is a Python pickle"), e.getMessage());

            Path text = dir.resolve("notes.safetensors");
            Files.write(text, "hello, world".getBytes(StandardCharsets.UTF_8));
            e = assertThrows(IllegalArgumentException.class, () -> Checkpoints.read(text, manager));
            assertTrue(e.getMessage().contains("neither safetensors nor npz"), e.getMessage());
        }
    }
}
