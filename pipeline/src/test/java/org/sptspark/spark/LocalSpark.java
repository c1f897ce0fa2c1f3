package org.sptspark.spark;

import org.apache.spark.sql.SparkSession;

/** A local[2] Spark session on loopback for tests. */
public final class LocalSpark {

    private LocalSpark() {}

    public static SparkSession start(String name) {
        return start(name, java.util.Map.of());
    }

    /** A session with more settings, e.g. {@code spark.hadoop.fs.s3a.*} (which reach it only when it starts). */
    public static SparkSession start(String name, java.util.Map<String, String> settings) {
        var builder = SparkSession.builder()
                .master("local[2,3]") // 2 threads; a failed task is retried up to 3 times, as on a cluster
                .appName(name)
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "4");
        settings.forEach(builder::config);
        return builder.getOrCreate();
    }
}
