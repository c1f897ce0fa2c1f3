package org.sptspark.jobs;

import org.apache.hadoop.conf.Configuration;
import org.sptspark.data.DataLimits;
import picocli.CommandLine.Option;

/**
 * {@code --max-image-pixels} and {@code --allow-outside-paths}, for the commands that read a task's
 * lists: written into the job's Hadoop configuration (see {@link DataLimits}).
 */
final class DataLimitOptions extends ImageLimitOptions {

    @Option(names = "--allow-outside-paths",
            description = "Let list entries name files outside their task's folder (.., absolute paths, other schemes or"
                    + " buckets); refused by default (also spt.data.allow-outside-paths in the Hadoop/Spark conf).")
    boolean allowOutsidePaths;

    @Override
    Configuration applyTo(Configuration hadoop) {
        super.applyTo(hadoop);
        if (allowOutsidePaths) {
            hadoop.setBoolean(DataLimits.ALLOW_OUTSIDE_PATHS, true);
        }
        return hadoop;
    }
}
