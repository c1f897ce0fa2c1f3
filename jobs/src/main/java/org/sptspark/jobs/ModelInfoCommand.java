package org.sptspark.jobs;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sptspark.model.BackboneConfig;
import org.sptspark.model.BackbonePresets;
import org.sptspark.model.TensorRole;
import org.sptspark.model.TensorSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Prints a preset's named tensors, shapes, SPT roles and parameter counts, without allocating it. */
@Command(name = "model-info", mixinStandardHelpOptions = true,
        description = {"Print a preset's tensors (ViT, Swin or ConvNeXt), their shapes and SPT roles, and the totals.",
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
        BackboneConfig config = BackbonePresets.get(preset);
        if (classes != null) {
            config = config.withNumClasses(classes);
        }
        var space = config.space();
        PrintWriter out = spec.commandLine().getOut();
        out.println(config);
        if (!summary) {
            int width = Math.max(32, space.tensors().stream().mapToInt(t -> t.name().length()).max().orElse(0));
            String row = "%-" + width + "s %-18s %-8s %12";
            out.printf(Locale.ROOT, row + "s%n", "tensor", "shape", "role", "parameters");
            for (TensorSpec t : space.tensors()) {
                out.printf(Locale.ROOT, row + "d%n", t.name(), t.shape(),
                        t.role().name().toLowerCase(Locale.ROOT), t.size());
            }
        }
        long matrices = space.scored().stream().filter(t -> t.role() == TensorRole.MATRIX).count();
        long kernels = space.scored().stream().filter(t -> t.role() == TensorRole.KERNEL).count();
        out.printf(Locale.ROOT, "tensors: %d; scored by SPT: %d (%d matrices%s), %d parameters%n",
                space.tensors().size(), space.scored().size(), matrices,
                kernels == 0 ? "" : ", " + kernels + " convolution kernels", space.scoredSize());
        out.printf(Locale.ROOT, "forward: %.2f GFLOP per image%n", config.forwardFlopsPerImage() / 1e9);
        out.printf(Locale.ROOT, "total parameters: %d%n", space.totalSize());
        out.flush();
        return 0;
    }

    /** Completion candidates and help text for {@code --preset}. */
    static final class PresetNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return BackbonePresets.names().iterator();
        }
    }
}
