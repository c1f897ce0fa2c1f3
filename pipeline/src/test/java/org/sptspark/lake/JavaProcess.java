package org.sptspark.lake;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A test's main class run in a JVM of its own, so that it can be killed for real
 * ({@link Process#destroyForcibly}: SIGKILL on Linux). It runs on this JVM's class path with the
 * flags Spark needs that surefire's argLine passes (the {@code --add-opens}), stdout and stderr
 * to {@code log}.
 */
public final class JavaProcess {

    private JavaProcess() {}

    public static Process start(Class<?> main, Path log, String... args) throws IOException {
        var command = new ArrayList<String>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("--add-opens") || a.startsWith("-XX:+IgnoreUnrecognized") || a.startsWith("-Djdk.reflect")
                    || a.startsWith("-Dai.djl")) {
                command.add(a);
            }
        }
        command.add("-Xmx2g");
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(List.of(args));
        var builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().putIfAbsent("SPARK_LOCAL_IP", "127.0.0.1");
        return builder.start();
    }

    /**
     * Waits until {@code condition} holds, polling every 20 ms; fails with the process's log when it
     * exits first or {@code seconds} pass.
     */
    public static void await(Process p, Path log, int seconds, String what, BooleanSupplier condition)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new AssertionError((p.isAlive() ? "timed out" : "the process exited (" + p.waitFor() + ")")
                        + " before " + what + "; its log:\n" + tail(log));
            }
            Thread.sleep(20);
        }
    }

    /** Kills the process (SIGKILL) and waits for it to be gone. */
    public static void kill(Process p) throws InterruptedException {
        p.destroyForcibly();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            throw new AssertionError("process " + p.pid() + " did not die");
        }
    }

    /** The end of a log, for failure messages. */
    public static String tail(Path log) throws IOException {
        if (!Files.exists(log)) {
            return "(no log)";
        }
        String s = Files.readString(log);
        return s.length() > 20_000 ? s.substring(s.length() - 20_000) : s;
    }
}
