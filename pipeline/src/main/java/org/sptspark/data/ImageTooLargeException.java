package org.sptspark.data;

import java.util.Locale;

/**
 * An image whose header declares more pixels than {@link DataLimits#maxImagePixels()}: refused
 * before decoding, as PIL refuses a decompression bomb. It is an {@link IllegalArgumentException}
 * like every other undecodable image, so the checker's lenient mode collects it and predictions
 * skip it.
 */
public final class ImageTooLargeException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String source;
    private final long width;
    private final long height;
    private final long limit;

    /**
     * @param source the image as messages name it, with where it is listed
     *     ({@code file:/data/dtd/images/x.png (train800.txt line 17)})
     */
    public ImageTooLargeException(String source, long width, long height, long limit) {
        super(source + ": " + reason(width, height, limit));
        this.source = source;
        this.width = width;
        this.height = height;
        this.limit = limit;
    }

    /** {@code 20000x20000 = 400,000,000 pixels, above the limit of 178,956,970 (PIL's); raise --max-image-pixels to allow it}. */
    public static String reason(long width, long height, long limit) {
        return String.format(Locale.ROOT, "%dx%d = %,d pixels, above the limit of %s; raise --max-image-pixels to allow it",
                width, height, width * height, DataLimits.describeLimit(limit));
    }

    /** The message without the image's name. */
    public String reason() {
        return reason(width, height, limit);
    }

    public String source() {
        return source;
    }

    public long width() {
        return width;
    }

    public long height() {
        return height;
    }

    public long limit() {
        return limit;
    }
}
