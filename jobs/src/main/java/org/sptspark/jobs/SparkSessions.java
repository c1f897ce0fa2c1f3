package org.sptspark.jobs;

import org.apache.spark.sql.SparkSession;

/** The jobs' Spark session: the master and settings spark-submit gives, or local mode for jobs/bin/spt. */
final class SparkSessions {

    private SparkSessions() {}

    static SparkSession get(String appName) {
        // a failed task is retried once, as a cluster retries (spark.task.maxFailures)
        return get(appName, "local[*,2]");
    }

    /**
     * Refuses a precision before any Spark job when the tasks would run in this JVM (local mode);
     * on a cluster each task checks its own executor's natives.
     */
    static void refuseUnsupported(org.sptspark.model.Precision precision) {
        String master = System.getProperty("spark.master");
        if (master == null || master.startsWith("local")) {
            precision.requireSupported(ai.djl.engine.Engine.getInstance().defaultDevice());
        }
    }

    /** The session, with {@code localMaster} when no master is configured. */
    static SparkSession get(String appName, String localMaster) {
        var builder = SparkSession.builder().appName(appName);
        if (System.getProperty("spark.master") == null) {
            // jobs/bin/spt: local mode on this machine, on loopback, without the UI
            builder.master(localMaster)
                    .config("spark.driver.host", "127.0.0.1")
                    .config("spark.driver.bindAddress", "127.0.0.1")
                    .config("spark.ui.enabled", "false");
        }
        return builder.getOrCreate();
    }
}
