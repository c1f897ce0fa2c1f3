package org.sptspark.data;

/**
 * An 8-bit RGB image, interleaved row-major ({@code rgb[3 * (y * width + x) + c]}).
 */
public record RgbImage(int width, int height, byte[] rgb) {

    public RgbImage {
        if (width < 1 || height < 1 || rgb.length != 3 * width * height) {
            throw new IllegalArgumentException("RGB image " + width + "x" + height + " needs " + 3L * width * height
                    + " bytes, got " + rgb.length);
        }
    }

    /** Channel {@code c} of pixel (x, y), 0..255. */
    public int at(int x, int y, int c) {
        return rgb[3 * (y * width + x) + c] & 0xff;
    }
}
