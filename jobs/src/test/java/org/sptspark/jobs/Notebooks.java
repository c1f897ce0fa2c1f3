package org.sptspark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Executes the notebooks in {@code notebooks/} headless on a lake with Debian's
 * {@code jupyter-nbconvert}, writing the executed copies and their figures to
 * {@code jobs/target/notebooks}. A failing cell fails the run; so does a missing figure.
 */
final class Notebooks {

    /** Each notebook and the figures it must produce. */
    static final Map<String, List<String>> FIGURES = Map.of(
            "results.ipynb", List.of("accuracy_by_task.png", "budget_vs_accuracy.png"),
            "budget.ipynb", List.of("budget_by_depth.png", "budget_by_operation.png", "structured_modules.png"),
            "artifacts.ipynb", List.of("artifact_size.png"),
            "stability.ipynb", List.of("stability_overlap.png"));

    private Notebooks() {}

    static void executeAll(String lake, String run) throws Exception {
        execute(lake, run, FIGURES);
    }

    /** Executes some notebooks, each of which must produce the figures given for it. */
    static void execute(String lake, String run, Map<String, List<String>> notebooksAndFigures) throws Exception {
        Path notebooks = Path.of("..", "notebooks").toAbsolutePath().normalize();
        Path out = Path.of("target", "notebooks").toAbsolutePath();
        Path figures = out.resolve("figures");
        Files.createDirectories(figures);
        String nbconvert = findNbconvert();
        Path spt = launcher(out);
        for (var e : notebooksAndFigures.entrySet()) {
            for (String figure : e.getValue()) {
                Files.deleteIfExists(figures.resolve(figure));
            }
            var command = List.of(nbconvert, "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=900",
                    "--output-dir", out.toString(), notebooks.resolve(e.getKey()).toString());
            var builder = new ProcessBuilder(command).directory(notebooks.toFile()).redirectErrorStream(true);
            builder.environment().put("SPT_LAKE", lake);
            builder.environment().put("SPT_RUN", run);
            builder.environment().put("SPT_BIN", spt.toString());
            builder.environment().put("SPT_FIGURES", figures.toString());
            Process p = builder.start();
            String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(20, TimeUnit.MINUTES), e.getKey() + " did not finish");
            assertEquals(0, p.exitValue(), e.getKey() + " failed:\n" + log);
            for (String figure : e.getValue()) {
                Path f = figures.resolve(figure);
                assertTrue(Files.isRegularFile(f) && Files.size(f) > 1000, e.getKey() + " did not produce " + f + "\n" + log);
            }
        }
    }

    private static String findNbconvert() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, "jupyter-nbconvert"))) {
                return Path.of(dir, "jupyter-nbconvert").toString();
            }
        }
        if (Files.isExecutable(Path.of("/usr/bin/jupyter-nbconvert"))) {
            return "/usr/bin/jupyter-nbconvert";
        }
        throw new AssertionError("jupyter-nbconvert is missing: apt-get install jupyter-nbconvert python3-ipykernel"
                + " python3-pandas python3-matplotlib (.ci/run does)");
    }

    /** A launcher running this test JVM's class path, so the notebooks' spt calls see the code under test. */
    private static Path launcher(Path dir) throws Exception {
        var flags = new ArrayList<String>();
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("--add-opens") || arg.startsWith("-Dai.djl") || arg.startsWith("-Djdk.reflect")
                    || arg.startsWith("-XX:+IgnoreUnrecognizedVMOptions")) {
                flags.add("'" + arg + "'");
            }
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String script = "#!/usr/bin/env bash\nexec '" + java + "' " + String.join(" ", flags) + " -cp '"
                + System.getProperty("java.class.path") + "' org.sptspark.jobs.Spt \"$@\"\n";
        Path file = dir.resolve("spt");
        Files.writeString(file, script);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
        return file;
    }
}
