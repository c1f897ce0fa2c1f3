package org.sptspark.jobs;

import org.apache.hadoop.conf.Configuration;
import org.sptspark.data.DataLimits;
import picocli.CommandLine.Option;

/**
 * {@code --max-image-pixels}, for the commands that decode images: written into the job's Hadoop
 * configuration, which travels to the executors; when absent, the configuration's own
 * {@value DataLimits#MAX_IMAGE_PIXELS} (e.g. {@code spark.hadoop.spt.data.max-image-pixels}) or PIL's
 * default stands.
 */
class ImageLimitOptions {

    @Option(names = "--max-image-pixels", paramLabel = "PIXELS",
            description = "Refuse images whose header declares more pixels, before decoding them; warn above half"
                    + " (default: 178956970, PIL's limit; or the Hadoop/Spark conf's spt.data.max-image-pixels).")
    Long maxImagePixels;

    /** Sets what was given on {@code hadoop}; returns it. */
    Configuration applyTo(Configuration hadoop) {
        if (maxImagePixels != null) {
            hadoop.set(DataLimits.MAX_IMAGE_PIXELS, Long.toString(new DataLimits(maxImagePixels, false).maxImagePixels()));
        }
        return hadoop;
    }
}
