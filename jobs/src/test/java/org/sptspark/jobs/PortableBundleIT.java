package org.sptspark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The portable bundle as a node without Java gets it: built by {@code jobs/bin/spt-bundle} from
 * the packaged jars, unpacked, and run with a PATH that has no {@code java}, on an "installed
 * torch" that is DJL's own CPU libtorch laid out as a pip install's {@code torch/} folder.
 */
class PortableBundleIT {

    @TempDir
    static Path dir;

    static Path bundle;
    static Path torch;
    static Path path;
    static String buildOutput;

    record Run(int exit, String out, String err) {}

    @BeforeAll
    static void buildAndUnpack() throws Exception {
        Path root = Path.of("..").toAbsolutePath().normalize();
        Run build = run(List.of(root.resolve("jobs/bin/spt-bundle").toString(), "--out", dir.resolve("built/spt-bundle").toString()),
                Map.of("SPT_NO_BUILD", "1", "PATH", System.getenv("PATH")), 600);
        assertEquals(0, build.exit(), "spt-bundle failed: " + build.err());
        buildOutput = build.out();
        Files.createDirectories(dir.resolve("node"));
        Run unpack = run(List.of("tar", "-xJf", dir.resolve("built/spt-bundle.tar.xz").toString(), "-C",
                dir.resolve("node").toString()), Map.of("PATH", System.getenv("PATH")), 120);
        assertEquals(0, unpack.exit(), unpack.err());
        bundle = dir.resolve("node/spt-bundle");

        // a pip-style torch/ folder over the libtorch DJL unpacked for this JVM
        Engine.getInstance();
        Path libtorch = Path.of(ai.djl.pytorch.jni.LibUtils.getLibtorchPath());
        torch = Files.createDirectories(dir.resolve("site-packages/torch/lib")).getParent();
        try (var files = Files.list(libtorch)) {
            for (Path f : files.filter(f -> f.getFileName().toString().matches("lib(c10|torch|torch_cpu|gomp.*)\\.so.*")).toList()) {
                Files.createSymbolicLink(torch.resolve("lib").resolve(f.getFileName()), f);
            }
        }
        Files.writeString(torch.resolve("version.py"), "__version__ = '2.7.1+cpu'\ncuda = None\n");

        // the tools a minimal node has, but no java
        Path bin = Files.createDirectories(dir.resolve("node-bin"));
        for (String tool : List.of("bash", "sed", "awk", "nm", "comm", "sort", "tr", "head", "wc", "mkdir", "mv", "cat",
                "rm", "dirname", "paste", "grep", "uniq")) {
            Path found = which(tool);
            Files.createSymbolicLink(bin.resolve(tool), found);
        }
        path = bin;
    }

    @Test
    void buildPrintsAPackedSizeUnderSixtyMebibytes() throws IOException {
        Matcher m = Pattern.compile("packed .*: (\\d+) MiB \\(limit 60 MiB\\)").matcher(buildOutput);
        assertTrue(m.find(), buildOutput);
        int packed = Integer.parseInt(m.group(1));
        assertTrue(packed < 60 && packed > 10, "packed size " + packed + " MiB");
        assertEquals(packed, Files.size(dir.resolve("built/spt-bundle.tar.xz")) / 1048576);
    }

    @Test
    void runsTheDeviceCheckAndTheBenchmarksWithoutAJdkOnThePath() throws Exception {
        Run noJava = run(List.of("bash", "-c", "command -v java || echo none"), node(), 30);
        assertEquals("none", noJava.out().strip(), "the test's PATH must not hold java");

        Path json = dir.resolve("check.json");
        Run check = run(List.of(bundle.resolve("bin/spt").toString(), "--torch", torch.toString(), "bench", "gpu", "--small",
                "--no-timings", "--json", json.toString()), node(), 600);
        assertEquals(0, check.exit(), check.out() + check.err());
        assertTrue(check.err().contains("spt: torch 2.7.1 (cpu) from " + torch.resolve("lib")), check.err());
        assertTrue(check.out().contains("device check passed"), check.out());
        // every method took a finite step; bf16 is refused by DJL's own JNI, not attempted
        for (String method : BenchGpuCommand.METHODS) {
            assertTrue(Pattern.compile("step +" + method + " .* loss [0-9.]+ +finite +ok").matcher(check.out()).find(),
                    method + ":\n" + check.out());
        }
        assertTrue(check.out().contains("bf16") && check.out().contains("skipped: --precision bf16"), check.out());
        String figures = Files.readString(json);
        assertTrue(figures.contains("\"failed\": 0"), figures);

        Run sensitivity = run(List.of(bundle.resolve("bin/spt").toString(), "--torch", torch.toString(), "bench", "sensitivity",
                "--presets", "vit_demo_patch4_32", "--batches", "1", "--batch-size", "4"), node(), 300);
        assertEquals(0, sensitivity.exit(), sensitivity.err());
        assertTrue(Pattern.compile("vit_demo_patch4_32 +off +4 +[0-9.]+ +[0-9.]+").matcher(sensitivity.out()).find(),
                sensitivity.out());

        // bench train forks one JVM per row: the bundle's own runtime
        Run train = run(List.of(bundle.resolve("bin/spt").toString(), "--torch", torch.toString(), "bench", "train",
                "--presets", "vit_demo_patch4_32", "--methods", "spt-lora", "--batch", "4", "--steps", "1"), node(), 300);
        assertEquals(0, train.exit(), train.err());
        assertTrue(Pattern.compile("vit_demo_patch4_32 +spt-lora").matcher(train.out()).find(), train.out());
    }

    @Test
    void aTorchWhoseLibrariesLackTheJnisSymbolsIsOneClearLineNotACrash() throws Exception {
        // a "CUDA" torch whose libraries are the CPU ones: DJL's cu128 JNI needs c10::cuda symbols they lack
        Path cuda = Files.createDirectories(dir.resolve("cuda-site/torch/lib")).getParent();
        try (var files = Files.list(torch.resolve("lib"))) {
            for (Path f : files.toList()) {
                Files.createSymbolicLink(cuda.resolve("lib").resolve(f.getFileName()), Files.readSymbolicLink(f));
            }
        }
        Files.copy(torch.resolve("lib/libc10.so"), cuda.resolve("lib/libtorch_cuda.so"));
        Files.writeString(cuda.resolve("version.py"), "__version__ = '2.7.1+cu128'\ncuda = '12.8'\n");
        Run r = run(List.of(bundle.resolve("bin/spt").toString(), "--torch", cuda.toString(), "bench", "gpu", "--small"),
                node(), 120);
        assertEquals(3, r.exit(), r.out() + r.err());
        List<String> lines = r.err().strip().lines().toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).matches("spt: DJL 0\\.35\\.1's cu128 JNI \\(built for libtorch 2\\.7\\.1\\) does not match torch"
                + " 2\\.7\\.1 \\(cu128\\) in .*: \\d+ libtorch symbols it needs are missing, e\\.g\\. _ZN3c104cuda.*"
                + "build-djl-jni\\.sh.*"), lines.get(0));
        assertTrue(r.out().isEmpty(), "no JVM may start: " + r.out());
    }

    private static Map<String, String> node() {
        return Map.of("PATH", path.toString(), "HOME", dir.toString(), "DJL_CACHE_DIR", dir.resolve("node-djl").toString());
    }

    private static Path which(String tool) {
        for (String d : System.getenv("PATH").split(":")) {
            Path p = Path.of(d, tool);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        throw new IllegalStateException("no " + tool + " on the PATH");
    }

    private static Run run(List<String> command, Map<String, String> env, int seconds) throws Exception {
        var builder = new ProcessBuilder(new ArrayList<>(command));
        builder.environment().clear();
        builder.environment().putAll(env);
        Path out = Files.createTempFile(dir, "out", ".txt");
        Path err = Files.createTempFile(dir, "err", ".txt");
        Process p = builder.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(command + " did not finish in " + seconds + " s: " + Files.readString(err));
        }
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }
}
