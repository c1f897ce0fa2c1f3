package org.sptspark.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;

/**
 * Writes a task in the VTAB-1k layout on any Hadoop file system: {@code images/<part>/<n>.png}
 * and the four list files. Everything goes into a temporary sibling folder that is renamed into
 * place at the end, so a reader never sees half a task.
 */
public final class VtabWriter implements AutoCloseable {

    /** One image to write with its label. */
    public record Item(BufferedImage image, int label) {}

    private final StagedFolder folder;
    private final List<String> train = new ArrayList<>();
    private final List<String> val = new ArrayList<>();
    private final List<String> test = new ArrayList<>();

    public VtabWriter(Configuration hadoop, String root, String task) {
        this.folder = new StagedFolder(hadoop, root, task);
    }

    public void addTrain(BufferedImage image, int label) {
        train.add(write("train", train.size(), image, label));
    }

    public void addVal(BufferedImage image, int label) {
        val.add(write("val", val.size(), image, label));
    }

    public void addTest(BufferedImage image, int label) {
        test.add(write("test", test.size(), image, label));
    }

    private String write(String part, int n, BufferedImage image, int label) {
        String relative = String.format("images/%s/%06d.png", part, n);
        folder.write(relative, png(image));
        return relative + " " + label;
    }

    /** PNG bytes of an image. */
    public static byte[] png(BufferedImage image) {
        var bytes = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(image, "png", bytes)) {
                throw new IllegalStateException("no PNG writer");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** Writes the list files and moves the task into place, replacing an older copy. */
    public void commit() {
        writeList("train800", train);
        writeList("val200", val);
        var trainval = new ArrayList<>(train);
        trainval.addAll(val);
        writeList("train800val200", trainval);
        writeList("test", test);
        folder.commit();
    }

    private void writeList(String name, List<String> lines) {
        folder.write(name + ".txt", (String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
    }

    /** Removes the staging folder of an uncommitted task. */
    @Override
    public void close() {
        folder.close();
    }
}
