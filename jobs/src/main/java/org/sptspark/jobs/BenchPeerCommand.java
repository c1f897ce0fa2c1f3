package org.sptspark.jobs;

import ai.djl.engine.Engine;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sptspark.allocation.TensorDecision;
import org.sptspark.bench.BenchWorkload;
import org.sptspark.bench.ModelBenchmark;
import org.sptspark.bench.SensitivityBenchmark;
import org.sptspark.bench.TrainingBenchmark;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.VitConfig;
import org.sptspark.model.VitPresets;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Our workloads against a PyTorch eager peer doing the same work: per preset and row (the model's
 * forward+backward, one sensitivity batch, one training step per method), ours in this JVM and the
 * peer's in a long-lived Python server ({@link PeerServer}), both set up once and warmed up, then
 * stepped in turn, ours then the peer's, for a number of rounds; medians and the ratio.
 */
@Command(name = "peer", mixinStandardHelpOptions = true,
        description = {"Time our workloads against PyTorch eager doing the same work, interleaved A B A B.",
            "Rows: model (forward+backward, all parameters trainable), sensitivity (one SPT scoring batch),",
            "and one training step (AdamW) per method, on the same layout (SPT's plan included). The peer",
            "is a Python server run by --python with torch and numpy, at our intra-op thread count; its",
            "SPT sparse entries train the reference's way (a 0/1-masked whole matrix), its SNELLA under",
            "torch.utils.checkpoint as the reference's.",
            "Without torch the peer is skipped (one line says how to install it) and ours run alone: exit 0."})
final class BenchPeerCommand implements Callable<Integer> {

    static final String MODEL = "model";
    static final String SENSITIVITY = "sensitivity";

    @Spec
    CommandSpec spec;

    @Option(names = "--presets", split = ",", defaultValue = "vit_demo_patch4_32,vit_base_patch16_224",
            description = "Comma-separated presets (default: ${DEFAULT-VALUE}).")
    List<String> presets;

    @Option(names = "--methods", split = ",",
            defaultValue = "model,sensitivity,linear,bias,lora,adapter,full,spt-lora,spt-adapter,spt-lora-masked,snella",
            description = "Rows: model, sensitivity and training methods (default: ${DEFAULT-VALUE}).")
    List<String> methods;

    @Option(names = "--batch", defaultValue = "8", description = "Batch size of every row (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--rank", defaultValue = "8", description = "LoRA/Adapter rank (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--budget", defaultValue = "0.47%",
            description = "SPT budget, planned on random scores (default: 0.47%%, which is 0.4M of ViT-B).")
    String budget;

    @Option(names = "--warmup", defaultValue = "1", description = "Untimed steps of each side first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--rounds", defaultValue = "3",
            description = "Timed rounds, each one step of ours then one of the peer's; medians (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--python", defaultValue = "/usr/bin/python3",
            description = "The Python with torch and numpy that runs the peer (default: ${DEFAULT-VALUE}).")
    String python;

    /** One row's figures; the peer's are NaN or -1 where it did not run. */
    record Result(String preset, String row, String budget, double ours, double peer, long oursUpdated,
            long peerUpdated, long oursPeak, long peerPeak, double oursLoss, double peerLoss, String peerForm,
            String note) {}

    @Override
    public Integer call() {
        if (batch < 1 || rounds < 1 || warmup < 0 || rank < 1) {
            throw new IllegalArgumentException("--batch, --rank and --rounds must be positive, --warmup not negative");
        }
        for (String m : methods) {
            if (!m.equals(MODEL) && !m.equals(SENSITIVITY) && !TrainingBenchmark.methods().contains(m)) {
                throw new IllegalArgumentException("unknown row '" + m + "': choose from model, sensitivity, "
                        + String.join(", ", TrainingBenchmark.methods()));
            }
        }
        presets.forEach(VitPresets::get);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        String property = System.getProperty("ai.djl.pytorch.num_threads");
        Engine engine = Engine.getInstance();
        // the peer runs at the intra-op thread count our libtorch actually uses
        int threads = ai.djl.pytorch.jni.JniUtils.getNumThreads();
        out.printf(Locale.ROOT, "ours: DJL %s, %s %s, %d cores, intra-op threads %d (%s), inter-op %d%n",
                Engine.getDjlVersion(), engine.getEngineName(), engine.getVersion(),
                Runtime.getRuntime().availableProcessors(), threads,
                property != null ? "ai.djl.pytorch.num_threads=" + property : "libtorch's default",
                ai.djl.pytorch.jni.JniUtils.getNumInteropThreads());
        var why = new StringBuilder();
        String torch = PeerServer.probe(python, why);
        PeerServer peer = null;
        if (torch == null) {
            out.printf(Locale.ROOT, "peer skipped: %s; install it with '%s' (Debian 12) or name another Python with"
                    + " --python; ours run alone%n", why, PeerServer.INSTALL);
        } else {
            peer = PeerServer.start(python, threads);
            JsonObject h = peer.hello();
            out.printf(Locale.ROOT, "peer: %s (Python %s), torch %s, numpy %s, eager, intra-op threads %d, inter-op %d%n",
                    python, h.get("python").getAsString(), h.get("torch").getAsString(), h.get("numpy").getAsString(),
                    h.get("threads").getAsInt(), h.get("interop_threads").getAsInt());
        }
        out.printf(Locale.ROOT, "batch %d; %d warm-up step(s) each, then %d round(s) of one step of ours and one of the"
                + " peer's; medians; training rows: AdamW lr %s, weight decay %s (matrices)%n", batch, warmup, rounds,
                TrainingBenchmark.LR, TrainingBenchmark.WEIGHT_DECAY);
        out.printf(Locale.ROOT, "%-22s %-16s %6s %9s %9s %9s %12s %12s %9s %9s  %s%n", "preset", "row", "budget",
                "ours s", "peer s", "ours/peer", "ours upd", "peer upd", "ours RSS", "peer RSS", "peer form");
        out.flush();
        var notes = new ArrayList<String>();
        try {
            for (String preset : presets) {
                for (String row : methods) {
                    err.printf(Locale.ROOT, "spt bench peer: %s %s...%n", preset, row);
                    err.flush();
                    Result r = measure(VitPresets.get(preset), row, peer);
                    out.printf(Locale.ROOT, "%-22s %-16s %6s %9.4f %9s %9s %,12d %12s %6.0f MB %9s  %s%n", r.preset(),
                            r.row(), r.budget() == null ? "-" : r.budget(), r.ours(),
                            Double.isNaN(r.peer()) ? "-" : String.format(Locale.ROOT, "%.4f", r.peer()),
                            Double.isNaN(r.peer()) ? "-" : String.format(Locale.ROOT, "%.2fx", r.ours() / r.peer()),
                            r.oursUpdated(), r.peerUpdated() < 0 ? "-" : String.format(Locale.ROOT, "%,d", r.peerUpdated()),
                            r.oursPeak() / 1048576.0,
                            r.peerPeak() < 0 ? "-" : String.format(Locale.ROOT, "%.0f MB", r.peerPeak() / 1048576.0),
                            r.peerForm());
                    out.flush();
                    if (r.note() != null) {
                        notes.add(r.preset() + " " + r.row() + ": " + r.note());
                    }
                }
            }
        } finally {
            if (peer != null) {
                peer.close();
            }
        }
        out.println("ours/peer: above 1, ours is slower. upd: scalars the optimizer updates (model: all; sensitivity:"
                + " scored). RSS: each process's peak during the row (VmHWM reset per row where Linux allows).");
        notes.forEach(n -> out.println("note: " + n));
        out.flush();
        return 0;
    }

    private Result measure(VitConfig config, String row, PeerServer peer) {
        VitConfig c = row.equals(SENSITIVITY) ? config.withDropPathRate(0.1) : config;
        TrainingBenchmark.resetPeakRss();
        String budgetLabel = null;
        long oursUpdated;
        String form;
        BenchWorkload ours;
        JsonObject peerSpec = null;
        if (row.equals(MODEL)) {
            ours = ModelBenchmark.workload(c, batch);
            oursUpdated = ParameterSpace.of(c).tensors().stream().mapToLong(t -> t.size()).sum();
            peerSpec = PeerSpec.model(c, batch);
            form = "same";
        } else if (row.equals(SENSITIVITY)) {
            ours = SensitivityBenchmark.workload(c, batch);
            oursUpdated = ParameterSpace.of(c).tensors().stream().filter(t -> t.isScored())
                    .mapToLong(t -> t.size()).sum();
            peerSpec = PeerSpec.sensitivity(c, batch);
            form = "same";
        } else {
            var w = TrainingBenchmark.Workload.setUp(c, row, budget, rank, batch);
            ours = w;
            budgetLabel = w.budgetLabel();
            oursUpdated = w.tuned().trainableScalars();
            boolean sparse = w.layout().decisions().values().stream()
                    .anyMatch(d -> d instanceof TensorDecision.Sparse);
            peerSpec = PeerSpec.training(w);
            if (sparse && !w.masked()) {
                form = "masked sparse (reference's form; ours: sparse delta)";
            } else if (row.equals("snella")) {
                form = "checkpointed kernel (reference's form; ours: recomputed by hand)";
            } else {
                form = "same";
            }
        }
        String note = null;
        boolean withPeer = peer != null && peerSpec != null;
        long peerUpdated = -1;
        double[] mine = new double[rounds];
        double[] theirs = new double[rounds];
        long peerPeak = -1;
        double peerLoss = Double.NaN;
        try (ours) {
            if (withPeer) {
                Path file = null;
                try {
                    file = PeerSpec.write(peerSpec);
                    JsonObject setup = peer.call("setup " + file);
                    peerUpdated = setup.has("scored") ? setup.get("scored").getAsLong() : setup.get("updated").getAsLong();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                } catch (IllegalStateException e) {
                    note = e.getMessage();
                    withPeer = false;
                    form = "failed";
                } finally {
                    deleteQuietly(file);
                }
            }
            for (int i = 0; i < warmup; i++) {
                ours.step();
                if (withPeer) {
                    peer.call("step");
                }
            }
            for (int i = 0; i < rounds; i++) {
                mine[i] = ours.step();
                if (withPeer) {
                    JsonObject s = peer.call("step");
                    theirs[i] = s.get("seconds").getAsDouble();
                    peerPeak = s.get("peak_rss").getAsLong();
                    peerLoss = s.get("loss").getAsDouble();
                }
            }
            long oursPeak = TrainingBenchmark.peakRss();
            double oursLoss = ours.loss();
            if (withPeer) {
                peer.call("release");
            }
            return new Result(config.name(), row, budgetLabel, ModelBenchmark.median(mine), withPeer ? ModelBenchmark.median(theirs) : Double.NaN,
                    oursUpdated, peerUpdated, oursPeak, peerPeak, oursLoss, peerLoss,
                    peer == null ? "skipped" : form, note);
        }
    }

    private static void deleteQuietly(Path file) {
        if (file != null) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                // a temporary file
            }
        }
    }
}
