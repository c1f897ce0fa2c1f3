package org.sptspark.data;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.FloatBuffer;
import java.util.List;

/**
 * A batch of decoded, preprocessed images and their labels, ready for the model.
 *
 * @param pixels {@code batch * 3 * size * size} floats, each image CHW, images in row order
 * @param labels class indices
 * @param rows the images' row numbers in their split
 */
public record ImageBatch(int size, float[] pixels, long[] labels, long[] rows) {

    public int count() {
        return labels.length;
    }

    /**
     * Decodes and preprocesses encoded images (JPEG/PNG bytes) into a batch, under the pixel limit
     * the system properties set (else PIL's).
     *
     * @param sources names for messages, one per image
     */
    public static ImageBatch of(List<byte[]> encoded, List<String> sources, long[] labels, long[] rows, int size,
            Normalization norm) {
        return of(encoded, sources, labels, rows, size, norm, DataLimits.fromSystem().maxImagePixels());
    }

    /**
     * As {@link #of(List, List, long[], long[], int, Normalization)}, refusing images whose header
     * declares more than {@code maxPixels} pixels ({@link ImageTooLargeException}) before decoding them.
     */
    public static ImageBatch of(List<byte[]> encoded, List<String> sources, long[] labels, long[] rows, int size,
            Normalization norm, long maxPixels) {
        int n = encoded.size();
        int per = 3 * size * size;
        float[] pixels = new float[n * per];
        for (int i = 0; i < n; i++) {
            float[] image = ImagePreprocessor.toTensor(ImageDecoder.decode(encoded.get(i), sources.get(i), maxPixels), size, norm);
            System.arraycopy(image, 0, pixels, i * per, per);
        }
        return new ImageBatch(size, pixels, labels, rows);
    }

    /** The images as {@code (batch, 3, size, size)} float32, owned by {@code manager}. */
    public NDArray images(NDManager manager) {
        return manager.create(FloatBuffer.wrap(pixels), new Shape(count(), 3, size, size));
    }

    /** The labels as an int64 vector, owned by {@code manager}. */
    public NDArray labels(NDManager manager) {
        return manager.create(labels);
    }
}
