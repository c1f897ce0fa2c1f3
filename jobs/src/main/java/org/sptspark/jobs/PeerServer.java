package org.sptspark.jobs;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The PyTorch eager peer of {@code spt bench peer}: the Python server shipped in this jar
 * ({@value #SCRIPT}), written to a temporary file and run by a given Python. One command a line
 * on its stdin, one JSON answer a line on its stdout; its stderr goes to a temporary log whose
 * tail an error quotes.
 */
final class PeerServer implements AutoCloseable {

    /** The script's resource path in the jobs jar. */
    static final String SCRIPT = "/org/sptspark/jobs/peer/spt_peer.py";

    /** How to get the peer's Python stack on Debian 12. */
    static final String INSTALL = "apt-get install python3-torch python3-numpy";

    private final Process process;
    private final BufferedWriter in;
    private final BufferedReader out;
    private final Path script;
    private final Path log;
    private final JsonObject hello;

    private PeerServer(String python, int threads) throws IOException {
        script = writeScript();
        log = Files.createTempFile("spt-peer-", ".log");
        var builder = new ProcessBuilder(python, script.toString(), "--threads", String.valueOf(threads))
                .redirectError(log.toFile());
        // OpenMP's pool at the same size as torch's intra-op threads
        builder.environment().put("OMP_NUM_THREADS", String.valueOf(threads));
        process = builder.start();
        in = new BufferedWriter(new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8));
        out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        JsonObject h;
        try {
            h = call("hello");
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        hello = h;
    }

    /** Starts the server on {@code python} with {@code threads} intra-op threads (one inter-op thread). */
    static PeerServer start(String python, int threads) {
        try {
            return new PeerServer(python, threads);
        } catch (IOException e) {
            throw new UncheckedIOException("could not start the peer on " + python, e);
        }
    }

    /**
     * The torch version {@code python} imports (with numpy), or {@code null} when it cannot;
     * {@code why} receives the reason.
     */
    static String probe(String python, StringBuilder why) {
        try {
            Process p = new ProcessBuilder(python, "-c", "import torch, numpy; print(torch.__version__)")
                    .redirectErrorStream(true).start();
            p.getOutputStream().close();
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                why.append(python).append(" did not answer within 120 s");
                return null;
            }
            if (p.exitValue() != 0) {
                List<String> lines = text.lines().toList();
                why.append(python).append(" cannot import torch and numpy: ")
                        .append(lines.isEmpty() ? "exit " + p.exitValue() : lines.get(lines.size() - 1));
                return null;
            }
            List<String> lines = text.lines().toList();
            return lines.get(lines.size() - 1);
        } catch (IOException e) {
            why.append(python).append(" cannot be run: ").append(e.getMessage());
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            why.append("interrupted");
            return null;
        }
    }

    /** The server's versions and thread settings ({@code hello}'s answer). */
    JsonObject hello() {
        return hello;
    }

    /**
     * Sends one command and returns its answer.
     *
     * @throws IllegalStateException when the peer answers an error, or exits, naming the command
     */
    JsonObject call(String command) {
        String line;
        try {
            in.write(command);
            in.write('\n');
            in.flush();
            line = out.readLine();
        } catch (IOException e) {
            line = null;
        }
        if (line == null) {
            throw new IllegalStateException("the peer exited at '" + word(command) + "'" + logTail());
        }
        JsonObject answer;
        try {
            answer = JsonParser.parseString(line).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new IllegalStateException("the peer answered '" + word(command) + "' with no JSON: " + line);
        }
        if (!answer.has("ok") || !answer.get("ok").getAsBoolean()) {
            throw new IllegalStateException("the peer refused '" + word(command) + "': "
                    + (answer.has("error") ? answer.get("error").getAsString() : line));
        }
        return answer;
    }

    private static String word(String command) {
        int space = command.indexOf(' ');
        return space < 0 ? command : command.substring(0, space);
    }

    private String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return lines.isEmpty() ? "" : "; its last words: " + String.join(" | ",
                    lines.subList(Math.max(0, lines.size() - 3), lines.size()));
        } catch (IOException e) {
            return "";
        }
    }

    private static Path writeScript() throws IOException {
        Path file = Files.createTempFile("spt_peer", ".py");
        try (InputStream s = PeerServer.class.getResourceAsStream(SCRIPT)) {
            if (s == null) {
                throw new IOException("the jar has no " + SCRIPT);
            }
            Files.copy(s, file, StandardCopyOption.REPLACE_EXISTING);
        }
        return file;
    }

    @Override
    public void close() {
        try {
            if (process.isAlive()) {
                try {
                    in.write("quit\n");
                    in.flush();
                } catch (IOException e) {
                    // already gone
                }
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        } finally {
            try {
                Files.deleteIfExists(script);
                Files.deleteIfExists(log);
            } catch (IOException e) {
                // temporary files; the OS cleans them
            }
        }
    }
}
