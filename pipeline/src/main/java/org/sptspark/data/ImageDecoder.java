package org.sptspark.data;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Iterator;
import java.util.Locale;
import java.util.function.Consumer;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * Decodes JPEG and PNG bytes to 8-bit RGB the way PIL's {@code Image.convert("RGB")} does, which
 * the reference's loader applies: grayscale is replicated, palette colours are looked up, alpha is
 * dropped (not composited), 16-bit samples keep their high byte. CMYK and YCCK JPEGs are decoded by
 * the TwelveMonkeys plugin with colour management, which may differ from PIL's naive CMYK
 * inversion by a few levels.
 *
 * <p>Decompression bombs (a small file whose header declares a huge image) are refused from the
 * header, before decoding, above {@link DataLimits#maxImagePixels()} (PIL's limit by default).
 */
public final class ImageDecoder {

    static {
        // plugins on the class path (TwelveMonkeys JPEG) are found even under Spark's class loaders
        ImageIO.setUseCache(false);
        ImageIO.scanForPlugins();
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ImageDecoder.class);

    private ImageDecoder() {}

    /**
     * Decodes under the pixel limit the system properties set (else PIL's), warnings to the log.
     *
     * @param source the image's path, for messages
     * @throws IllegalArgumentException when the bytes are not a decodable JPEG or PNG
     * @throws ImageTooLargeException when the header declares more pixels than the limit
     */
    public static RgbImage decode(byte[] bytes, String source) {
        return decode(bytes, source, DataLimits.fromSystem().maxImagePixels());
    }

    /** As {@link #decode(byte[], String)}, under {@code maxPixels}; warnings to the log. */
    public static RgbImage decode(byte[] bytes, String source, long maxPixels) {
        return decode(bytes, source, maxPixels, LOG::warn);
    }

    /**
     * Reads the header first (width and height, from {@code ImageReader.getWidth/getHeight}, which
     * for PNG, JPEG, GIF and BMP parse the header only), refuses an image above {@code maxPixels}
     * before anything is decoded or allocated, and reports one above half of it to {@code warnings}
     * (PIL's {@code DecompressionBombWarning}); then decodes with the same reader, as
     * {@code ImageIO.read} would.
     *
     * @param source the image as messages name it (its path, and where it is listed when known)
     * @param warnings receives one line for an image above half the limit
     * @throws IllegalArgumentException when the bytes are not a decodable image
     * @throws ImageTooLargeException when the header declares more than {@code maxPixels} pixels
     */
    public static RgbImage decode(byte[] bytes, String source, long maxPixels, Consumer<String> warnings) {
        BufferedImage image = null;
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers != null && readers.hasNext()) {
                ImageReader reader = readers.next();
                try {
                    reader.setInput(in, true, true);
                    checkSize(reader.getWidth(0), reader.getHeight(0), source, maxPixels, warnings);
                    image = reader.read(0, reader.getDefaultReadParam());
                } finally {
                    reader.dispose();
                }
            }
        } catch (ImageTooLargeException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("cannot decode image " + source + ": " + e.getMessage(), e);
        }
        if (image == null) {
            throw new IllegalArgumentException("cannot decode image " + source + ": not a JPEG or PNG ("
                    + bytes.length + " bytes)");
        }
        return toRgb(image);
    }

    /**
     * PIL's decompression-bomb check on a header's size: refused above {@code maxPixels}, a warning
     * above half of it.
     *
     * @throws ImageTooLargeException above the limit
     */
    public static void checkSize(long width, long height, String source, long maxPixels, Consumer<String> warnings) {
        long pixels = Math.max(1, width) * Math.max(1, height);
        if (pixels > maxPixels) {
            throw new ImageTooLargeException(source, width, height, maxPixels);
        }
        if (pixels > maxPixels / 2) {
            warnings.accept(String.format(Locale.ROOT,
                    "%s: %dx%d = %,d pixels, above half the limit of %s; decoding it anyway",
                    source, width, height, pixels, DataLimits.describeLimit(maxPixels)));
        }
    }

    static RgbImage toRgb(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        byte[] rgb = new byte[3 * w * h];
        Raster raster = image.getRaster();
        boolean gray = image.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY
                && image.getColorModel().getNumColorComponents() == 1
                && image.getColorModel() instanceof java.awt.image.ComponentColorModel;
        if (gray) {
            // raw samples: getRGB would apply the linear-gray to sRGB conversion, which PIL does not
            int bits = image.getColorModel().getComponentSize(0);
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                raster.getSamples(0, y, w, 1, 0, row);
                for (int x = 0; x < w; x++) {
                    int v = bits == 8 ? row[x] : bits > 8 ? row[x] >>> (bits - 8) : row[x] * 255 / ((1 << bits) - 1);
                    int o = 3 * (y * w + x);
                    rgb[o] = rgb[o + 1] = rgb[o + 2] = (byte) v;
                }
            }
        } else {
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                image.getRGB(0, y, w, 1, row, 0, w); // non-premultiplied sRGB; alpha dropped below
                for (int x = 0; x < w; x++) {
                    int o = 3 * (y * w + x);
                    rgb[o] = (byte) (row[x] >>> 16);
                    rgb[o + 1] = (byte) (row[x] >>> 8);
                    rgb[o + 2] = (byte) row[x];
                }
            }
        }
        return new RgbImage(w, h, rgb);
    }
}
