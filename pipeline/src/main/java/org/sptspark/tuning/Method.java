package org.sptspark.tuning;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** A tuning method: SPT under a plan, or one of the baselines the comparison tables need. */
public enum Method {
    /** Head only. */
    LINEAR("linear", false),
    /** Every backbone tensor, the head and the class token. */
    FULL("full", false),
    /** Every bias (BitFit), and the head. */
    BIAS("bias", false),
    /** LoRA of the configured rank on every block matrix, plus the class token and head. */
    LORA("lora", false),
    /** An Adapter of the configured rank after every block matrix, plus the class token and head. */
    ADAPTER("adapter", false),
    /** SPT with LoRA as the structured module, under a plan. */
    SPT_LORA("spt-lora", true),
    /** SPT with Adapter as the structured module, under a plan. */
    SPT_ADAPTER("spt-adapter", true),
    /**
     * SNELLA: a kernelized sparse delta on every block matrix, the matrices competing for a
     * shrinking non-zero volume; plus the class token and head.
     */
    SNELLA("snella", false);

    private final String id;
    private final boolean needsPlan;

    Method(String id, boolean needsPlan) {
        this.id = id;
        this.needsPlan = needsPlan;
    }

    /** The name in CLIs, folders and tables. */
    public String id() {
        return id;
    }

    /** Whether the method trains what an SPT plan says. */
    public boolean needsPlan() {
        return needsPlan;
    }

    /** The method with this id, or an error listing the choices. */
    public static Method parse(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        for (Method m : values()) {
            if (m.id.equals(t)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown method '" + text + "': choose one of "
                + Arrays.stream(values()).map(Method::id).collect(Collectors.joining(", ")));
    }
}
