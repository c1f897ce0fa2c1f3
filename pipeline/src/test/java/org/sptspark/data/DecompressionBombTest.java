package org.sptspark.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.bench.PreprocessBenchmark;
import org.sptspark.tuning.LabeledImages;

/**
 * Decompression bombs: a hand-made PNG whose header declares 20000x20000 pixels (its IDAT holds one
 * row) is refused from its header, before any raster is allocated, by the checker, by the decoding
 * that training, evaluation and sensitivity use, naming the file, its list line and its size; an
 * image above half the limit decodes with a warning (shown with a lowered limit).
 */
class DecompressionBombTest {

    static final TaskSpec TOY = new TaskSpec("toy", 2, "natural", TaskSpec.Layout.VTAB, null, null);

    /** 20000x20000 RGB declared; a 1.6 GB raster if anything tried to decode it. */
    static final byte[] BOMB = PreprocessBenchmark.decompressionBomb(20000, 20000, false);

    static final String REASON = "20000x20000 = 400,000,000 pixels, above the limit of 178,956,970 (PIL's);"
            + " raise --max-image-pixels to allow it";

    @TempDir
    Path root;

    @BeforeEach
    void writeToyTask() throws IOException {
        Path images = Files.createDirectories(root.resolve("toy/images"));
        for (int i = 0; i < 3; i++) {
            ImageIO.write(new BufferedImage(8 + i, 8, BufferedImage.TYPE_INT_RGB), "png",
                    images.resolve("ok" + i + ".png").toFile());
        }
        Files.write(images.resolve("bomb.png"), BOMB);
        for (String split : new String[] {"train800", "val200", "train800val200", "test"}) {
            list(split, "images/ok0.png 0", "images/ok1.png 1", "images/ok2.png 0");
        }
    }

    private void list(String split, String... lines) throws IOException {
        Files.writeString(root.resolve("toy/" + split + ".txt"), String.join("\n", lines) + "\n", StandardCharsets.UTF_8);
    }

    @Test
    void theBombIsRefusedFromItsHeaderWithoutAllocatingItsRaster() {
        assertTrue(BOMB.length < 200, BOMB.length + " bytes");
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        ImageDecoder.decode(PreprocessBenchmark.sample(8, 8, "png"), "warm-up"); // ImageIO's plugins load once
        long before = threads.getThreadAllocatedBytes(Thread.currentThread().getId());
        var e = assertThrows(ImageTooLargeException.class,
                () -> ImageDecoder.decode(BOMB, "images/bomb.png (train800.txt line 17)"));
        long allocated = threads.getThreadAllocatedBytes(Thread.currentThread().getId()) - before;
        assertEquals("images/bomb.png (train800.txt line 17): " + REASON, e.getMessage());
        assertEquals(20000, e.width());
        assertEquals(DataLimits.PIL_MAX_IMAGE_PIXELS, e.limit());
        // the header only: nothing near the 1.2 GB of samples (or even one 60 KB row of them) is allocated
        assertTrue(allocated < 4 << 20, allocated + " bytes allocated");
    }

    @Test
    void dataCheckRefusesTheBombNamingFileLineAndSizeAndLenientModeReportsIt() throws IOException {
        list("train800", "images/ok0.png 0", "images/ok1.png 1", "images/bomb.png 0");
        var checker = new DatasetChecker(new Configuration());
        var e = assertThrows(IllegalArgumentException.class, () -> checker.check(root.toString(), TOY, true, false));
        assertTrue(e.getMessage().endsWith("/toy/images/bomb.png (train800.txt line 3): " + REASON), e.getMessage());
        var report = checker.check(root.toString(), TOY, true, true);
        assertEquals(1, report.problems().size());
        assertEquals(REASON, report.problems().get(0).reason());
        assertTrue(report.problems().get(0).toString().endsWith("bomb.png (train800.txt line 3): " + REASON));
        // existence alone is checked without decoding: the bomb is only refused where images are decoded
        assertEquals(0, checker.check(root.toString(), TOY, false, false).problems().size());
    }

    @Test
    void trainingEvaluationAndSensitivityDecodingRefuseTheBomb() throws IOException {
        list("train800val200", "images/ok0.png 0", "images/bomb.png 1");
        var hadoop = new Configuration();
        List<Sample> samples = new DatasetReader(hadoop).read(root.toString(), TOY, Split.TRAINVAL);
        // training holds its splits decoded (LabeledImages.load)
        var e = assertThrows(ImageTooLargeException.class,
                () -> LabeledImages.load(samples, hadoop, 16, Normalization.IMAGENET));
        assertTrue(e.getMessage().endsWith("/toy/images/bomb.png (train800val200.txt line 2): " + REASON), e.getMessage());
        // evaluation streams batches (LabeledImages.stream, through ImageBatch.of)
        var stream = LabeledImages.stream(samples, hadoop, 16, Normalization.IMAGENET, 8).iterator();
        e = assertThrows(ImageTooLargeException.class, stream::next);
        assertTrue(e.getMessage().endsWith("bomb.png (train800val200.txt line 2): " + REASON), e.getMessage());
        // sensitivity decodes each batch's bytes on the executors with the configuration's limit
        var bytes = List.of(Files.readAllBytes(root.resolve("toy/images/ok0.png")), BOMB);
        var sources = samples.stream().map(Sample::describe).toList();
        e = assertThrows(ImageTooLargeException.class, () -> ImageBatch.of(bytes, sources, new long[] {0, 1},
                new long[] {0, 1}, 16, Normalization.IMAGENET, DataLimits.of(hadoop).maxImagePixels()));
        assertTrue(e.getMessage().endsWith("bomb.png (train800val200.txt line 2): " + REASON), e.getMessage());
    }

    @Test
    void aRaisedLimitIsReadFromTheConfigurationAndALoweredOneRefusesNormalImages() throws IOException {
        var hadoop = new Configuration();
        hadoop.set(DataLimits.MAX_IMAGE_PIXELS, "79"); // the toy's images are 8x8, 9x8 and 10x8
        List<Sample> samples = new DatasetReader(hadoop).read(root.toString(), TOY, Split.TRAIN);
        var e = assertThrows(ImageTooLargeException.class, () -> LabeledImages.load(samples, hadoop, 16,
                Normalization.IMAGENET));
        assertTrue(e.getMessage().contains("ok2.png (train800.txt line 3): 10x8 = 80 pixels, above the limit of 79;"
                + " raise --max-image-pixels to allow it"), e.getMessage());
        hadoop.set(DataLimits.MAX_IMAGE_PIXELS, "1,000");
        assertEquals(3, LabeledImages.load(samples, hadoop, 16, Normalization.IMAGENET).count());
        hadoop.set(DataLimits.MAX_IMAGE_PIXELS, "lots");
        var bad = assertThrows(IllegalArgumentException.class, () -> DataLimits.of(hadoop));
        assertTrue(bad.getMessage().contains("spt.data.max-image-pixels: 'lots' is not a whole number"), bad.getMessage());
        hadoop.set(DataLimits.MAX_IMAGE_PIXELS, "0");
        assertThrows(IllegalArgumentException.class, () -> DataLimits.of(hadoop));
    }

    @Test
    void theSystemPropertyIsTheFallbackAndTheConfigurationWins() {
        assertEquals(DataLimits.DEFAULT, DataLimits.of(new Configuration()));
        System.setProperty(DataLimits.MAX_IMAGE_PIXELS, "5000");
        System.setProperty(DataLimits.ALLOW_OUTSIDE_PATHS, "true");
        try {
            assertEquals(new DataLimits(5000, true), DataLimits.fromSystem());
            var hadoop = new Configuration();
            hadoop.set(DataLimits.MAX_IMAGE_PIXELS, "7000");
            assertEquals(new DataLimits(7000, true), DataLimits.of(hadoop));
            assertEquals(new DataLimits(9, false), DataLimits.of(new DataLimits(9, false).applyTo(new Configuration())));
        } finally {
            System.clearProperty(DataLimits.MAX_IMAGE_PIXELS);
            System.clearProperty(DataLimits.ALLOW_OUTSIDE_PATHS);
        }
    }

    @Test
    void aboveHalfTheLimitAnImageDecodesWithAWarningAndDataCheckReportsIt() {
        // PIL: DecompressionBombWarning above MAX_IMAGE_PIXELS, the error above twice that
        var warnings = new ArrayList<String>();
        ImageDecoder.checkSize(9000, 9943, "a.png", DataLimits.PIL_MAX_IMAGE_PIXELS, warnings::add); // 89,487,000
        assertEquals(List.of("a.png: 9000x9943 = 89,487,000 pixels, above half the limit of 178,956,970 (PIL's);"
                + " decoding it anyway"), warnings);
        warnings.clear();
        ImageDecoder.checkSize(89_478_485, 1, "b.png", DataLimits.PIL_MAX_IMAGE_PIXELS, warnings::add); // PIL: no warning
        ImageDecoder.checkSize(178_956_970, 1, "c.png", DataLimits.PIL_MAX_IMAGE_PIXELS, w -> { }); // PIL: warning only
        assertEquals(List.of(), warnings);
        assertThrows(ImageTooLargeException.class,
                () -> ImageDecoder.checkSize(178_956_971, 1, "d.png", DataLimits.PIL_MAX_IMAGE_PIXELS, w -> { }));

        // the toy's images are 8x8, 9x8 and 10x8: with a limit of 150, the 10x8 one (80 > 75) warns
        var hadoop = new Configuration();
        hadoop.set(DataLimits.MAX_IMAGE_PIXELS, "150");
        var report = new DatasetChecker(hadoop).check(root.toString(), TOY, true, false);
        assertEquals(List.of(), report.problems());
        List<String> train = report.splits().get(Split.TRAIN.ordinal()).warnings();
        assertEquals(1, train.size(), train.toString());
        assertTrue(train.get(0).endsWith("/toy/images/ok2.png (train800.txt line 3): 10x8 = 80 pixels, above half the"
                + " limit of 150; decoding it anyway"), train.get(0));
        assertEquals(4, report.warnings().size());
    }

    @Test
    void theCompleteBombIsAValidPngOfTheDeclaredSize() throws Exception {
        // the one that the benchmark refuses: its data is all there (ImageIO reads its header as PIL does)
        byte[] complete = PreprocessBenchmark.decompressionBomb(2000, 1000, true);
        try (var in = ImageIO.createImageInputStream(new java.io.ByteArrayInputStream(complete))) {
            var reader = ImageIO.getImageReaders(in).next();
            reader.setInput(in);
            assertEquals(2000, reader.getWidth(0));
            assertEquals(1000, reader.getHeight(0));
            reader.dispose();
        }
        RgbImage image = ImageDecoder.decode(complete, "small bomb");
        assertEquals(2000 * 1000 * 3, image.rgb().length);
    }
}
