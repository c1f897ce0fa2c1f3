package org.sptspark.bench;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.sptspark.data.ImageDecoder;
import org.sptspark.data.ImagePreprocessor;
import org.sptspark.data.Normalization;
import org.sptspark.data.StructuredTaskGenerator;

/** Decode + resize + normalise throughput on one thread, for encoded images of a given kind. */
public final class PreprocessBenchmark {

    /** Figures for one input kind. */
    public record Result(String input, int bytes, int outputSize, double imagesPerSecond) {}

    private PreprocessBenchmark() {}

    /** A photo-like test image: generated shapes upscaled, with noise so the encoder cannot cheat. */
    public static byte[] sample(int width, int height, String format) {
        var small = new StructuredTaskGenerator(StructuredTaskGenerator.Kind.CLEVR_COUNT, 32, 0).item("test", 0).image();
        var image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(small, 0, 0, width, height, null);
        g.dispose();
        var random = new SplittableRandom(1);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int rgb = image.getRGB(x, y);
                int n = random.nextInt(-12, 13);
                int r = clamp((rgb >> 16 & 0xff) + n);
                int gr = clamp((rgb >> 8 & 0xff) + n);
                int b = clamp((rgb & 0xff) + n);
                image.setRGB(x, y, r << 16 | gr << 8 | b);
            }
        }
        var out = new ByteArrayOutputStream();
        try {
            ImageIO.write(image, format, out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(255, v));
    }

    /** Images per second over at least {@code seconds} of repeated decode + preprocess, after a warm-up. */
    public static Result run(String input, byte[] encoded, int outputSize, double seconds) {
        for (int i = 0; i < 20; i++) {
            ImagePreprocessor.toTensor(ImageDecoder.decode(encoded, input), outputSize, Normalization.IMAGENET);
        }
        long start = System.nanoTime();
        long deadline = start + (long) (seconds * 1e9);
        int n = 0;
        while (System.nanoTime() < deadline) {
            ImagePreprocessor.toTensor(ImageDecoder.decode(encoded, input), outputSize, Normalization.IMAGENET);
            n++;
        }
        return new Result(input, encoded.length, outputSize, n / ((System.nanoTime() - start) / 1e9));
    }
}
