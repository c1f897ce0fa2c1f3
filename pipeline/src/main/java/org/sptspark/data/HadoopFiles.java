package org.sptspark.data;

import org.apache.hadoop.conf.Configuration;

/** The Hadoop configuration for command-line use outside a Spark job. */
public final class HadoopFiles {

    private HadoopFiles() {}

    /**
     * Hadoop's defaults (core-site.xml on the class path, credentials from the usual providers),
     * but local files written without ChecksumFileSystem's {@code .crc} sidecars, which would
     * double the file count of an image dataset.
     */
    public static Configuration configuration() {
        var conf = new Configuration();
        conf.set("fs.file.impl", org.apache.hadoop.fs.RawLocalFileSystem.class.getName());
        conf.setBoolean("fs.file.impl.disable.cache", true);
        return conf;
    }
}
