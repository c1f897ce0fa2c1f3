package org.sptspark.data;

/**
 * One labelled image of a split.
 *
 * @param row its position in the split, in file order: batches are fixed by it
 * @param path the image's full URI
 * @param label class index in {@code 0..classes-1}
 * @param origin where it was listed ({@code .../train800.txt:17}), for messages
 */
public record Sample(long row, String path, int label, String origin) {}
