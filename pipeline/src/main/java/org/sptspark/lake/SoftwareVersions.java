package org.sptspark.lake;

import com.google.gson.annotations.SerializedName;

/**
 * The versions of the software that made a lake entry, as manifests record them:
 * {@code {"spt": "0.1.0", "DJL": "0.35.1", "Java": "17.0.15", "PyTorch": "2.7.1", "Spark": "3.5.9"}}.
 * A version that was not known (Spark outside Spark, for instance) is {@code null} and left out.
 */
public record SoftwareVersions(
        String spt,
        @SerializedName("DJL") String djl,
        @SerializedName("Java") String java,
        @SerializedName("PyTorch") String pytorch,
        @SerializedName("Spark") String spark) implements java.io.Serializable {

    /** Nothing known. */
    public static final SoftwareVersions UNKNOWN = new SoftwareVersions(null, null, null, null, null);

    /**
     * Versions from their JSON object, the form jobs pass them around in; {@code null} or blank is
     * {@link #UNKNOWN}.
     */
    public static SoftwareVersions parse(String json) {
        if (json == null || json.isBlank()) {
            return UNKNOWN;
        }
        return LakeJson.bind(LakeJson.parse(json, "versions"), SoftwareVersions.class, "versions");
    }
}
