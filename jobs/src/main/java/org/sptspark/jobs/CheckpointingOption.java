package org.sptspark.jobs;

import java.util.List;
import picocli.CommandLine.Option;

/** {@code --checkpointing off|on|both}, for the benchmarks that print a row per activation-checkpointing mode. */
class CheckpointingOption {

    @Option(names = "--checkpointing", defaultValue = "off",
            description = "Activation checkpointing: off, on, or both (a row each) (default: ${DEFAULT-VALUE}).")
    String checkpointing;

    /** The modes asked for, each row's {@code checkpointActivations}: off first. */
    List<Boolean> modes() {
        return switch (checkpointing) {
            case "off" -> List.of(false);
            case "on" -> List.of(true);
            case "both" -> List.of(false, true);
            default -> throw new IllegalArgumentException("--checkpointing must be off, on or both, not '" + checkpointing + "'");
        };
    }
}
