package org.sptspark.tuning;

/**
 * Top-1 counts, overall and per class.
 *
 * @param correct per class, images whose arg-max logit was their label
 * @param total per class, images seen
 */
public record Accuracy(long[] correct, long[] total) {

    public static Accuracy empty(int classes) {
        return new Accuracy(new long[classes], new long[classes]);
    }

    /** Counts one batch: {@code predicted[i]} against {@code labels[i]}. */
    public void add(long[] predicted, long[] labels) {
        for (int i = 0; i < labels.length; i++) {
            int label = (int) labels[i];
            total[label]++;
            if (predicted[i] == labels[i]) {
                correct[label]++;
            }
        }
    }

    public long images() {
        long n = 0;
        for (long t : total) {
            n += t;
        }
        return n;
    }

    /** Fraction of all images classified correctly. */
    public double top1() {
        long c = 0;
        for (long x : correct) {
            c += x;
        }
        long n = images();
        return n == 0 ? Double.NaN : (double) c / n;
    }

    /** Per class, the fraction classified correctly ({@code NaN} for a class with no images). */
    public double[] perClass() {
        double[] out = new double[total.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = total[i] == 0 ? Double.NaN : (double) correct[i] / total[i];
        }
        return out;
    }
}
