/**
 * The lake's storage layer, the bottom of the stack: the SHA-256 digests that checkpoints, plans,
 * scores and artifacts are identified by, and the commit protocol for a file on any Hadoop file
 * system (written to a hidden sibling and renamed into place, so a reader sees the old file, none,
 * or the whole new one), on which the lake's folders build their manifest-last commits. Free of
 * Spark, and used by every package above it.
 */
package org.sptspark.lake;
