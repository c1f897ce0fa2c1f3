package org.sptspark.data;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import javax.imageio.ImageIO;

/**
 * Decodes JPEG and PNG bytes to 8-bit RGB the way PIL's {@code Image.convert("RGB")} does, which
 * the reference's loader applies: grayscale is replicated, palette colours are looked up, alpha is
 * dropped (not composited), 16-bit samples keep their high byte. CMYK and YCCK JPEGs are decoded by
 * the TwelveMonkeys plugin with colour management, which may differ from PIL's naive CMYK
 * inversion by a few levels.
 */
public final class ImageDecoder {

    static {
        // plugins on the class path (TwelveMonkeys JPEG) are found even under Spark's class loaders
        ImageIO.setUseCache(false);
        ImageIO.scanForPlugins();
    }

    private ImageDecoder() {}

    /**
     * @param source the image's path, for messages
     * @throws IllegalArgumentException when the bytes are not a decodable JPEG or PNG
     */
    public static RgbImage decode(byte[] bytes, String source) {
        BufferedImage image;
        try {
            image = ImageIO.read(new ByteArrayInputStream(bytes));
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("cannot decode image " + source + ": " + e.getMessage(), e);
        }
        if (image == null) {
            throw new IllegalArgumentException("cannot decode image " + source + ": not a JPEG or PNG ("
                    + bytes.length + " bytes)");
        }
        return toRgb(image);
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
