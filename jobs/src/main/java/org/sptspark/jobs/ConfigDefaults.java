package org.sptspark.jobs;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Option defaults from a HOCON file ({@code conf/spt.conf}, or the file {@code SPT_CONF} or
 * {@code -Dspt.conf} names): the key of an option is its subcommand path and its long name, e.g.
 * {@code sweep.budgets} or {@code bench.train.presets}. Lists may be HOCON lists or comma-separated
 * strings. Options given on the command line win; options the file does not name keep their
 * built-in defaults.
 */
final class ConfigDefaults implements IDefaultValueProvider {

    private final Config config;
    private final Path source;

    private ConfigDefaults(Config config, Path source) {
        this.config = config;
        this.source = source;
    }

    /** The provider for the configured file, or {@code null} when none is configured or present. */
    static ConfigDefaults locate() {
        String named = System.getProperty("spt.conf", System.getenv("SPT_CONF"));
        if (named == null || named.isBlank()) {
            return null;
        }
        Path file = Path.of(named);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("configuration file " + file + " (SPT_CONF / -Dspt.conf) does not exist");
        }
        try {
            return new ConfigDefaults(ConfigFactory.parseFile(file.toFile()).resolve(), file);
        } catch (ConfigException e) {
            throw new IllegalArgumentException("configuration file " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String defaultValue(ArgSpec arg) {
        if (!(arg instanceof OptionSpec option) || option.longestName().length() < 3) {
            return null;
        }
        String key = path(option.command()) + "." + option.longestName().substring(2);
        if (key.startsWith(".") || !config.hasPath(key)) {
            return null;
        }
        try {
            if (config.getValue(key).valueType() == ConfigValueType.LIST) {
                return config.getList(key).unwrapped().stream().map(String::valueOf).collect(Collectors.joining(","));
            }
            return config.getString(key);
        } catch (ConfigException e) {
            throw new IllegalArgumentException("configuration file " + source + ", key " + key + ": " + e.getMessage(), e);
        }
    }

    /** {@code sweep} or {@code bench.train}: the command's path below {@code spt}. */
    private static String path(CommandSpec command) {
        String qualified = command.qualifiedName(".");
        int dot = qualified.indexOf('.');
        return dot < 0 ? "" : qualified.substring(dot + 1);
    }
}
