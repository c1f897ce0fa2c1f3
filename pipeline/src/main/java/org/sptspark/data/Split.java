package org.sptspark.data;

import java.util.Locale;

/** The splits the pipeline uses, with each layout's file for them. */
public enum Split {
    /** VTAB's train800 / FGVC's train: the sensitivity batches and hyper-parameter search. */
    TRAIN("train800", "train"),
    /** VTAB's val200 / FGVC's val. */
    VAL("val200", "val"),
    /** VTAB's train800val200 / FGVC's train + val: the final training set. */
    TRAINVAL("train800val200", null),
    /** The evaluation split. */
    TEST("test", "test");

    private final String vtabList;
    private final String fgvcJson;

    Split(String vtabList, String fgvcJson) {
        this.vtabList = vtabList;
        this.fgvcJson = fgvcJson;
    }

    /** The VTAB-1k list file's base name ({@code train800} for {@code train800.txt}). */
    public String vtabList() {
        return vtabList;
    }

    /** The FGVC json file's base name, or null when the split is the union of train and val. */
    public String fgvcJson() {
        return fgvcJson;
    }

    /** By its name in either vocabulary: {@code train}, {@code train800}, {@code trainval}, {@code train800val200}, ... */
    public static Split parse(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        for (Split s : values()) {
            if (n.equals(s.name().toLowerCase(Locale.ROOT)) || n.equals(s.vtabList)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown split '" + name + "': expected train800, val200, train800val200 or test");
    }
}
