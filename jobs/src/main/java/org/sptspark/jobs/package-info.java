/**
 * The {@code spt} command line (picocli): one subcommand per job, from preparing data through
 * sensitivity, allocation, training, sweeps, prediction and reports to the benchmarks, with the
 * options' defaults from a configuration file and the Spark session each job runs in.
 *
 * <p>On top of the stack: it uses the library's packages and nothing uses it. A command is thin:
 * it parses its options, calls into the library and prints what comes back.
 */
package org.sptspark.jobs;
