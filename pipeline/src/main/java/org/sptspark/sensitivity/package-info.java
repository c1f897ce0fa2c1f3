/**
 * SPT's stage 1: per-parameter sensitivity, the sum over batches of the squared gradient, scored on
 * one device without Spark, and the scores' folder in the lake (tensors and a manifest written
 * last).
 *
 * <p>Above {@code data}; {@code allocation} turns its scores into plans, and {@code spark} runs the
 * scorer across executors.
 */
package org.sptspark.sensitivity;
