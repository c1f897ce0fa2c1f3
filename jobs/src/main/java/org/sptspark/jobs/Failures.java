package org.sptspark.jobs;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.sptspark.lake.Secrets;
import picocli.CommandLine;

/**
 * How a command fails: one line on stderr, {@code spt <command>: <what failed>}, an exit code that
 * tells bad input ({@value #BAD_INPUT}) from an internal failure ({@value #INTERNAL}), and the stack
 * trace in a log file that the line names ({@code --verbose} prints it on stderr instead).
 *
 * <p>The line shows the root cause worth showing ({@link #cause}): Spark's, the executors' and
 * Java's wrappers are unwrapped, down to the exception a task threw on an executor, also when Spark
 * only passes it on as text in its message. Everything shown and logged is {@linkplain Secrets#redact
 * redacted}. This class loads no Spark class: the Spark-free command line ({@link SptNode}) uses it too.
 */
final class Failures {

    /** Exit code for bad input: a bad option or argument, a missing or invalid file, a refused value. */
    static final int BAD_INPUT = 2;

    /** Exit code for any other failure (sysexits' EX_SOFTWARE). */
    static final int INTERNAL = 70;

    /** The option that prints stack traces on stderr. */
    static final String VERBOSE = "--verbose";

    /** The property, and then the environment variable, naming the log folder. */
    static final String LOG_DIR_PROPERTY = "spt.log.dir";
    static final String LOG_DIR_ENV = "SPT_LOG_DIR";

    /**
     * One exception of a failure as shown.
     *
     * @param type its class name, e.g. {@code java.lang.IllegalArgumentException}
     * @param message its message, or {@code null}
     */
    record Part(String type, String message) {}

    /**
     * What a failure shows.
     *
     * @param message the line's text after {@code spt <command>: }
     * @param badInput whether the exit code is {@link #BAD_INPUT}
     * @param parts the exceptions shown, outermost first
     */
    record Cause(String message, boolean badInput, List<Part> parts) {

        int exitCode() {
            return badInput ? BAD_INPUT : INTERNAL;
        }
    }

    /** Exceptions that only carry another: never shown themselves. */
    private static final Set<String> WRAPPERS = Set.of("org.apache.spark.SparkException",
            "java.util.concurrent.ExecutionException", "java.util.concurrent.CompletionException",
            "java.lang.reflect.InvocationTargetException", "java.lang.reflect.UndeclaredThrowableException",
            "picocli.CommandLine$ExecutionException", "org.apache.spark.util.TaskCompletionListenerException",
            "scala.runtime.NonLocalReturnControl");

    /** Bad input: these types and their subclasses (IllegalArgumentException has many). */
    private static final List<Class<?>> BAD_INPUT_TYPES = List.of(IllegalArgumentException.class,
            java.io.FileNotFoundException.class, java.nio.file.NoSuchFileException.class,
            java.nio.file.AccessDeniedException.class, java.nio.file.FileAlreadyExistsException.class,
            java.nio.file.NotDirectoryException.class, CommandLine.ParameterException.class);

    /** Bad input named by class: Hadoop's (not on the Spark-free class path) and types not loadable here. */
    private static final Set<String> BAD_INPUT_NAMES = Set.of("org.apache.hadoop.fs.PathNotFoundException",
            "org.apache.hadoop.fs.FileAlreadyExistsException", "org.apache.hadoop.fs.ParentNotDirectoryException",
            "org.apache.hadoop.fs.UnsupportedFileSystemException", "org.apache.hadoop.fs.s3a.UnknownStoreException",
            "org.apache.hadoop.fs.PathIsNotDirectoryException", "org.apache.hadoop.fs.PathIsDirectoryException");

    /** Types whose message says it all: shown without their class name. */
    private static final Set<String> PLAIN = Set.of("java.lang.IllegalArgumentException", "java.lang.IllegalStateException",
            "java.lang.RuntimeException", "java.lang.Exception", "java.io.IOException", "java.io.UncheckedIOException",
            "java.io.FileNotFoundException", "java.lang.UnsupportedOperationException",
            "picocli.CommandLine$ParameterException", "org.apache.spark.SparkException");

    /** A thrown exception as text: {@code some.package.SomeException: message} (the message optional). */
    private static final Pattern EXCEPTION = Pattern.compile(
            "((?:[a-z_$][\\w$]*\\.)+[A-Z][\\w$]*(?:Exception|Error|Throwable))(?:: (.*))?$");

    /** The longest message a line shows. */
    private static final int LONGEST = 1500;

    /** Where the session's settings come from for the log (set by {@link SparkSessions}; Spark-free otherwise). */
    private static volatile Supplier<Map<String, String>> sessionSettings = Map::of;

    private Failures() {}

    /** Records where a Spark session's settings are read from, for the failure log. */
    static void sessionSettings(Supplier<Map<String, String>> settings) {
        sessionSettings = settings;
    }

    // ---------------------------------------------------------------------------------------------
    // the root cause (pure)

    /**
     * The cause worth showing of a failure: its chain of causes without the wrappers (Spark's
     * {@code SparkException}, {@code ExecutionException}, reflection's, and any exception whose
     * message is only its cause's), the exceptions Spark gives as text in a wrapper's message when
     * the wrapper carries no cause (a failed task's exception, as {@code ...: java.lang.IllegalArgumentException:
     * <message>}), and the message the line shows. Bad input when any exception shown is.
     */
    static Cause cause(Throwable failure) {
        var parts = new ArrayList<Part>();
        boolean bad = false;
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Throwable outermost = failure;
        for (Throwable t = failure; t != null && seen.add(t) && seen.size() < 64; t = t.getCause()) {
            String type = t.getClass().getName();
            boolean wrapper = WRAPPERS.contains(type) || t.getCause() != null
                    && (t.getMessage() == null || t.getMessage().equals(t.getCause().toString()));
            if (!wrapper) {
                parts.add(new Part(type, t.getMessage()));
                bad |= isBadInput(t.getClass());
            } else if (t.getCause() == null || t.getCause() == t) {
                // Spark passes a task's exception on as text when it could not ship the exception itself
                for (Part p : fromText(t.getMessage())) {
                    parts.add(p);
                    bad |= isBadInput(p.type());
                }
            }
        }
        if (parts.isEmpty()) {
            // wrappers only: their own message, at least
            parts.add(new Part(outermost.getClass().getName(), outermost.getMessage()));
        }
        return new Cause(message(parts), bad, List.copyOf(parts));
    }

    /**
     * The exceptions in a text, as Spark's messages and stack traces print them, outermost first:
     * on each line that is not a stack frame, the first exception that is not a wrapper
     * ({@code Caused by:} lines included; {@code Driver stacktrace:} ends the search).
     */
    static List<Part> fromText(String text) {
        var parts = new ArrayList<Part>();
        if (text == null) {
            return parts;
        }
        for (String raw : text.split("\r?\n")) {
            if (raw.startsWith("Driver stacktrace:")) {
                break;
            }
            if (raw.isEmpty() || Character.isWhitespace(raw.charAt(0))) {
                continue; // frames, "... 12 more", suppressed exceptions
            }
            String line = raw.startsWith("Caused by: ") ? raw.substring("Caused by: ".length()) : raw;
            Matcher m = EXCEPTION.matcher(line);
            int from = 0;
            while (m.find(from)) {
                if (!WRAPPERS.contains(m.group(1))) {
                    parts.add(new Part(m.group(1), m.group(2)));
                    break;
                }
                if (m.group(2) == null) {
                    break;
                }
                from = m.start(2); // a wrapper's message: the exception it carries follows
            }
        }
        return parts;
    }

    /** The line's text: each part's description, outermost first, without repeating what an outer one said. */
    static String message(List<Part> parts) {
        var text = new StringBuilder();
        for (Part p : parts) {
            String d = describe(p);
            if (d.isEmpty() || text.indexOf(d) >= 0) {
                continue;
            }
            if (d.contains(text)) {
                text.setLength(0); // the inner message repeats the outer one and says more
            }
            if (!text.isEmpty()) {
                text.append(": ");
            }
            text.append(d);
        }
        String shown = Secrets.redact(text.toString());
        return shown.length() <= LONGEST ? shown : shown.substring(0, LONGEST) + " [...]";
    }

    /** One exception as the line shows it: file errors say what they are; other types than ours are named. */
    private static String describe(Part p) {
        String message = oneLine(p.message());
        String simple = p.type().substring(p.type().lastIndexOf('.') + 1).replace('$', '.');
        String prefix = switch (p.type()) {
            case "java.nio.file.NoSuchFileException" -> "no such file or folder: ";
            case "java.nio.file.AccessDeniedException" -> "access denied: ";
            case "java.nio.file.FileAlreadyExistsException" -> "already exists: ";
            case "java.nio.file.NotDirectoryException" -> "not a folder: ";
            case "java.nio.file.DirectoryNotEmptyException" -> "folder not empty: ";
            default -> null;
        };
        if (prefix != null) {
            return prefix + message;
        }
        if (message.isEmpty()) {
            return plain(p.type()) ? "" : simple;
        }
        if (p.type().equals("java.lang.OutOfMemoryError")) {
            return "out of memory (" + message + "; give the JVM more with JAVA_OPTS=-Xmx...)";
        }
        return plain(p.type()) ? message : simple + ": " + message;
    }

    /** Our own exceptions and the plain ones say what failed in their message. */
    private static boolean plain(String type) {
        return PLAIN.contains(type) || type.startsWith("org.sptspark.");
    }

    /** A message on one line: stack frames dropped, line breaks and runs of spaces as one space. */
    private static String oneLine(String message) {
        if (message == null) {
            return "";
        }
        var kept = new ArrayList<String>();
        for (String line : message.split("\r?\n")) {
            String l = line.strip();
            if (l.startsWith("Driver stacktrace:")) {
                break;
            }
            if (l.isEmpty() || l.startsWith("at ") && line.length() > l.length() || l.matches("\\.\\.\\. \\d+ more")) {
                continue;
            }
            kept.add(l);
        }
        return String.join(" ", kept).replaceAll("\\s+", " ").strip();
    }

    private static boolean isBadInput(Class<?> type) {
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            if (BAD_INPUT_NAMES.contains(c.getName())) {
                return true;
            }
        }
        return BAD_INPUT_TYPES.stream().anyMatch(b -> b.isAssignableFrom(type));
    }

    /** By name, for exceptions known only as text: its class when this JVM has it, else the names known. */
    private static boolean isBadInput(String type) {
        if (BAD_INPUT_NAMES.contains(type)) {
            return true;
        }
        try {
            return isBadInput(Class.forName(type, false, Failures.class.getClassLoader()));
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // reporting

    /**
     * Installs the failure handling on a command line: parameter errors and exceptions of a command
     * end in one line and an exit code.
     */
    static CommandLine install(CommandLine cli) {
        cli.setParameterExceptionHandler(Failures::parameterError);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> report(commandLine, parseResult, e));
        return cli;
    }

    /**
     * Runs a command line to its exit code: what {@link CommandLine#execute} lets through (errors
     * such as running out of memory) and failures while configuring it end in the one line too.
     *
     * @param configure applied to {@code cli} before it runs (the defaults, the handlers)
     */
    static int execute(CommandLine cli, java.util.function.UnaryOperator<CommandLine> configure, String... args) {
        try {
            configure.apply(cli);
        } catch (Throwable t) {
            return report(cli, null, t, args);
        }
        try {
            return cli.execute(args);
        } catch (Throwable t) {
            return report(cli, cli.getParseResult(), t, args);
        }
    }

    /** A parse error: the message and where help is, on one line; no stack trace worth a log. */
    static int parameterError(CommandLine.ParameterException e, String[] args) {
        CommandLine where = e.getCommandLine();
        String name = where.getCommandSpec().qualifiedName(" ");
        var text = new StringBuilder(oneLine(e.getMessage()));
        if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
            text.append("; did you mean ").append(String.join(" or ", u.getSuggestions())).append('?');
        }
        text.append(" (see '").append(name).append(" --help')");
        PrintWriter err = where.getErr();
        err.println(name + ": " + Secrets.redact(text.toString()));
        err.flush();
        if (Arrays.asList(args).contains(VERBOSE)) {
            printTrace(err, e);
        }
        return BAD_INPUT;
    }

    private static int report(CommandLine commandLine, CommandLine.ParseResult parsed, Throwable e) {
        return report(commandLine, parsed, e, parsed == null ? new String[0] : parsed.originalArgs().toArray(String[]::new));
    }

    /**
     * Reports a command's failure: the one line on the command's stderr, the stack trace in the log
     * file (or after the line, with {@code --verbose}). Returns the exit code.
     */
    private static int report(CommandLine cli, CommandLine.ParseResult parsed, Throwable e, String[] args) {
        CommandLine where = deepest(cli, parsed);
        String name = where.getCommandSpec().qualifiedName(" ");
        Cause cause = cause(e);
        PrintWriter err = where.getErr();
        boolean verbose = Arrays.asList(args).contains(VERBOSE);
        String line = name + ": " + cause.message();
        if (verbose) {
            err.println(line);
            printTrace(err, e);
        } else {
            Path log = null;
            String problem = null;
            try {
                log = writeLog(name, args, line, cause.exitCode(), e);
            } catch (IOException | RuntimeException x) {
                problem = x.getMessage();
            }
            err.println(line + (log != null ? " (stack trace in " + log + ")"
                    : " (no log written: " + Secrets.redact(String.valueOf(problem)) + "; " + VERBOSE + " prints the stack trace)"));
        }
        err.flush();
        return cause.exitCode();
    }

    /** The command that ran: the last subcommand parsed. */
    private static CommandLine deepest(CommandLine cli, CommandLine.ParseResult parsed) {
        if (parsed == null) {
            return cli;
        }
        CommandLine.ParseResult p = parsed;
        while (p.hasSubcommand()) {
            p = p.subcommand();
        }
        return p.commandSpec().commandLine() != null ? p.commandSpec().commandLine() : cli;
    }

    private static void printTrace(PrintWriter err, Throwable e) {
        err.print(Secrets.redact(trace(e)));
        err.flush();
    }

    private static String trace(Throwable e) {
        var text = new StringWriter();
        e.printStackTrace(new PrintWriter(text));
        return text.toString();
    }

    /** The log folder: {@code -Dspt.log.dir}, else {@code SPT_LOG_DIR}, else {@code ${XDG_CACHE_HOME:-~/.cache}/spt/logs}. */
    static Path logDir() {
        String dir = System.getProperty(LOG_DIR_PROPERTY);
        if (dir == null || dir.isBlank()) {
            dir = System.getenv(LOG_DIR_ENV);
        }
        if (dir != null && !dir.isBlank()) {
            return Path.of(dir);
        }
        String cache = System.getenv("XDG_CACHE_HOME");
        Path base = cache != null && !cache.isBlank() ? Path.of(cache) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("spt").resolve("logs");
    }

    /**
     * Writes the failure's log, {@code spt-<command>-<yyyyMMdd-HHmmss>-<pid>.log} in {@link #logDir}:
     * the line, the command line, the versions, the settings (secrets masked) and the stack trace.
     */
    static Path writeLog(String command, String[] args, String line, int exitCode, Throwable e) throws IOException {
        Path dir = Files.createDirectories(logDir());
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss", Locale.ROOT));
        String base = command.replace(' ', '-') + "-" + stamp + "-" + ProcessHandle.current().pid();
        Path file = dir.resolve(base + ".log");
        for (int i = 2; Files.exists(file); i++) {
            file = dir.resolve(base + "-" + i + ".log");
        }
        var text = new StringBuilder();
        text.append(command).append(" failed at ").append(ZonedDateTime.now()).append('\n');
        text.append(line).append('\n');
        text.append("exit code: ").append(exitCode).append(exitCode == BAD_INPUT ? " (bad input)" : " (internal failure)")
                .append('\n');
        text.append("command line: spt");
        for (String a : args) {
            text.append(' ').append(a.isEmpty() || a.matches(".*[\\s'\"$].*") ? "'" + a.replace("'", "'\\''") + "'" : a);
        }
        text.append('\n');
        text.append("versions: ").append(String.join(", ", versions())).append('\n');
        text.append("settings:\n");
        settings().forEach((k, v) -> text.append("  ").append(k).append('=').append(v).append('\n'));
        text.append("stack trace:\n").append(trace(e));
        Files.writeString(file, Secrets.redact(text.toString()), StandardCharsets.UTF_8);
        return file;
    }

    private static List<String> versions() {
        try {
            return List.of(new Versions().getVersion());
        } catch (Throwable t) {
            return List.of("Java " + System.getProperty("java.version"), "(others unknown: " + t + ")");
        }
    }

    /**
     * The settings the log records: the JVM's {@code spark.*}, {@code spt.*} and DJL properties, the
     * {@code SPT_*} environment, and the Spark session's, each secret's value masked.
     */
    static Map<String, String> settings() {
        var all = new TreeMap<String, String>();
        for (String k : System.getProperties().stringPropertyNames()) {
            if (k.startsWith("spark.") || k.startsWith("spt.") || k.startsWith("ai.djl.")) {
                all.put(k, System.getProperty(k));
            }
        }
        System.getenv().forEach((k, v) -> {
            if (k.startsWith("SPT_") || k.startsWith("AWS_") || k.equals("JAVA_OPTS")) {
                all.put("env " + k, v);
            }
        });
        try {
            all.putAll(sessionSettings.get());
        } catch (RuntimeException | LinkageError e) {
            all.put("(the Spark session's settings)", "unreadable: " + e);
        }
        var shown = new TreeMap<String, String>();
        all.forEach((k, v) -> shown.put(k, Secrets.redactSetting(k.startsWith("env ") ? k.substring(4) : k, v)));
        return shown;
    }
}
