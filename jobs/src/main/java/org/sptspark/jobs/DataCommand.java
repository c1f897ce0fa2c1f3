package org.sptspark.jobs;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sptspark.data.DatasetChecker;
import org.sptspark.data.DemoData;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Suite;
import org.sptspark.data.TaskSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Dataset preparation and validation. */
@Command(name = "data", mixinStandardHelpOptions = true, description = "Prepare and check datasets.",
        subcommands = {DataCommand.Prepare.class, DataCommand.Check.class})
final class DataCommand implements Runnable {

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Where npm tarballs are kept between runs. */
    static Path defaultPackages() {
        String env = System.getenv("SPT_PACKAGES");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "spt", "packages");
    }

    @Command(name = "prepare", mixinStandardHelpOptions = true,
            description = "Produce every task of a suite that packages or the generator can make (the demo suite).")
    static final class Prepare implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--suite", defaultValue = "demo", description = "Suite name or .conf file (default: ${DEFAULT-VALUE}).")
        String suite;

        @Option(names = "--out", required = true, description = "Root folder or Hadoop URI to write the tasks under.")
        String out;

        @Option(names = "--packages", description = "Folder of npm tarballs (default: $SPT_PACKAGES, else ~/.cache/spt/packages).")
        Path packages;

        @Option(names = "--seed", defaultValue = "0", description = "Seed of splits and generated images (default: ${DEFAULT-VALUE}).")
        long seed;

        @Option(names = "--force", description = "Rewrite tasks that are already there.")
        boolean force;

        @Option(names = "--upstream", description = "Also prepare the suite's upstream (pretraining) sets.")
        boolean upstream;

        @Override
        public Integer call() throws Exception {
            Suite s = Suite.load(suite);
            var demo = new DemoData(HadoopFiles.configuration(), packages == null ? defaultPackages() : packages, seed);
            List<String> written = demo.prepareSuite(out, s, upstream, force);
            PrintWriter w = spec.commandLine().getOut();
            int all = s.tasks().size() + (upstream ? s.upstream().size() : 0);
            w.printf(Locale.ROOT, "suite %s under %s: %d task(s) written, %d already there%n", s.name(), out,
                    written.size(), all - written.size());
            w.flush();
            return 0;
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = {"Validate a task or a whole suite: every split parses, every image exists and decodes.",
                "Prints the counts per split and class."})
    static final class Check implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--root", required = true, description = "The suite's root folder or Hadoop URI.")
        String root;

        @Option(names = "--suite", defaultValue = "vtab-1k", description = "Suite name or .conf file (default: ${DEFAULT-VALUE}).")
        String suite;

        @Option(names = "--task", description = "One task (default: every task of the suite).")
        String task;

        @Option(names = "--no-decode", negatable = true, defaultValue = "true",
                description = "Only check that images exist, without decoding them.")
        boolean decode;

        @Option(names = "--lenient", description = "Report bad images instead of failing on the first.")
        boolean lenient;

        @picocli.CommandLine.Mixin
        DataLimitOptions limits;

        @Override
        public Integer call() {
            Suite s = Suite.load(suite);
            List<TaskSpec> tasks = task == null ? s.tasks() : List.of(s.task(task));
            var checker = new DatasetChecker(limits.applyTo(HadoopFiles.configuration()));
            PrintWriter w = spec.commandLine().getOut();
            int bad = 0;
            for (TaskSpec t : tasks) {
                DatasetChecker.Report report = checker.check(root, t, decode, lenient);
                w.printf(Locale.ROOT, "%s (%d classes, %s)%n", t.name(), t.classes(), t.group());
                for (var split : report.splits()) {
                    w.printf(Locale.ROOT, "  %-15s %6d images; per class: %s%n", split.split().vtabList(), split.images(),
                            java.util.Arrays.toString(split.perClass()));
                }
                for (var problem : report.problems()) {
                    w.println("  skipped " + problem);
                }
                for (var warning : report.warnings()) {
                    w.println("  warning " + warning);
                }
                bad += report.problems().size();
                w.flush();
            }
            w.printf(Locale.ROOT, "%d task(s) checked, %d bad image(s)%n", tasks.size(), bad);
            w.flush();
            return bad == 0 ? 0 : 1;
        }
    }
}
