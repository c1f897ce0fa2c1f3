package org.sptspark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code spt bench peer} on the tiny preset: one line per row, each with a ratio where the peer ran. */
class BenchPeerCommandTest {

    static final List<String> ROWS = List.of("model", "sensitivity", "linear", "bias", "lora", "adapter", "full",
            "spt-lora", "spt-adapter", "spt-lora-masked", "snella");

    @Test
    void printsEveryRowWithARatioOrSaysThePeerIsSkipped() {
        boolean torch = PeerServer.probe(PeerCheckTest.PYTHON, new StringBuilder()) != null;
        SptCliTest.Run r = SptCliTest.run("bench", "peer", "--presets", "vit_demo_patch4_32", "--batch", "2",
                "--warmup", "1", "--rounds", "1", "--python", PeerCheckTest.PYTHON);
        assertEquals(0, r.exit(), r.err());
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.get(0).startsWith("ours: DJL "), r.out());
        for (String row : ROWS) {
            String line = lines.stream().filter(l -> l.startsWith("vit_demo_patch4_32") && l.split("\\s+")[1].equals(row))
                    .findFirst().orElseThrow(() -> new AssertionError("no row " + row + " in\n" + r.out()));
            String[] cells = line.split("\\s+");
            assertTrue(Double.parseDouble(cells[3]) > 0, line);
            if (torch) {
                assertTrue(cells[5].matches("\\d+\\.\\d\\dx"), "no ratio: " + line);
                assertTrue(Double.parseDouble(cells[4]) > 0, line);
            } else {
                assertEquals("-", cells[5], line);
            }
        }
        if (torch) {
            assertTrue(lines.get(1).startsWith("peer: " + PeerCheckTest.PYTHON) && lines.get(1).contains("torch "), r.out());
        } else {
            assertTrue(lines.get(1).startsWith("peer skipped: ") && lines.get(1).contains(PeerServer.INSTALL), r.out());
        }
    }

    @Test
    void aPythonWithoutTorchSkipsThePeerAndRunsOursAlone() {
        SptCliTest.Run r = SptCliTest.run("bench", "peer", "--presets", "vit_demo_patch4_32", "--methods", "linear",
                "--batch", "2", "--warmup", "0", "--rounds", "1", "--python", "/nonexistent/python3");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("peer skipped: /nonexistent/python3 cannot be run"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("vit_demo_patch4_32") && l.contains(" linear ")
                && l.trim().endsWith("skipped")), r.out());
    }

    @Test
    void anUnknownRowIsRefused() {
        SptCliTest.Run r = SptCliTest.run("bench", "peer", "--methods", "lorra");
        assertEquals(2, r.exit(), r.out());
        assertTrue(r.err().contains("unknown row 'lorra'"), r.err());
    }
}
