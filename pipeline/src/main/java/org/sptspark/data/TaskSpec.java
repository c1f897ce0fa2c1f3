package org.sptspark.data;

/**
 * One downstream classification task of a suite.
 *
 * @param name the task's name (VTAB's folder name, e.g. {@code dtd})
 * @param classes number of classes; labels are {@code 0..classes-1}
 * @param group the suite's group ({@code natural}, {@code specialized}, {@code structured}, ...)
 * @param layout how its files are laid out
 * @param folder its folder under the suite root (the name, for VTAB)
 * @param images the images' folder inside {@code folder} for FGVC ("" for the folder itself)
 */
public record TaskSpec(String name, int classes, String group, Layout layout, String folder, String images)
        implements java.io.Serializable {

    /** Dataset layouts. */
    public enum Layout {
        /** {@code <task>/{train800,val200,train800val200,test}.txt}, lines {@code relative/path label}. */
        VTAB,
        /** {@code <folder>/{train,val,test}.json}, each {@code {"relative/path": class_id}}. */
        FGVC,
        /** {@code <task>/<split>/<class name>/<image>}, classes in sorted name order. */
        IMAGE_FOLDER
    }

    public TaskSpec {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a task needs a name");
        }
        if (classes < 2) {
            throw new IllegalArgumentException("task '" + name + "' needs at least 2 classes, got " + classes);
        }
        if (layout == null) {
            throw new IllegalArgumentException("task '" + name + "' needs a layout");
        }
        folder = folder == null || folder.isBlank() ? name : folder;
        images = images == null ? "" : images;
    }
}
