/**
 * One task's training job without Spark (SPT's stage 3 for one task, method and budget): load the
 * backbone, build the method's layout, train, evaluate top-1 on test and commit the artifact; and
 * the results table with one row per training.
 *
 * <p>Above {@code artifact}; {@code spark} runs these jobs side by side on executors.
 */
package org.sptspark.training;
