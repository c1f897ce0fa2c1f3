package org.sptspark.data;

/**
 * The reference's evaluation transform: a direct bicubic resize to the backbone's square input
 * (aspect ratio not kept), then {@code ToTensor} and {@code Normalize}: a CHW float array.
 *
 * <p>The resize reproduces PIL's {@code Image.resize(..., BICUBIC)} on 8-bit images, which
 * torchvision's {@code Resize} calls: a separable cubic convolution (a = -0.5) whose support is
 * widened by the scale factor when shrinking (antialiasing), coefficients normalised and rounded
 * to 22-bit fixed point, a horizontal pass rounded to 8 bits, then a vertical pass.
 */
public final class ImagePreprocessor {

    private static final int PRECISION_BITS = 32 - 8 - 2;
    private static final double SUPPORT = 2.0;

    private ImagePreprocessor() {}

    /** Resized, scaled to [0, 1] and normalised: {@code float[3 * size * size]} in CHW order. */
    public static float[] toTensor(RgbImage image, int size, Normalization norm) {
        RgbImage resized = resize(image, size, size);
        float[] out = new float[3 * size * size];
        int plane = size * size;
        byte[] rgb = resized.rgb();
        for (int c = 0; c < 3; c++) {
            float mean = norm.mean()[c];
            float std = norm.std()[c];
            for (int i = 0; i < plane; i++) {
                out[c * plane + i] = ((rgb[3 * i + c] & 0xff) / 255f - mean) / std;
            }
        }
        return out;
    }

    /** PIL's 8-bit bicubic resize to {@code width x height}. */
    public static RgbImage resize(RgbImage in, int width, int height) {
        RgbImage out = in;
        if (width != in.width()) {
            out = horizontal(out, width);
        }
        if (height != in.height()) {
            out = vertical(out, height);
        }
        return out;
    }

    private static RgbImage horizontal(RgbImage in, int outW) {
        Coefficients k = Coefficients.of(in.width(), outW);
        int h = in.height();
        int inW = in.width();
        byte[] src = in.rgb();
        byte[] dst = new byte[3 * outW * h];
        for (int y = 0; y < h; y++) {
            int rowIn = 3 * y * inW;
            int rowOut = 3 * y * outW;
            for (int x = 0; x < outW; x++) {
                int min = k.min[x];
                int base = x * k.width;
                for (int c = 0; c < 3; c++) {
                    long ss = 1L << (PRECISION_BITS - 1);
                    for (int i = 0; i < k.count[x]; i++) {
                        ss += (src[rowIn + 3 * (min + i) + c] & 0xff) * (long) k.values[base + i];
                    }
                    dst[rowOut + 3 * x + c] = clip8(ss);
                }
            }
        }
        return new RgbImage(outW, h, dst);
    }

    private static RgbImage vertical(RgbImage in, int outH) {
        Coefficients k = Coefficients.of(in.height(), outH);
        int w = in.width();
        byte[] src = in.rgb();
        byte[] dst = new byte[3 * w * outH];
        for (int y = 0; y < outH; y++) {
            int min = k.min[y];
            int base = y * k.width;
            for (int x = 0; x < w; x++) {
                for (int c = 0; c < 3; c++) {
                    long ss = 1L << (PRECISION_BITS - 1);
                    for (int i = 0; i < k.count[y]; i++) {
                        ss += (src[3 * ((min + i) * w + x) + c] & 0xff) * (long) k.values[base + i];
                    }
                    dst[3 * (y * w + x) + c] = clip8(ss);
                }
            }
        }
        return new RgbImage(w, outH, dst);
    }

    private static byte clip8(long ss) {
        long v = ss >> PRECISION_BITS;
        return (byte) (v < 0 ? 0 : v > 255 ? 255 : v);
    }

    static double bicubic(double x) {
        final double a = -0.5;
        x = Math.abs(x);
        if (x < 1.0) {
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        }
        if (x < 2.0) {
            return (((x - 5) * x + 8) * x - 4) * a;
        }
        return 0.0;
    }

    /** Per output position: the first input index, how many inputs, and their fixed-point weights. */
    private static final class Coefficients {
        final int width;
        final int[] min;
        final int[] count;
        final int[] values;

        private Coefficients(int width, int[] min, int[] count, int[] values) {
            this.width = width;
            this.min = min;
            this.count = count;
            this.values = values;
        }

        static Coefficients of(int inSize, int outSize) {
            double scale = (double) inSize / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = SUPPORT * filterScale;
            int width = (int) Math.ceil(support) * 2 + 1;
            int[] min = new int[outSize];
            int[] count = new int[outSize];
            int[] values = new int[outSize * width];
            double[] w = new double[width];
            for (int xx = 0; xx < outSize; xx++) {
                double center = (xx + 0.5) * scale;
                double ss = 1.0 / filterScale;
                int xmin = Math.max((int) (center - support + 0.5), 0);
                int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
                double total = 0;
                for (int x = 0; x < xmax; x++) {
                    w[x] = bicubic((x + xmin - center + 0.5) * ss);
                    total += w[x];
                }
                for (int x = 0; x < xmax; x++) {
                    double v = total != 0 ? w[x] / total : w[x];
                    double scaled = v * (1 << PRECISION_BITS);
                    values[xx * width + x] = (int) (v < 0 ? -0.5 + scaled : 0.5 + scaled);
                }
                min[xx] = xmin;
                count[xx] = xmax;
            }
            return new Coefficients(width, min, count, values);
        }
    }
}
