package org.sptspark.jobs;

import picocli.CommandLine.Command;
import picocli.CommandLine;

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

    public static void main(String[] args) {
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        System.exit(Spt.configure(new CommandLine(new SptNode())).execute(args));
    }
}
