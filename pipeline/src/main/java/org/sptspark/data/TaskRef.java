package org.sptspark.data;

/**
 * The task a lake entry was made for, as scores and artifact manifests record it under {@code task}.
 *
 * @param suite the suite's name
 * @param name the task's name within the suite
 * @param classes the number of classes
 * @param group the suite's group of the task
 * @param data the data root the task was read from
 */
public record TaskRef(String suite, String name, int classes, String group, String data) implements java.io.Serializable {

    /** A suite's task read from a data root. */
    public static TaskRef of(String suite, TaskSpec task, String data) {
        return new TaskRef(suite, task.name(), task.classes(), task.group(), data);
    }
}
