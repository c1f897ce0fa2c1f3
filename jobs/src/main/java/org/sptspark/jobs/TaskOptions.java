package org.sptspark.jobs;

import picocli.CommandLine.Option;

/** The options that name one task of a suite, its data, the backbone and the lake. */
final class TaskOptions {

    @Option(names = "--suite", defaultValue = "vtab-1k", description = "Suite name or .conf file (default: ${DEFAULT-VALUE}).")
    String suite;

    @Option(names = "--task", required = true, description = "The task.")
    String task;

    @Option(names = "--data", required = true, description = "The suite's data root (folder or Hadoop URI).")
    String data;

    @Option(names = "--backbone", required = true, description = "Backbone checkpoint (safetensors or Google npz; path or Hadoop URI).")
    String backbone;

    @Option(names = "--preset", required = true, description = "The backbone's architecture preset.")
    String preset;

    @Option(names = "--lake", required = true, description = "Lake root (folder or Hadoop URI).")
    String lake;
}
