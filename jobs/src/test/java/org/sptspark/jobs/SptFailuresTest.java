package org.sptspark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.lake.Secrets;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Failing commands, run as {@code main} runs them: one line on stderr, {@code spt <command>: ...},
 * no stack frames there, exit code 2 for bad input and 70 otherwise, and the stack trace in the
 * log file the line names.
 */
class SptFailuresTest {

    @TempDir
    Path dir;

    Path logs;
    String previousLogDir;

    record Run(int exit, String out, String err) {

        /** The log file the error line names. */
        Path log() {
            Matcher m = Pattern.compile("\\(stack trace in (.+\\.log)\\)$").matcher(err.strip());
            assertTrue(m.find(), "no log named in: " + err);
            return Path.of(m.group(1));
        }
    }

    @BeforeEach
    void logsInTheTestsFolder() {
        logs = dir.resolve("logs");
        previousLogDir = System.getProperty(Failures.LOG_DIR_PROPERTY);
        System.setProperty(Failures.LOG_DIR_PROPERTY, logs.toString());
    }

    @AfterEach
    void restoreLogs() {
        if (previousLogDir == null) {
            System.clearProperty(Failures.LOG_DIR_PROPERTY);
        } else {
            System.setProperty(Failures.LOG_DIR_PROPERTY, previousLogDir);
        }
    }

    /** Runs a command line as {@link Spt#main} does, short of exiting. */
    static Run run(Object command, String... args) {
        var cli = new CommandLine(command);
        var out = new StringWriter();
        var err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = Failures.execute(cli, Spt::configure, args);
        return new Run(exit, out.toString(), err.toString());
    }

    static Run spt(String... args) {
        return run(new Spt(), args);
    }

    /** Exactly one line on stderr, starting {@code spt <command>: }, with no stack frame. */
    static void oneLine(Run r, String command) {
        List<String> lines = r.err().strip().lines().toList();
        assertEquals(1, lines.size(), "one line on stderr:\n" + r.err());
        assertTrue(lines.get(0).startsWith("spt " + command + ": "), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    /** The log exists and holds the stack trace (and the line). */
    static String logged(Run r) throws Exception {
        Path log = r.log();
        assertTrue(Files.isRegularFile(log), log + " exists");
        String text = Files.readString(log);
        assertTrue(text.contains("\tat org.sptspark.jobs."), "a stack trace in " + log + ":\n" + text);
        assertTrue(text.contains(r.err().strip().replaceFirst(" \\(stack trace in .*\\)$", "")), text);
        return text;
    }

    String[] train(String backbone, String method) {
        return new String[] {"train", "--suite", "demo", "--task", "gen_dsprites_ori", "--data", dir.resolve("data").toString(),
            "--backbone", backbone, "--preset", "vit_demo_patch4_32", "--lake", dir.resolve("lake").toString(), "--method", method};
    }

    @Test
    void aMissingCheckpointIsBadInputInOneLineNamingTheFile() throws Exception {
        String missing = dir.resolve("missing.safetensors").toString();
        Run r = spt(train(missing, "linear"));
        assertEquals(Failures.BAD_INPUT, r.exit(), r.err());
        oneLine(r, "train");
        assertTrue(r.err().contains(missing), r.err());
        String log = logged(r);
        assertTrue(log.contains("exit code: 2 (bad input)") && log.contains("command line: spt train --suite demo"), log);
        assertTrue(log.startsWith("spt train failed at "), log);
        assertTrue(r.log().getFileName().toString().matches("spt-train-\\d{8}-\\d{6}-\\d+(-\\d+)?\\.log"), r.log().toString());
    }

    @Test
    void anUnknownMethodAndABadBudgetAreBadInput() throws Exception {
        Run method = spt(train(dir.resolve("x.safetensors").toString(), "lorra"));
        assertEquals(Failures.BAD_INPUT, method.exit(), method.err());
        oneLine(method, "train");
        assertTrue(method.err().contains("unknown method 'lorra': choose one of"), method.err());
        logged(method);

        Run budget = spt("bench", "allocate", "--presets", "vit_demo_patch4_32", "--budgets", "12q", "--repeat", "1");
        assertEquals(Failures.BAD_INPUT, budget.exit(), budget.err());
        oneLine(budget, "bench allocate");
        assertTrue(budget.err().startsWith("spt bench allocate: budget '12q' is not a number"), budget.err());
        logged(budget);

        String none = dir.resolve("no-scores").toString();
        Run scores = spt("allocate", "--scores", none, "--budget", "10k", "--lake", dir.toString());
        assertEquals(Failures.BAD_INPUT, scores.exit(), scores.err());
        oneLine(scores, "allocate");
        assertTrue(scores.err().contains(none), scores.err());
        var mode = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> AllocateCommand.choice("--mode", "greedy", org.sptspark.allocation.AllocationRule.Mode.class));
        assertEquals("--mode 'greedy': expected one of mixed, structured_only, unstructured_only", mode.getMessage());
    }

    @Test
    void parameterErrorsAreOneLineWithWhereHelpIs() {
        Run rank = spt("train", "--rank", "eight");
        assertEquals(Failures.BAD_INPUT, rank.exit());
        oneLine(rank, "train");
        assertEquals("spt train: Invalid value for option '--rank': 'eight' is not an int (see 'spt train --help')",
                rank.err().strip());
        Run typo = spt("sweep", "--data", "d", "--backbone", "b", "--preset", "p", "--lake", "l", "--forse");
        assertEquals(Failures.BAD_INPUT, typo.exit());
        oneLine(typo, "sweep");
        assertTrue(typo.err().contains("Unknown option: '--forse'; did you mean --force?"), typo.err());
        Run command = spt("sweeep");
        assertEquals(Failures.BAD_INPUT, command.exit());
        assertEquals(1, command.err().strip().lines().count(), command.err());
        assertTrue(command.err().startsWith("spt: "), command.err());
        // the Spark-free command line ends its failures the same way
        Run node = run(new SptNode(), "bench", "gpu", "--precisions", "fp16", "--fixture",
                "../pipeline/src/test/resources/fixtures/vit-reference");
        assertEquals(Failures.BAD_INPUT, node.exit(), node.err());
        oneLine(node, "bench gpu");
        assertTrue(node.err().startsWith("spt bench gpu: precision 'fp16': expected fp32 or bf16"), node.err());
    }

    /** A task that fails on an executor: the line shows the executor's exception, not Spark's wrapper. */
    @Test
    void anExecutorsFailureIsShownByItsCause() throws Exception {
        assertEquals(0, spt("generate", "--task", "gen_dsprites_ori", "--out", dir.resolve("data").toString(),
                "--test-size", "4").exit());
        Path backbone = dir.resolve("demo.safetensors");
        try (var manager = ai.djl.ndarray.NDManager.newBaseManager()) {
            org.sptspark.model.Checkpoints.write(org.sptspark.model.VisionTransformer.create(manager,
                    org.sptspark.model.VitPresets.get("vit_demo_patch4_32"), 16), backbone);
        }
        // the first training image, which the first batch decodes on an executor
        Path image = dir.resolve("data/gen_dsprites_ori/images/train/000000.png");
        Files.writeString(image, "garbage");
        Run r = spt("sensitivity", "--suite", "demo", "--task", "gen_dsprites_ori", "--data", dir.resolve("data").toString(),
                "--backbone", backbone.toString(), "--preset", "vit_demo_patch4_32", "--lake", dir.resolve("lake").toString(),
                "--batches", "1", "--batch-size", "4", "--partitions", "1");
        assertEquals(Failures.BAD_INPUT, r.exit(), r.err());
        oneLine(r, "sensitivity");
        assertTrue(r.err().startsWith("spt sensitivity: cannot decode image " + image), r.err());
        assertFalse(r.err().contains("SparkException") || r.err().contains("stage failure"), r.err());
        String log = logged(r);
        assertTrue(log.contains("org.apache.spark.SparkException: Job aborted due to stage failure"), log);
    }

    @Test
    void anInternalFailureExitsWith70AndVerbosePrintsTheTrace() throws Exception {
        Run r = run(new Broken(), "boom");
        assertEquals(Failures.INTERNAL, r.exit(), r.err());
        oneLine(r, "boom");
        assertTrue(r.err().startsWith("spt boom: NullPointerException: the plan is null (stack trace in "), r.err());
        String log = logged(r);
        assertTrue(log.contains("exit code: 70 (internal failure)"), log);

        Run verbose = run(new Broken(), "boom", "--verbose");
        assertEquals(Failures.INTERNAL, verbose.exit());
        assertTrue(verbose.err().startsWith("spt boom: NullPointerException: the plan is null\n"), verbose.err());
        assertTrue(verbose.err().contains("\tat org.sptspark.jobs.SptFailuresTest$Broken$Boom.call"), verbose.err());

        // errors that picocli lets through end the same way
        Run oom = run(new Broken(), "oom");
        assertEquals(Failures.INTERNAL, oom.exit(), oom.err());
        oneLine(oom, "oom");
        assertTrue(oom.err().contains("out of memory (Java heap space; give the JVM more with JAVA_OPTS=-Xmx...)"), oom.err());
        logged(oom);
    }

    @Test
    void anUnwritableLogFolderStillEndsInOneLine() throws Exception {
        Files.writeString(logs.getParent().resolve("logs"), "a file where the folder would be");
        Run r = run(new Broken(), "boom");
        assertEquals(Failures.INTERNAL, r.exit());
        oneLine(r, "boom");
        assertTrue(r.err().contains("(no log written: ") && r.err().contains("--verbose prints the stack trace)"), r.err());
    }

    /**
     * S3A's keys, given as Spark settings and in the job's Hadoop configuration, appear neither on
     * stderr nor in the failure log, which lists the settings with their values masked.
     */
    @Test
    void theFailureLogListsSettingsWithoutTheirSecrets() throws Exception {
        String access = "AKIA" + UUID.randomUUID().toString().replace("-", "").substring(0, 16).toUpperCase();
        String secret = "secret/" + UUID.randomUUID();
        String token = "token+" + UUID.randomUUID();
        var properties = List.of("spark.hadoop.fs.s3a.access.key", "spark.hadoop.fs.s3a.secret.key",
                "spark.hadoop.fs.s3a.session.token", "spark.hadoop.fs.s3a.bucket.lake.secret.key");
        var values = List.of(access, secret, token, secret);
        var hadoop = SparkSessions.get("SptFailuresTest").sparkContext().hadoopConfiguration();
        try {
            for (int i = 0; i < properties.size(); i++) {
                System.setProperty(properties.get(i), values.get(i));
                hadoop.set(properties.get(i).substring("spark.hadoop.".length()), values.get(i));
            }
            // and a checkpoint URI with the keys in it, which S3A refuses
            String uri = "s3a://" + access + ":" + secret.replace("/", "%2F") + "@lake/backbones/vit.safetensors";
            Run r = spt(train(uri, "linear"));
            assertEquals(Failures.BAD_INPUT, r.exit(), r.err());
            oneLine(r, "train");
            String log = logged(r);
            for (String value : List.of(access, secret, secret.replace("/", "%2F"), token)) {
                assertFalse(r.err().contains(value), "stderr shows a key: " + r.err());
                assertFalse(log.contains(value), "the log shows a key:\n" + log);
            }
            for (String p : properties) {
                assertTrue(log.contains("  " + p + "=" + Secrets.MASK + "\n"), p + " listed, masked, in\n" + log);
            }
            assertTrue(log.contains("  hadoop fs.s3a.secret.key=" + Secrets.MASK + "\n"), log);
            assertTrue(log.contains("s3a://" + Secrets.MASK + "@lake/backbones/vit.safetensors"), log);
        } finally {
            for (String p : properties) {
                System.clearProperty(p);
                hadoop.unset(p.substring("spark.hadoop.".length()));
            }
        }
    }

    /** A command line with commands that fail as bugs do. */
    @Command(name = "spt", subcommands = {Broken.Boom.class, Broken.Oom.class})
    static final class Broken {

        @CommandLine.Option(names = Failures.VERBOSE, scope = CommandLine.ScopeType.INHERIT)
        boolean verbose;

        @Command(name = "boom")
        static final class Boom implements Callable<Integer> {
            @Override
            public Integer call() {
                throw new IllegalStateException(new NullPointerException("the plan is null"));
            }
        }

        @Command(name = "oom")
        static final class Oom implements Callable<Integer> {
            @Override
            public Integer call() {
                throw new OutOfMemoryError("Java heap space");
            }
        }
    }
}
