/**
 * Datasets and images: suites and their tasks, reading a task's split listings strictly from any
 * Hadoop file system, decoding and preprocessing images as the reference's loader does, batches for
 * the model, and writing tasks (VTAB-1k and image-folder layouts) from importers and the structured
 * task generator, staged so that readers never see half a task.
 *
 * <p>Above {@code lake} and {@code model}; below {@code sensitivity}, the first step that reads it.
 */
package org.sptspark.data;
