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
import org.sptspark.data.ImageTooLargeException;
import org.sptspark.data.Normalization;
import org.sptspark.data.StructuredTaskGenerator;

/** Decode + resize + normalise throughput on one thread, for encoded images of a given kind. */
public final class PreprocessBenchmark {

    /** Figures for one input kind. */
    public record Result(String input, int bytes, int outputSize, double imagesPerSecond) {}

    /**
     * What decoding one image costs on one thread, or refusing it when its header is above the limit.
     *
     * @param milliseconds per image, after a warm-up
     * @param allocatedBytes heap allocated per image by the decoding thread (the JVM's per-thread counter)
     * @param refused whether the decoder refused it ({@link ImageTooLargeException})
     */
    public record Cost(String input, int bytes, double milliseconds, long allocatedBytes, boolean refused) {}

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

    /**
     * A decompression bomb: a PNG whose header declares {@code width x height} 8-bit RGB pixels, written
     * by hand (ImageIO would need the whole raster). With {@code complete} its IDAT holds every
     * (all-zero) row, deflated: a valid image, about 1.1 MB for 20000x20000, that PIL refuses and that
     * decoding would expand to 1.2 GB of samples; without, the IDAT holds one row only (a few dozen
     * bytes; a decoder would fail at the end of the data, after allocating the whole raster).
     */
    public static byte[] decompressionBomb(int width, int height, boolean complete) {
        var out = new ByteArrayOutputStream();
        try {
            out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
            var ihdr = java.nio.ByteBuffer.allocate(13).putInt(width).putInt(height)
                    .put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0); // 8-bit RGB, no interlace
            chunk(out, "IHDR", ihdr.array());
            var deflated = new ByteArrayOutputStream();
            var deflater = new java.util.zip.Deflater(java.util.zip.Deflater.BEST_COMPRESSION);
            try (var z = new java.util.zip.DeflaterOutputStream(deflated, deflater, 1 << 16)) {
                byte[] row = new byte[1 + 3 * width]; // filter byte 0, then zero samples
                for (int y = 0; y < (complete ? height : 1); y++) {
                    z.write(row);
                }
            } finally {
                deflater.end();
            }
            chunk(out, "IDAT", deflated.toByteArray());
            chunk(out, "IEND", new byte[0]);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) throws IOException {
        byte[] name = type.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        out.write(java.nio.ByteBuffer.allocate(4).putInt(data.length).array());
        out.write(name);
        out.write(data);
        var crc = new java.util.zip.CRC32();
        crc.update(name);
        crc.update(data);
        out.write(java.nio.ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(255, v));
    }

    /** Decoding (without resizing) {@code encoded} under {@code maxPixels}, {@code repeats} times after a warm-up. */
    public static Cost cost(String input, byte[] encoded, long maxPixels, int repeats) {
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        boolean refused = false;
        for (int i = 0; i < Math.max(3, repeats / 10); i++) {
            refused = decodeOrRefuse(encoded, input, maxPixels);
        }
        long id = Thread.currentThread().getId();
        long allocated = threads.getThreadAllocatedBytes(id);
        long start = System.nanoTime();
        for (int i = 0; i < repeats; i++) {
            decodeOrRefuse(encoded, input, maxPixels);
        }
        double ms = (System.nanoTime() - start) / 1e6 / repeats;
        return new Cost(input, encoded.length, ms, (threads.getThreadAllocatedBytes(id) - allocated) / repeats, refused);
    }

    private static boolean decodeOrRefuse(byte[] encoded, String input, long maxPixels) {
        try {
            ImageDecoder.decode(encoded, input, maxPixels, warning -> { });
            return false;
        } catch (ImageTooLargeException e) {
            return true;
        }
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
