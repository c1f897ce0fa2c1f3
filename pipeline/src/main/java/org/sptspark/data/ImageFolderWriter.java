package org.sptspark.data;

import java.awt.image.BufferedImage;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/**
 * Writes a task in the image-folder layout, {@code <task>/<split>/<class>/<n>.png}, for sets too
 * large for the VTAB-1k split sizes (the upstream pretraining data). Staged and renamed into
 * place like {@link VtabWriter}.
 */
public final class ImageFolderWriter implements AutoCloseable {

    private final StagedFolder folder;
    private final List<String> classNames;
    private int written;

    /** @param classNames folder names by label; they must sort in label order */
    public ImageFolderWriter(Configuration hadoop, String root, String task, List<String> classNames) {
        for (int i = 1; i < classNames.size(); i++) {
            if (classNames.get(i - 1).compareTo(classNames.get(i)) >= 0) {
                throw new IllegalArgumentException("class folder names must sort in label order: " + classNames.get(i - 1)
                        + " before " + classNames.get(i));
            }
        }
        this.folder = new StagedFolder(hadoop, root, task);
        this.classNames = List.copyOf(classNames);
    }

    /** Zero-padded numbers, which sort in label order: {@code 000 .. 099}. */
    public static List<String> numbered(int classes) {
        int digits = String.valueOf(classes - 1).length();
        return java.util.stream.IntStream.range(0, classes).mapToObj(i -> String.format("%0" + digits + "d", i)).toList();
    }

    /** @param split {@code train}, {@code val} or {@code test} */
    public void add(String split, BufferedImage image, int label) {
        folder.write(String.format("%s/%s/%07d.png", split, classNames.get(label), written++), VtabWriter.png(image));
    }

    public void commit() {
        folder.commit();
    }

    @Override
    public void close() {
        folder.close();
    }
}
