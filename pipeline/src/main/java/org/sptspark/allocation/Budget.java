package org.sptspark.allocation;

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
     * Parses {@code 400000}, {@code 0.4M}, {@code 400k}, {@code 0.47%} (of {@code backboneSize}) or
     * a fraction below 1 ({@code 0.0047}, of {@code backboneSize}).
     */
    public static Budget parse(String text, long backboneSize) {
        String s = text.trim().toUpperCase(Locale.ROOT).replace("_", "");
        double value;
        try {
            if (s.endsWith("%")) {
                value = Double.parseDouble(s.substring(0, s.length() - 1)) / 100 * backboneSize;
            } else if (s.endsWith("M")) {
                value = Double.parseDouble(s.substring(0, s.length() - 1)) * 1e6;
            } else if (s.endsWith("K")) {
                value = Double.parseDouble(s.substring(0, s.length() - 1)) * 1e3;
            } else {
                value = Double.parseDouble(s);
                if (value > 0 && value < 1) {
                    value *= backboneSize;
                }
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("budget '" + text + "' is not a number: expected e.g. 400000, 0.4M, 400k,"
                    + " 0.47% or 0.0047");
        }
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException("budget '" + text + "' must be positive");
        }
        if (value > backboneSize) {
            throw new IllegalArgumentException("budget '" + text + "' (" + Math.round(value)
                    + " parameters) exceeds the backbone's " + backboneSize + " parameters");
        }
        return new Budget(text.trim(), Math.round(value));
    }
}
