package org.sptspark.jobs;

import picocli.CommandLine.IVersionProvider;

/** Versions of this project and of the libraries that decide its numbers. */
final class Versions implements IVersionProvider {
    /**
     * The versions as a JSON object for manifests ({@code {"spt": ..., "DJL": ..., "Spark": ...}}).
     *
     * @param spark Spark's version, or {@code null} outside Spark (a String, not the session: this
     *     class also serves the Spark-free command line, which must load without Spark's classes)
     */
    static com.google.gson.JsonObject json(String spark) {
        var versions = new com.google.gson.JsonObject();
        for (String v : new Versions().getVersion()) {
            versions.addProperty(v.substring(0, v.indexOf(' ')), v.substring(v.indexOf(' ') + 1));
        }
        versions.addProperty("PyTorch", ai.djl.engine.Engine.getEngine("PyTorch").getVersion());
        if (spark != null) {
            versions.addProperty("Spark", spark);
        }
        return versions;
    }

    @Override
    public String[] getVersion() {
        String ours = Spt.class.getPackage().getImplementationVersion();
        return new String[] {
            "spt " + (ours == null ? "(development build)" : ours),
            "DJL " + ai.djl.engine.Engine.getDjlVersion(),
            "Java " + System.getProperty("java.version"),
        };
    }
}
