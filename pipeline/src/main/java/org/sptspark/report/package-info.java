/**
 * A run's comparison from the lake's results and allocation tables, as VTAB reports it: top-1 per
 * task and method, the group means and their mean, and where each method's budget went; printed as
 * Markdown, CSV or JSON. And the sensitivity-stability comparison ({@link org.sptspark.report.Stability}):
 * how far a task's top-k scores and plans move with the number of batches and the seed, kept in the
 * lake as {@link org.sptspark.report.StabilitySummary}.
 *
 * <p>Above {@code spark}; below {@code bench} and the command line.
 */
package org.sptspark.report;
