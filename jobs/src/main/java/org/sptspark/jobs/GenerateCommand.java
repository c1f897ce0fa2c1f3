package org.sptspark.jobs;

import java.util.concurrent.Callable;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.VtabWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Writes a generated structured task. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Generate a structured task in the VTAB-1k layout.",
            "The tasks: gen_dsprites_loc, gen_dsprites_ori, gen_clevr_count, gen_clevr_dist, gen_shapes."})
final class GenerateCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--task", required = true, description = "The generated task.")
    String task;

    @Option(names = "--out", required = true, description = "Root folder or Hadoop URI to write the task under.")
    String out;

    @Option(names = "--size", defaultValue = "32", description = "Image side in pixels (default: ${DEFAULT-VALUE}).")
    int size;

    @Option(names = "--seed", defaultValue = "0", description = "Seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--test-size", defaultValue = "1000", description = "Test images (default: ${DEFAULT-VALUE}).")
    int testSize;

    @Override
    public Integer call() {
        var kind = StructuredTaskGenerator.Kind.of(task);
        try (var writer = new VtabWriter(HadoopFiles.configuration(), out, kind.task)) {
            new StructuredTaskGenerator(kind, size, seed).write(writer, testSize);
            writer.commit();
        }
        spec.commandLine().getOut().printf("generated %s (%d classes) under %s%n", kind.task, kind.classes, out);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
