package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code conf/cluster/gpu-discovery.sh}, the script a Worker runs to find its GPUs, against a fake
 * {@code nvidia-smi}: what it prints must be the JSON Spark parses, and a node without nvidia-smi
 * must say so rather than fail silently.
 */
class GpuDiscoveryScriptTest {

    /** The script in the repository; tests run in the pipeline module, one level below the root. */
    static final Path SCRIPT = Path.of("..", "conf", "cluster", "gpu-discovery.sh").toAbsolutePath().normalize();

    @TempDir
    Path dir;

    /**
     * Writes {@code bin/nvidia-smi} under {@code dir}: it prints {@code indices} for the query the
     * script makes ({@code --query-gpu=index --format=csv,noheader}) and fails on any other.
     * Returns the {@code bin} folder, to put first on a PATH.
     */
    static Path fakeNvidiaSmi(Path dir, String indices) throws IOException {
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Path smi = bin.resolve("nvidia-smi");
        Files.writeString(smi, "#!/bin/sh\n"
                + "if [ \"$*\" != \"--query-gpu=index --format=csv,noheader\" ]; then\n"
                + "  echo \"fake nvidia-smi: unexpected arguments $*\" >&2; exit 2\n"
                + "fi\n"
                + "printf '" + indices.replace("\n", "\\n") + "'\n");
        Files.setPosixFilePermissions(smi, PosixFilePermissions.fromString("rwxr-xr-x"));
        return bin;
    }

    record Run(int exit, String stdout, String stderr) {}

    private Run discover(String path) throws Exception {
        var builder = new ProcessBuilder("bash", SCRIPT.toString())
                .redirectOutput(dir.resolve("out.txt").toFile())
                .redirectError(dir.resolve("err.txt").toFile());
        builder.environment().put("PATH", path);
        Process p = builder.start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "gpu-discovery.sh did not finish within 30 s");
        return new Run(p.exitValue(), Files.readString(dir.resolve("out.txt")), Files.readString(dir.resolve("err.txt")));
    }

    @Test
    void printsTheAddressesOfNvidiaSmiAsSparksJson() throws Exception {
        Path bin = fakeNvidiaSmi(dir, " 0\n 1\n");
        Run run = discover(bin + ":/usr/bin:/bin");
        assertEquals(new Run(0, "{\"name\": \"gpu\", \"addresses\": [\"0\",\"1\"]}\n", ""), run);
    }

    @Test
    void aNodeWithoutGpusHasNoAddresses() throws Exception {
        Path bin = fakeNvidiaSmi(dir, "");
        Run run = discover(bin + ":/usr/bin:/bin");
        assertEquals(new Run(0, "{\"name\": \"gpu\", \"addresses\": []}\n", ""), run);
    }

    @Test
    void withoutNvidiaSmiItFailsWithOneLineNamingIt() throws Exception {
        Run run = discover("/usr/bin:/bin");
        assertNotEquals(0, run.exit());
        assertEquals("", run.stdout());
        assertEquals(1, run.stderr().strip().lines().count(), run.stderr());
        assertTrue(run.stderr().contains("nvidia-smi not found on PATH (/usr/bin:/bin)"), run.stderr());
    }

    @Test
    void somethingOtherThanAnIndexIsAnError() throws Exception {
        Path bin = fakeNvidiaSmi(dir, "0\nN/A\n");
        Run run = discover(bin + ":/usr/bin:/bin");
        assertNotEquals(0, run.exit());
        assertEquals("", run.stdout());
        assertTrue(run.stderr().contains("nvidia-smi printed 'N/A' where a GPU index was expected"), run.stderr());
    }
}
