package org.sptspark.model;

import ai.djl.ndarray.NDArray;
import java.util.Collections;
import java.util.Map;

/**
 * Named float32 tensors read from a checkpoint, already in our vocabulary (timm names with
 * attention split into q, k and v), owned by the manager they were read into.
 *
 * @param tensors tensors by name, in file order
 * @param source where they came from, for messages
 * @param format the file format
 * @param sha256 hex digest of the file's bytes
 */
public record StateDict(Map<String, NDArray> tensors, String source, Checkpoints.Format format, String sha256)
        implements AutoCloseable {

    public StateDict {
        tensors = Collections.unmodifiableMap(tensors);
    }

    /** Closes every tensor. */
    @Override
    public void close() {
        tensors.values().forEach(NDArray::close);
    }
}
