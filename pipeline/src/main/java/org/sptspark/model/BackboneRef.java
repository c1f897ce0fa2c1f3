package org.sptspark.model;

/**
 * The backbone a lake entry was made from, as scores and artifact manifests record it under
 * {@code backbone}.
 *
 * @param preset the architecture's preset name
 * @param architecture the full architecture, with the task's classes
 * @param checkpoint the checkpoint's URI as it was given
 * @param sha256 hex SHA-256 of the checkpoint file; readers compare it with the backbone they are given
 */
public record BackboneRef(String preset, BackboneConfig architecture, String checkpoint, String sha256)
        implements java.io.Serializable {

    public BackboneRef {
        if (architecture == null) {
            throw new IllegalArgumentException("the backbone names no architecture");
        }
    }
}
