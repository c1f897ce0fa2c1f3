package org.sptspark.tuning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.stream.IntStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.sptspark.data.DataLimits;
import org.sptspark.data.ImageBatch;
import org.sptspark.data.ImageDecoder;
import org.sptspark.data.ImagePreprocessor;
import org.sptspark.data.Normalization;
import org.sptspark.data.Sample;

/**
 * A split decoded and preprocessed once, held in memory for the epochs of a training run
 * (1,000 images of VTAB-1k's train800val200 at 224 px are 600 MB of float32).
 *
 * @param size image side in pixels
 * @param pixels one CHW float image per sample
 * @param labels the samples' classes
 */
public record LabeledImages(int size, float[][] pixels, long[] labels) {

    public int count() {
        return labels.length;
    }

    /**
     * Decodes every sample, in parallel over the common pool; an unreadable image, or one above the
     * pixel limit {@code hadoop} sets ({@link DataLimits}), is an error naming it and its list line.
     */
    public static LabeledImages load(List<Sample> samples, Configuration hadoop, int size, Normalization norm) {
        float[][] pixels = new float[samples.size()][];
        long[] labels = new long[samples.size()];
        long maxPixels = DataLimits.of(hadoop).maxImagePixels();
        IntStream.range(0, samples.size()).parallel().forEach(i -> {
            Sample s = samples.get(i);
            pixels[i] = ImagePreprocessor.toTensor(ImageDecoder.decode(read(hadoop, s.path()), s.describe(), maxPixels),
                    size, norm);
            labels[i] = s.label();
        });
        return new LabeledImages(size, pixels, labels);
    }

    /** Several sets as one, in order. */
    public static LabeledImages concat(List<LabeledImages> parts) {
        int n = parts.stream().mapToInt(LabeledImages::count).sum();
        float[][] pixels = new float[n][];
        long[] labels = new long[n];
        int at = 0;
        for (LabeledImages p : parts) {
            if (p.size() != parts.get(0).size()) {
                throw new IllegalArgumentException("image sizes differ: " + p.size() + " and " + parts.get(0).size());
            }
            System.arraycopy(p.pixels(), 0, pixels, at, p.count());
            System.arraycopy(p.labels(), 0, labels, at, p.count());
            at += p.count();
        }
        return new LabeledImages(parts.isEmpty() ? 0 : parts.get(0).size(), pixels, labels);
    }

    /** The images at {@code order[from..to)} as {@code (n, 3, size, size)} in {@code manager}. */
    public NDArray images(int[] order, int from, int to, NDManager manager) {
        int per = 3 * size * size;
        float[] out = new float[(to - from) * per];
        for (int i = from; i < to; i++) {
            System.arraycopy(pixels[order[i]], 0, out, (i - from) * per, per);
        }
        return manager.create(FloatBuffer.wrap(out), new Shape(to - from, 3, size, size));
    }

    /** The labels at {@code order[from..to)}. */
    public long[] labels(int[] order, int from, int to) {
        long[] out = new long[to - from];
        for (int i = from; i < to; i++) {
            out[i - from] = labels[order[i]];
        }
        return out;
    }

    /** The images in order as batches of {@code batchSize} (the last may be smaller), for evaluation. */
    public List<ImageBatch> batches(int batchSize) {
        var out = new ArrayList<ImageBatch>();
        int per = 3 * size * size;
        for (int from = 0; from < count(); from += batchSize) {
            int to = Math.min(count(), from + batchSize);
            float[] px = new float[(to - from) * per];
            long[] rows = new long[to - from];
            for (int i = from; i < to; i++) {
                System.arraycopy(pixels[i], 0, px, (i - from) * per, per);
                rows[i - from] = i;
            }
            out.add(new ImageBatch(size, px, java.util.Arrays.copyOfRange(labels, from, to), rows));
        }
        return out;
    }

    /**
     * A split streamed in file order, one decoded batch at a time: for evaluation on test splits
     * too large to hold.
     */
    public static Iterable<ImageBatch> stream(List<Sample> samples, Configuration hadoop, int size, Normalization norm,
            int batchSize) {
        long maxPixels = DataLimits.of(hadoop).maxImagePixels();
        return () -> new Iterator<>() {
            int next;

            @Override
            public boolean hasNext() {
                return next < samples.size();
            }

            @Override
            public ImageBatch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                int to = Math.min(samples.size(), next + batchSize);
                List<Sample> part = samples.subList(next, to);
                var bytes = new ArrayList<byte[]>(part.size());
                part.parallelStream().map(s -> read(hadoop, s.path())).forEachOrdered(bytes::add);
                long[] labels = part.stream().mapToLong(Sample::label).toArray();
                long[] rows = part.stream().mapToLong(Sample::row).toArray();
                next = to;
                return ImageBatch.of(bytes, part.stream().map(Sample::describe).toList(), labels, rows, size, norm,
                        maxPixels);
            }
        };
    }

    static byte[] read(Configuration hadoop, String uri) {
        Path path = new Path(uri);
        try (InputStream in = path.getFileSystem(hadoop).open(path)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read image " + uri, e);
        }
    }
}
