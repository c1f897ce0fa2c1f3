package org.sptspark.data;

import org.apache.hadoop.conf.Configuration;

/** The Hadoop configuration for command-line use outside a Spark job. */
public final class HadoopFiles {

    private HadoopFiles() {}

    /**
     * Hadoop's defaults: core-site.xml from the class path, S3A credentials from the usual
     * providers. (Swapping in RawLocalFileSystem for {@code file:} would avoid {@code .crc}
     * sidecars, but S3A buffers uploads through {@code FileSystem.getLocal}, which must stay a
     * LocalFileSystem; local dataset files are written with NIO in {@link StagedFolder} instead.)
     */
    public static Configuration configuration() {
        return new Configuration();
    }
}
