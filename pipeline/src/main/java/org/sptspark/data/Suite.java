package org.sptspark.data;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A benchmark suite: named tasks with their class counts and groups, and optionally the upstream
 * sets its backbone is pretrained on. Loaded from a HOCON file ({@code conf/suites/*.conf}) by
 * path, or by name from the copies inside the jar.
 */
public record Suite(String name, List<TaskSpec> tasks, List<TaskSpec> upstream) {

    public Suite {
        tasks = List.copyOf(tasks);
        upstream = List.copyOf(upstream);
        var seen = new LinkedHashMap<String, TaskSpec>();
        for (TaskSpec t : tasks) {
            if (seen.put(t.name(), t) != null) {
                throw new IllegalArgumentException("suite '" + name + "' lists task '" + t.name() + "' twice");
            }
        }
        if (tasks.isEmpty()) {
            throw new IllegalArgumentException("suite '" + name + "' has no tasks");
        }
    }

    /** The task, or an error that lists the suite's tasks. */
    public TaskSpec task(String taskName) {
        return tasks.stream().filter(t -> t.name().equals(taskName)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown task '" + taskName + "' in suite '" + name
                        + "'; its tasks: " + String.join(", ", tasks.stream().map(TaskSpec::name).toList())));
    }

    /** Tasks by group, in suite order. */
    public Map<String, List<TaskSpec>> groups() {
        var out = new LinkedHashMap<String, List<TaskSpec>>();
        for (TaskSpec t : tasks) {
            out.computeIfAbsent(t.group(), g -> new ArrayList<>()).add(t);
        }
        return out;
    }

    /**
     * Loads a suite: a path to a {@code .conf} file, or the name of a bundled suite
     * ({@code vtab-1k}, {@code fgvc}, {@code demo}).
     */
    public static Suite load(String pathOrName) {
        Path path = Path.of(pathOrName);
        if (Files.isRegularFile(path)) {
            return parse(ConfigFactory.parseFile(path.toFile()), path.toString());
        }
        String resource = "/org/sptspark/suites/" + pathOrName.replaceFirst("\\.conf$", "") + ".conf";
        var in = Suite.class.getResourceAsStream(resource);
        if (in == null) {
            throw new IllegalArgumentException("no suite '" + pathOrName + "': neither a file nor a bundled suite"
                    + " (vtab-1k, fgvc, demo)");
        }
        try (Reader reader = new InputStreamReader(in, StandardCharsets.UTF_8)) {
            return parse(ConfigFactory.parseReader(reader), pathOrName);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static List<TaskSpec> taskList(List<? extends Config> configs, TaskSpec.Layout layout) {
        var tasks = new ArrayList<TaskSpec>();
        for (Config t : configs) {
            tasks.add(new TaskSpec(t.getString("name"), t.getInt("classes"), t.getString("group"),
                    t.hasPath("layout") ? TaskSpec.Layout.valueOf(t.getString("layout").toUpperCase(Locale.ROOT)) : layout,
                    t.hasPath("folder") ? t.getString("folder") : null,
                    t.hasPath("images") ? t.getString("images") : null));
        }
        return tasks;
    }

    static Suite parse(Config config, String source) {
        try {
            Config s = config.resolve().getConfig("suite");
            String name = s.getString("name");
            TaskSpec.Layout layout = TaskSpec.Layout.valueOf(s.getString("layout").toUpperCase(Locale.ROOT).replace('-', '_'));
            List<TaskSpec> tasks = taskList(s.getConfigList("tasks"), layout);
            List<TaskSpec> upstream = s.hasPath("upstream") ? taskList(s.getConfigList("upstream"), layout) : List.of();
            return new Suite(name, tasks, upstream);
        } catch (ConfigException | IllegalArgumentException e) {
            throw new IllegalArgumentException("suite " + source + ": " + e.getMessage(), e);
        }
    }
}
