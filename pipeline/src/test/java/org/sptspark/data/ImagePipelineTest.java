package org.sptspark.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** Decoding and resizing against PIL's results on the same files ({@code image_reference.py}). */
class ImagePipelineTest {

    static final Path DIR = Path.of("src/test/resources/fixtures/images");

    static RgbImage decode(String name) throws IOException {
        return ImageDecoder.decode(Files.readAllBytes(DIR.resolve(name)), name);
    }

    @ParameterizedTest
    @ValueSource(strings = {"rgb.png", "gray.png", "palette.png", "rgba.png", "photo.jpg"})
    void decodingEqualsPilsConvertRgb(String name) throws IOException {
        RgbImage image = decode(name);
        assertEquals(37, image.width());
        assertEquals(23, image.height());
        byte[] expected = Files.readAllBytes(DIR.resolve(name.substring(0, name.indexOf('.')) + ".rgb"));
        if (name.endsWith(".jpg")) {
            // JPEG decoders may differ in IDCT rounding; libjpeg and the JDK agree to within a level or two
            assertTrue(maxDiff(expected, image.rgb()) <= 2, name + " differs by " + maxDiff(expected, image.rgb()));
        } else {
            assertArrayEquals(expected, image.rgb(), name);
        }
    }

    @Test
    void sixteenBitGrayKeepsTheHighByteWherePilWouldClip() throws IOException {
        assertArrayEquals(Files.readAllBytes(DIR.resolve("gray16_highbyte.rgb")), decode("gray16.png").rgb());
    }

    @Test
    void cmykJpegsDecodeCloseToPil() throws IOException {
        RgbImage image = decode("cmyk.jpg");
        byte[] expected = Files.readAllBytes(DIR.resolve("cmyk.rgb"));
        // PIL inverts CMYK naively, TwelveMonkeys converts with colour management: compare the means
        assertEquals(mean(expected), mean(image.rgb()), 12.0, "mean level of the CMYK image");
    }

    @ParameterizedTest
    @CsvSource({"16, 16", "224, 224", "50, 9", "37, 60"})
    void bicubicResizeEqualsPils(int width, int height) throws IOException {
        RgbImage resized = ImagePreprocessor.resize(decode("rgb.png"), width, height);
        byte[] expected = Files.readAllBytes(DIR.resolve("rgb_" + width + "x" + height + ".rgb"));
        assertArrayEquals(expected, resized.rgb(), "resize to " + width + "x" + height);
    }

    @Test
    void tensorIsChwNormalised() throws IOException {
        RgbImage image = decode("rgb.png");
        float[] t = ImagePreprocessor.toTensor(image, 16, Normalization.IMAGENET);
        byte[] resized = Files.readAllBytes(DIR.resolve("rgb_16x16.rgb"));
        // channel 1 (green) of pixel (x=3, y=5): plane offset 256, index 5 * 16 + 3
        int g = resized[3 * (5 * 16 + 3) + 1] & 0xff;
        assertEquals((g / 255f - 0.456f) / 0.224f, t[256 + 5 * 16 + 3], 1e-6);
        assertEquals(3 * 16 * 16, t.length);
    }

    @Test
    void undecodableBytesNameTheFile() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> ImageDecoder.decode("not an image".getBytes(), "images/test/000017.jpg"));
        assertTrue(e.getMessage().contains("images/test/000017.jpg"), e.getMessage());
    }

    private static int maxDiff(byte[] a, byte[] b) {
        assertEquals(a.length, b.length);
        int m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((a[i] & 0xff) - (b[i] & 0xff)));
        }
        return m;
    }

    private static double mean(byte[] a) {
        double s = 0;
        for (byte v : a) {
            s += v & 0xff;
        }
        return s / a.length;
    }
}
