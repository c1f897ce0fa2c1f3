package org.sptspark.jobs;

import java.util.Locale;
import java.util.concurrent.Callable;
import org.sptspark.artifact.Merge;
import org.sptspark.data.HadoopFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Folds an artifact into its backbone: a full checkpoint for timm or any safetensors reader. */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = {"Merge an artifact into its backbone and write the result as one safetensors checkpoint.",
            "Verifies the artifact against its backbone first; the checkpoint is in timm's layout (qkv fused,",
            "the task's head). Adapter artifacts cannot be merged."})
final class MergeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--artifact", required = true, description = "The artifact folder (path or Hadoop URI).")
    String artifact;

    @Option(names = "--backbone", required = true, description = "The checkpoint the artifact was trained on.")
    String backbone;

    @Option(names = "--out", required = true, description = "The merged checkpoint to write (path or Hadoop URI).")
    String out;

    @Override
    public Integer call() throws Exception {
        var result = Merge.merge(HadoopFiles.configuration(), artifact, backbone, out);
        var w = spec.commandLine().getOut();
        w.printf(Locale.ROOT, "merged %s (%s, %d classes) into %s (%,d bytes)%n", result.method(), result.config().name(),
                result.config().numClasses(), out, result.bytes());
        w.flush();
        return 0;
    }
}
