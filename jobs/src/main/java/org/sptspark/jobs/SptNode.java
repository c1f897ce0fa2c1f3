package org.sptspark.jobs;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * The Spark-free part of the command line, for a node that has no Spark: the portable bundle's
 * {@code bin/spt} (a GPU node with only a Python torch install) runs this class, whose class path
 * holds no Spark or Hadoop jar.
 */
@Command(name = "spt",
        mixinStandardHelpOptions = true,
        versionProvider = Versions.class,
        description = {"The device commands of spt, without Spark: model-info and the benchmarks.",
            "The device check is among the benchmarks (bench gpu). The Spark jobs (sensitivity, train, sweep,",
            "predict, ...) run from jobs/bin/spt or spt-submit."},
        subcommands = {ModelInfoCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class SptNode {

    @Option(names = Failures.VERBOSE, scope = ScopeType.INHERIT,
            description = "On failure, print the stack trace after the error line (otherwise it goes to the log file that line names).")
    boolean verbose;

    public static void main(String[] args) {
        Spt.offline();
        System.exit(Failures.execute(new CommandLine(new SptNode()), Spt::configure, args));
    }
}
