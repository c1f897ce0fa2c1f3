package org.sptspark.jobs;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.sptspark.bench.PredictionBenchmark;
import org.sptspark.data.DataLimits;
import org.sptspark.data.DatasetReader;
import org.sptspark.data.Sample;
import org.sptspark.data.Split;
import org.sptspark.data.Suite;
import org.sptspark.data.TaskSpec;
import org.sptspark.spark.ArtifactRouter;
import org.sptspark.spark.RoutedInference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Routed inference's cost: mixed batches against one pass per artifact and against every artifact. */
@Command(name = "predict", mixinStandardHelpOptions = true,
        description = {"Time routed inference on a run's artifacts, per method and for one method per task.",
            "Test images of every task, shuffled together into batches, through one mixed forward pass, one pass",
            "per artifact on its rows, and every artifact on every row (spt predict --images); the frozen",
            "backbone alone as the floor. Then the sparse product x D^T against the dense one per density,",
            "which sets where a mixed batch applies a sparse delta sparsely. In-process, on the CPU, medians."})
final class BenchPredictCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--lake", description = "The lake whose run's artifacts to use.")
    String lake;

    @Option(names = "--synthetic", description = "Instead of a run: a random backbone of this preset and random"
            + " artifacts of --synthetic-methods for 7 tasks, on random images (for widths no trained run has).")
    String synthetic;

    @Option(names = "--synthetic-methods", split = ",", defaultValue = "linear,lora,full",
            description = "Baseline methods of the synthetic artifacts (default: ${DEFAULT-VALUE}).")
    List<String> syntheticMethods;

    @Option(names = "--run", description = "The run (default: the lake's latest).")
    String run;

    @Option(names = "--backbone", description = "The checkpoint the run trained on.")
    String backbone;

    @Option(names = "--data", description = "The suite's data root (test images are read from it).")
    String data;

    @Option(names = "--suite", defaultValue = "demo", description = "The suite (default: ${DEFAULT-VALUE}).")
    String suite;

    @Option(names = "--methods", split = ",", description = "Methods of the run (default: all of them).")
    List<String> methods;

    @Option(names = "--images-per-task", defaultValue = "32", description = "Test images per task (default: ${DEFAULT-VALUE}).")
    int perTask;

    @Option(names = "--batch", defaultValue = "64", description = "Rows per batch (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--warmup", defaultValue = "1", description = "Untimed rounds (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--repeats", defaultValue = "3", description = "Timed rounds (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (synthetic != null) {
            return synthetic(out);
        }
        if (lake == null || backbone == null || data == null) {
            throw new IllegalArgumentException("give --lake, --backbone and --data (a run's artifacts), or --synthetic PRESET");
        }
        SparkSession spark = SparkSessions.get("spt bench predict");
        Configuration hadoop = spark.sparkContext().hadoopConfiguration();
        var results = spark.read().parquet(new Path(new Path(lake, "tables"), "results").toString());
        Row latest = results.orderBy(functions.col("recorded_at").desc()).first();
        String id = run != null ? run : latest.getString(latest.fieldIndex("run"));
        var names = new TreeSet<String>();
        for (Row r : results.where(functions.col("run").equalTo(id)).select("method").distinct().collectAsList()) {
            names.add(r.getString(0));
        }
        List<String> chosen = methods != null ? methods : List.copyOf(names);
        var routers = new LinkedHashMap<String, ArtifactRouter>();
        for (String m : chosen) {
            routers.put(m, ArtifactRouter.fromLake(spark, backbone, lake, id, m, null));
        }
        // one method per task, in turn: every kind of module in one batch
        var mixedMethods = new ArrayList<String>();
        var tasks = routers.values().iterator().next().tasks();
        for (int t = 0; t < tasks.size(); t++) {
            var method = new ArrayList<>(routers.keySet()).get(t % routers.size());
            var target = routers.get(method).route(tasks.get(t));
            if (target == null) {
                throw new IllegalArgumentException("run " + id + " has no " + method + " artifact for " + tasks.get(t)
                        + ": give --methods that cover every task");
            }
            mixedMethods.add(target.uri());
        }
        Map<String, ArtifactRouter> rowsOf = new LinkedHashMap<>(routers);
        rowsOf.put("one method per task", ArtifactRouter.of(hadoop, backbone, mixedMethods));

        List<RoutedInference.Input> rows = images(hadoop, tasks);
        out.printf(Locale.ROOT, "run %s: %d tasks x %d test images, shuffled, batches of %d; %d+%d rounds; threads %s%n",
                id, tasks.size(), perTask, batch, warmup, repeats, System.getProperty("ai.djl.pytorch.num_threads", "default"));
        header(out);
        for (var e : rowsOf.entrySet()) {
            row(out, e.getKey(), PredictionBenchmark.measure(e.getValue(), rows, batch, warmup, repeats, hadoop));
        }
        out.println();
        out.println("x D^T for a delta of each density: sparse (COO) against dense, ms (median of 5)");
        out.printf(Locale.ROOT, "%-30s %8s %10s %10s%n", "shape (rows x out x in)", "density", "sparse", "dense");
        int[][] shapes = {{batch * 17, 96, 96}, {batch * 17, 384, 96}, {8 * 197, 768, 768}};
        for (int[] s : shapes) {
            for (double density : new double[] {0.0005, 0.001, 0.002, 0.005, 0.01}) {
                double[] ms = PredictionBenchmark.sparseVersusDense(s[0], s[1], s[2], density, 5);
                out.printf(Locale.ROOT, "%-30s %8.4f %10.2f %10.2f%n", s[0] + " x " + s[1] + " x " + s[2], density, ms[0],
                        ms[1]);
                out.flush();
            }
        }
        return 0;
    }

    private static void header(PrintWriter out) {
        out.printf(Locale.ROOT, "%-22s %7s %9s %9s %9s %9s %9s | %8s %8s %8s %s%n", "artifacts", "tasks/b", "prep ms",
                "backbone", "mixed", "per-art", "every", "mixed/s", "per-art/s", "every/s", "(ms per batch; images/s)");
        out.flush();
    }

    private void row(PrintWriter out, String name, PredictionBenchmark.Result r) {
        out.printf(Locale.ROOT, "%-22s %7.1f %9.1f %9.1f %9.1f %9.1f %9.1f | %8.0f %8.0f %8.0f%n", name, r.groups(),
                r.preprocess() * 1e3, r.backbone() * 1e3, r.mixed() * 1e3, r.perArtifact() * 1e3, r.everyArtifact() * 1e3,
                batch / r.mixed(), batch / r.perArtifact(), batch / r.everyArtifact());
        out.flush();
    }

    private int synthetic(PrintWriter out) throws Exception {
        Configuration hadoop = org.sptspark.data.HadoopFiles.configuration();
        var config = org.sptspark.model.VitPresets.get(synthetic);
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("spt-bench-predict");
        try {
            out.printf(Locale.ROOT, "synthetic %s: random backbone, 7 tasks x %d random images, shuffled, batches of %d;"
                    + " %d+%d rounds; threads %s%n", synthetic, perTask, batch, warmup, repeats,
                    System.getProperty("ai.djl.pytorch.num_threads", "default"));
            header(out);
            for (String id : syntheticMethods) {
                var method = org.sptspark.tuning.Method.parse(id);
                var s = PredictionBenchmark.synthetic(hadoop, dir, config, method, 8, 7, perTask);
                var router = ArtifactRouter.of(hadoop, s.backbone(), s.artifacts());
                row(out, method.id(), PredictionBenchmark.measure(router, s.rows(), batch, warmup, repeats, hadoop));
            }
        } finally {
            try (var files = java.nio.file.Files.walk(dir)) {
                for (var f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    java.nio.file.Files.deleteIfExists(f);
                }
            }
        }
        return 0;
    }

    /** The first test images of each task, decoded, shuffled together with a fixed seed. */
    private List<RoutedInference.Input> images(Configuration hadoop, List<String> tasks) throws Exception {
        Suite s = Suite.load(suite);
        var reader = new DatasetReader(hadoop);
        long maxPixels = DataLimits.of(hadoop).maxImagePixels();
        var rows = new ArrayList<RoutedInference.Input>();
        for (String task : tasks) {
            TaskSpec spec = s.task(task);
            List<Sample> samples = reader.read(data, spec, Split.TEST);
            for (Sample sample : samples.subList(0, Math.min(perTask, samples.size()))) {
                Path p = new Path(sample.path());
                byte[] bytes;
                try (var in = p.getFileSystem(hadoop).open(p)) {
                    bytes = in.readAllBytes();
                }
                var input = RoutedInference.Input.decode(task, bytes, sample.path(), maxPixels);
                if (input.error() != null) {
                    throw new IllegalArgumentException(input.error());
                }
                rows.add(input);
            }
        }
        Collections.shuffle(rows, new Random(0));
        return rows;
    }
}
