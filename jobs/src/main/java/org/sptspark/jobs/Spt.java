package org.sptspark.jobs;

import picocli.CommandLine;
import picocli.CommandLine.Command;

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
            SweepCommand.class, PredictCommand.class, ReportCommand.class, PretrainCommand.class, DemoCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Spt {

    public static void main(String[] args) {
        // no run-time downloads: the PyTorch natives come from Maven Central on the class path
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        System.exit(commandLine().execute(args));
    }

    /** The configured parser: bad input prints one clear line, not a stack trace. */
    static CommandLine commandLine() {
        return configure(new CommandLine(new Spt()));
    }

    /** Defaults from the configuration file and one clear line for bad input, for either command line. */
    static CommandLine configure(CommandLine cli) {
        var defaults = ConfigDefaults.locate();
        if (defaults != null) {
            cli.setDefaultValueProvider(defaults);
        }
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof IllegalArgumentException || e instanceof java.io.IOException) {
                commandLine.getErr().println("spt " + commandLine.getCommandName() + ": " + e.getMessage());
                return 2;
            }
            throw e;
        });
        return cli;
    }
}
