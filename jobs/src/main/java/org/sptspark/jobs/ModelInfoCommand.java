package org.sptspark.jobs;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorSpec;
import org.sptspark.model.VitConfig;
import org.sptspark.model.VitPresets;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Prints a preset's named tensors, shapes, SPT roles and parameter counts, without allocating it. */
@Command(name = "model-info", mixinStandardHelpOptions = true,
        description = {"Print a ViT preset's tensors, their shapes and SPT roles, and the totals.",
            "Tensors go by their timm names, with the attention's q, k and v split."})
final class ModelInfoCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--preset", required = true, description = "Preset name: ${COMPLETION-CANDIDATES}",
            completionCandidates = PresetNames.class)
    String preset;

    @Option(names = "--classes", description = "Head outputs (default: the preset's, 1000 for the timm sizes).")
    Integer classes;

    @Option(names = "--summary", description = "Print only the totals.")
    boolean summary;

    @Override
    public Integer call() {
        VitConfig config = VitPresets.get(preset);
        if (classes != null) {
            config = config.withNumClasses(classes);
        }
        var space = ParameterSpace.of(config);
        PrintWriter out = spec.commandLine().getOut();
        out.println(config);
        if (!summary) {
            out.printf(Locale.ROOT, "%-32s %-18s %-8s %12s%n", "tensor", "shape", "role", "parameters");
            for (TensorSpec t : space.tensors()) {
                out.printf(Locale.ROOT, "%-32s %-18s %-8s %12d%n", t.name(), t.shape(),
                        t.role().name().toLowerCase(Locale.ROOT), t.size());
            }
        }
        long matrices = space.scored().stream().filter(t -> t.shape().dimension() == 2).count();
        out.printf(Locale.ROOT, "tensors: %d; scored by SPT: %d (%d matrices), %d parameters%n",
                space.tensors().size(), space.scored().size(), matrices, space.scoredSize());
        out.printf(Locale.ROOT, "forward: %.2f GFLOP per image%n", config.forwardFlopsPerImage() / 1e9);
        out.printf(Locale.ROOT, "total parameters: %d%n", space.totalSize());
        out.flush();
        return 0;
    }

    /** Completion candidates and help text for {@code --preset}. */
    static final class PresetNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return VitPresets.names().iterator();
        }
    }
}
