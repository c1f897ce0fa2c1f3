package org.sptspark.jobs;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * The {@code spt} command line: one subcommand per job, run locally by {@code jobs/bin/spt} or on
 * a cluster by {@code jobs/bin/spt-submit}.
 */
@Command(name = "spt",
        mixinStandardHelpOptions = true,
        versionProvider = Versions.class,
        description = "Sensitivity-aware parameter-efficient fine-tuning of Vision Transformers on Apache Spark.",
        subcommands = {ModelInfoCommand.class, DataCommand.class, ImportCommand.class, GenerateCommand.class,
            SensitivityCommand.class, AllocateCommand.class, TrainCommand.class, EvaluateCommand.class, MergeCommand.class,
            SweepCommand.class, PredictCommand.class, ReportCommand.class, StabilityCommand.class, PretrainCommand.class, DemoCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Spt {

    @Option(names = Failures.VERBOSE, scope = ScopeType.INHERIT,
            description = "On failure, print the stack trace after the error line (otherwise it goes to the log file that line names).")
    boolean verbose;

    public static void main(String[] args) {
        offline();
        System.exit(Failures.execute(tree(), Spt::configure, args));
    }

    /**
     * The command tree: {@code bench predict} reads a lake through Spark and Hadoop, so it is added
     * here and not in {@link BenchCommand}'s annotation, which the Spark-free node command line
     * ({@link SptNode}) shares.
     */
    static CommandLine tree() {
        var cli = new CommandLine(new Spt());
        cli.getSubcommands().get("bench").addSubcommand("predict", new CommandLine(new BenchPredictCommand()));
        return cli;
    }

    /** No run-time downloads: the PyTorch natives come from Maven Central on the class path (or the node's torch). */
    static void offline() {
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
    }

    /** The configured parser: bad input prints one clear line, not a stack trace. */
    static CommandLine commandLine() {
        return configure(tree());
    }

    /**
     * Defaults from the configuration file, and every failure in one line with its exit code
     * ({@link Failures}), for either command line.
     */
    static CommandLine configure(CommandLine cli) {
        Failures.install(cli);
        var defaults = ConfigDefaults.locate();
        if (defaults != null) {
            cli.setDefaultValueProvider(defaults);
        }
        return cli;
    }
}
