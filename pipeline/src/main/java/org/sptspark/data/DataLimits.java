package org.sptspark.data;

import java.util.Locale;
import org.apache.hadoop.conf.Configuration;

/**
 * What a task's data may ask of the job: the largest image to decode and whether a list may name
 * files outside its task's folder. Both travel in the Hadoop configuration, which every job ships
 * to its executors, so the driver's listing and the executors' decoding agree; a key missing
 * there falls back to the JVM system property of the same name, then to the default.
 *
 * <ul>
 *   <li>{@value #MAX_IMAGE_PIXELS} (CLI {@code --max-image-pixels}; Spark
 *       {@code --conf spark.hadoop.spt.data.max-image-pixels=N}): images whose header declares more
 *       pixels are refused before any decoding, and a warning is logged above half of it. The default
 *       is PIL's, {@value #PIL_MAX_IMAGE_PIXELS} ({@code DecompressionBombError} above
 *       {@code 2 * Image.MAX_IMAGE_PIXELS}, the warning above {@code MAX_IMAGE_PIXELS}).
 *   <li>{@value #ALLOW_OUTSIDE_PATHS} (CLI {@code --allow-outside-paths}): let list entries resolve
 *       outside their task's folder ({@code ..} escaping it, absolute paths elsewhere, other
 *       schemes, buckets or hosts). Off by default.
 * </ul>
 *
 * @param maxImagePixels the largest width x height decoded, at least 1
 * @param allowOutsidePaths whether list entries may name files outside their task's folder
 */
public record DataLimits(long maxImagePixels, boolean allowOutsidePaths) implements java.io.Serializable {

    /** The Hadoop configuration key (and system property) of the pixel limit. */
    public static final String MAX_IMAGE_PIXELS = "spt.data.max-image-pixels";

    /** The Hadoop configuration key (and system property) that lets list entries leave their task's folder. */
    public static final String ALLOW_OUTSIDE_PATHS = "spt.data.allow-outside-paths";

    /** PIL's limit: {@code Image.open} raises {@code DecompressionBombError} above it ({@code 2 * 89,478,485}). */
    public static final long PIL_MAX_IMAGE_PIXELS = 178_956_970L;

    /** PIL's limit, outside paths refused. */
    public static final DataLimits DEFAULT = new DataLimits(PIL_MAX_IMAGE_PIXELS, false);

    public DataLimits {
        if (maxImagePixels < 1) {
            throw new IllegalArgumentException(MAX_IMAGE_PIXELS + " must be at least 1, got " + maxImagePixels);
        }
    }

    /** The limits a Hadoop configuration sets, system properties and defaults filling in the rest. */
    public static DataLimits of(Configuration hadoop) {
        return new DataLimits(pixels(setting(hadoop, MAX_IMAGE_PIXELS)), flag(setting(hadoop, ALLOW_OUTSIDE_PATHS)));
    }

    /** The limits the system properties set, defaults filling in the rest (code that has no Hadoop configuration). */
    public static DataLimits fromSystem() {
        return of(null);
    }

    /** Writes these limits into {@code hadoop}, for the jobs that read it (and the executors it is shipped to). */
    public Configuration applyTo(Configuration hadoop) {
        hadoop.set(MAX_IMAGE_PIXELS, Long.toString(maxImagePixels));
        hadoop.setBoolean(ALLOW_OUTSIDE_PATHS, allowOutsidePaths);
        return hadoop;
    }

    /** Above this many pixels an image is decoded with a warning (PIL's {@code DecompressionBombWarning}). */
    public long warnImagePixels() {
        return maxImagePixels / 2;
    }

    /** {@code "178,956,970 (PIL's)"} or {@code "1,000"}: the limit as messages name it. */
    public static String describeLimit(long maxImagePixels) {
        return String.format(Locale.ROOT, "%,d", maxImagePixels) + (maxImagePixels == PIL_MAX_IMAGE_PIXELS ? " (PIL's)" : "");
    }

    private static String setting(Configuration hadoop, String key) {
        String value = hadoop == null ? null : hadoop.getTrimmed(key);
        return value != null && !value.isEmpty() ? value : System.getProperty(key);
    }

    private static long pixels(String value) {
        if (value == null || value.isBlank()) {
            return PIL_MAX_IMAGE_PIXELS;
        }
        try {
            return Long.parseLong(value.strip().replace(",", "").replace("_", ""));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(MAX_IMAGE_PIXELS + ": '" + value + "' is not a whole number of pixels", e);
        }
    }

    private static boolean flag(String value) {
        if (value == null || value.isBlank()) {
            return false;
        }
        return switch (value.strip().toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException(ALLOW_OUTSIDE_PATHS + ": '" + value + "' is not true or false");
        };
    }
}
