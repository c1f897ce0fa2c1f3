package org.sptspark.data;

/**
 * One labelled image of a split.
 *
 * @param row its position in the split, in file order: batches are fixed by it
 * @param path the image's full URI
 * @param label class index in {@code 0..classes-1}
 * @param origin where it was listed ({@code .../train800.txt:17}), for messages
 */
public record Sample(long row, String path, int label, String origin) {

    /** The image as messages name it: {@code <path> (train800.txt line 17)}. */
    public String describe() {
        return describe(path, origin);
    }

    /**
     * {@code <path> (train800.txt line 17)} for a VTAB list's entry, {@code <path> (train.json entry 'a/1.jpg')}
     * for an FGVC file's, the path alone when the image was found by listing a folder.
     */
    public static String describe(String path, String origin) {
        String where = listing(origin);
        return where == null || where.equals(path) ? path : path + " (" + where + ")";
    }

    /** {@code train800.txt line 17} from {@code file:/data/dtd/train800.txt:17}; the origin itself when not a list's. */
    static String listing(String origin) {
        if (origin == null || origin.isEmpty()) {
            return null;
        }
        int json = origin.indexOf(".json:");
        if (json >= 0) {
            return base(origin.substring(0, json + 5)) + " entry '" + origin.substring(json + 6) + "'";
        }
        int colon = origin.lastIndexOf(':');
        if (colon > 0 && colon < origin.length() - 1 && origin.substring(colon + 1).chars().allMatch(Character::isDigit)) {
            return base(origin.substring(0, colon)) + " line " + origin.substring(colon + 1);
        }
        return origin;
    }

    private static String base(String file) {
        return file.substring(file.lastIndexOf('/') + 1);
    }
}
