/**
 * The distributed jobs: sensitivity scoring over executors, the sweep over a suite (scores, plans,
 * then one Spark task per training), batch prediction, and what executors share: a task's split as
 * a Spark table, the backbone loaded once per JVM, and the device Spark assigned to a task.
 *
 * <p>Above {@code training} and everything below it; {@code report} reads the tables its jobs write.
 */
package org.sptspark.spark;
