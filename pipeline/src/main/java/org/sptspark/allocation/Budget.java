package org.sptspark.allocation;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Locale;

/**
 * A trainable-parameter budget: the head excluded, the class token included (as the reference
 * counts it).
 *
 * @param label as the user wrote it ({@code 0.4M}), for tables and paths
 * @param target the absolute parameter count aimed at
 */
public record Budget(String label, long target) {

    public Budget {
        if (target <= 0) {
            throw new IllegalArgumentException("budget '" + label + "' must be positive, got " + target);
        }
    }

    /**
     * Parses a whole parameter count ({@code 400000}, {@code 4e5}), a count with a suffix
     * ({@code 0.4M}, {@code 400k}: it must come to a whole number), a percentage ({@code 0.47%}) or a
     * fraction below 1 ({@code 0.0047}), both of {@code backboneSize} and rounded to the nearest
     * count. A count with a fractional part, such as {@code 1.5}, is refused: it is neither a count
     * nor a fraction of the backbone.
     */
    public static Budget parse(String text, long backboneSize) {
        String s = text.trim().toUpperCase(Locale.ROOT).replace("_", "");
        String usage = ": expected a whole count (400000), a count with a suffix (0.4M, 400k), a percentage (0.47%)"
                + " or a fraction below 1 (0.0047) of the backbone";
        BigDecimal backbone = BigDecimal.valueOf(backboneSize);
        BigDecimal count;
        try {
            if (s.endsWith("%")) {
                count = positive(text, new BigDecimal(s.substring(0, s.length() - 1))).movePointLeft(2).multiply(backbone)
                        .setScale(0, RoundingMode.HALF_UP);
            } else if (s.endsWith("M") || s.endsWith("K")) {
                count = whole(text, positive(text, new BigDecimal(s.substring(0, s.length() - 1)))
                        .movePointRight(s.endsWith("M") ? 6 : 3), usage);
            } else {
                BigDecimal number = positive(text, new BigDecimal(s));
                count = number.compareTo(BigDecimal.ONE) < 0
                        ? number.multiply(backbone).setScale(0, RoundingMode.HALF_UP)
                        : whole(text, number, usage);
            }
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("budget '" + text + "' is not a number" + usage);
        }
        if (count.signum() <= 0) {
            throw new IllegalArgumentException("budget '" + text + "' comes to 0 of the backbone's " + backboneSize
                    + " parameters: it must be at least 1");
        }
        if (count.compareTo(backbone) > 0) {
            throw new IllegalArgumentException("budget '" + text + "' (" + show(count)
                    + " parameters) exceeds the backbone's " + backboneSize + " parameters");
        }
        return new Budget(text.trim(), count.longValueExact());
    }

    /** A number for a message: plainly, unless that runs past 30 characters. */
    private static String show(BigDecimal number) {
        String plain = number.abs().compareTo(BigDecimal.valueOf(1, -30)) < 0 && number.scale() < 30
                ? number.toPlainString() : null;
        return plain != null ? plain : number.round(new java.math.MathContext(6)).toString();
    }

    private static BigDecimal positive(String text, BigDecimal number) {
        if (number.signum() <= 0) {
            throw new IllegalArgumentException("budget '" + text + "' must be positive");
        }
        return number;
    }

    /** A count that must be whole. */
    private static BigDecimal whole(String text, BigDecimal count, String usage) {
        BigDecimal stripped = count.stripTrailingZeros();
        if (stripped.scale() > 0) {
            throw new IllegalArgumentException("budget '" + text + "' is " + show(stripped)
                    + " parameters, not a whole count" + usage);
        }
        return stripped.setScale(0);
    }
}
