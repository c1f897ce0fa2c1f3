/**
 * Benchmarks that print figures: model throughput against the engine's matrix-multiply rate, image
 * preprocessing, sensitivity scoring, the allocator, and each tuning method's training cost.
 *
 * <p>The top of the library's stack: it may use every package below it, and none uses it but the
 * command line.
 */
package org.sptspark.bench;
