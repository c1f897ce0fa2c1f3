package org.sptspark.jobs;

import org.apache.spark.sql.SparkSession;
import org.sptspark.lake.Secrets;

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
        SparkSession spark = builder.getOrCreate();
        recordSettings(spark);
        return spark;
    }

    /**
     * Remembers the session's secret settings (S3A's keys among them), so that whatever the job
     * prints or records has them masked, and lets a failure's log list its settings, masked.
     */
    static void recordSettings(SparkSession spark) {
        var sc = spark.sparkContext();
        var conf = new java.util.ArrayList<java.util.Map.Entry<String, String>>();
        for (scala.Tuple2<String, String> e : sc.getConf().getAll()) {
            conf.add(java.util.Map.entry(e._1(), e._2()));
        }
        Secrets.remember(conf);
        Secrets.remember(sc.hadoopConfiguration());
        Failures.sessionSettings(() -> {
            var settings = new java.util.TreeMap<String, String>();
            for (scala.Tuple2<String, String> e : sc.getConf().getAll()) {
                settings.put(e._1(), e._2());
            }
            // S3A's settings as the jobs' Hadoop configuration has them (spark.hadoop.* and core-site.xml)
            var hadoop = sc.hadoopConfiguration();
            for (java.util.Map.Entry<String, String> e : hadoop) {
                String[] from = hadoop.getPropertySources(e.getKey());
                boolean builtIn = from != null && from.length == 1 && from[0].equals("core-default.xml");
                if (!builtIn && (e.getKey().startsWith("fs.s3a.") || e.getKey().equals("fs.defaultFS"))) {
                    settings.put("hadoop " + e.getKey(), e.getValue());
                }
            }
            return settings;
        });
    }
}
