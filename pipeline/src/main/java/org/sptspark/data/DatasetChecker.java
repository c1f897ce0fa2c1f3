package org.sptspark.data;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Validates a task on disk: every split parses, every listed image exists and decodes. Strict by
 * default (the first bad image is an error naming the image and the line that lists it); in
 * lenient mode bad images are collected and reported, never silently dropped. An image whose
 * header declares more pixels than {@link DataLimits#maxImagePixels()} is bad (refused before it
 * is decoded, as the jobs refuse it); one above half of that is decoded and reported as a warning.
 */
public final class DatasetChecker {

    private static final Logger LOG = LoggerFactory.getLogger(DatasetChecker.class);

    /** A bad image and why. */
    public record Problem(String path, String origin, String reason) {
        /** {@code <path> (train800.txt line 17): <reason>}. */
        @Override
        public String toString() {
            return Sample.describe(path, origin) + ": " + reason;
        }
    }

    /**
     * One split's counts.
     *
     * @param warnings images above half the pixel limit, decoded (one line each, naming image, line and size)
     */
    public record SplitReport(Split split, int images, long[] perClass, List<Problem> problems, List<String> warnings) {}

    /** The whole task. */
    public record Report(TaskSpec task, List<SplitReport> splits) {
        public List<Problem> problems() {
            return splits.stream().flatMap(s -> s.problems().stream()).toList();
        }

        public List<String> warnings() {
            return splits.stream().flatMap(s -> s.warnings().stream()).toList();
        }
    }

    private final Configuration hadoop;
    private final DatasetReader reader;
    private final long maxImagePixels;

    /** With the limits {@code hadoop} sets ({@link DataLimits#of}). */
    public DatasetChecker(Configuration hadoop) {
        this.hadoop = hadoop;
        this.reader = new DatasetReader(hadoop);
        this.maxImagePixels = DataLimits.of(hadoop).maxImagePixels();
    }

    /**
     * @param decode whether to decode every image (otherwise only its existence is checked)
     * @param lenient collect bad images instead of failing on the first
     */
    public Report check(String root, TaskSpec task, boolean decode, boolean lenient) {
        var splits = new ArrayList<SplitReport>();
        for (Split split : Split.values()) {
            List<Sample> samples = reader.read(root, task, split);
            long[] perClass = new long[task.classes()];
            var problems = new ArrayList<Problem>();
            var warnings = new ArrayList<String>();
            long start = System.nanoTime();
            for (Sample s : samples) {
                perClass[s.label()]++;
                String reason = inspect(s, decode, warnings);
                if (reason != null) {
                    var problem = new Problem(s.path(), s.origin(), reason);
                    if (!lenient) {
                        throw new IllegalArgumentException("task '" + task.name() + "', split " + split.vtabList()
                                + ": image " + problem);
                    }
                    problems.add(problem);
                }
                if ((s.row() + 1) % 5000 == 0) {
                    LOG.info("{} {}: checked {} of {} images ({} /s)", task.name(), split.vtabList(), s.row() + 1,
                            samples.size(), Math.round((s.row() + 1) / ((System.nanoTime() - start) / 1e9)));
                }
            }
            splits.add(new SplitReport(split, samples.size(), perClass, problems, warnings));
        }
        return new Report(task, splits);
    }

    /** Null when the image is fine, else why not. */
    private String inspect(Sample s, boolean decode, List<String> warnings) {
        Path path = new Path(s.path());
        try {
            FileSystem fs = path.getFileSystem(hadoop);
            if (!decode) {
                return fs.exists(path) ? null : "missing";
            }
            byte[] bytes;
            try (InputStream in = fs.open(path)) {
                bytes = in.readAllBytes();
            }
            ImageDecoder.decode(bytes, s.describe(), maxImagePixels, warnings::add);
            return null;
        } catch (FileNotFoundException e) {
            return "missing";
        } catch (ImageTooLargeException e) {
            return e.reason();
        } catch (IllegalArgumentException e) {
            return e.getMessage().replace("cannot decode image " + s.describe() + ": ", "undecodable: ");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + s.path(), e);
        }
    }
}
