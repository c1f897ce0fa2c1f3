package org.sptspark.data;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Generated colour images in the spirit of VTAB's structured group, drawn with Java2D, fully
 * determined by (task, seed, split, index):
 *
 * <ul>
 *   <li>{@code gen_dsprites_loc}: one sprite; its position's cell on a 4x4 grid (16 classes);
 *   <li>{@code gen_dsprites_ori}: one arrow-like sprite; its orientation in 16 sectors (16 classes);
 *   <li>{@code gen_clevr_count}: 3 to 10 objects on a floor; how many (8 classes);
 *   <li>{@code gen_clevr_dist}: objects in perspective; depth bin of the nearest (6 classes);
 *   <li>{@code gen_shapes}: 5 shapes x 5 colours x 4 sizes (100 classes), the upstream set.
 * </ul>
 */
public final class StructuredTaskGenerator {

    /** A generated task: its name and class count. */
    public enum Kind {
        DSPRITES_LOC("gen_dsprites_loc", 16),
        DSPRITES_ORI("gen_dsprites_ori", 16),
        CLEVR_COUNT("gen_clevr_count", 8),
        CLEVR_DIST("gen_clevr_dist", 6),
        SHAPES("gen_shapes", 100);

        public final String task;
        public final int classes;

        Kind(String task, int classes) {
            this.task = task;
            this.classes = classes;
        }

        public static Kind of(String task) {
            for (Kind k : values()) {
                if (k.task.equals(task) || k.name().toLowerCase(Locale.ROOT).equals(task)) {
                    return k;
                }
            }
            throw new IllegalArgumentException("unknown generated task '" + task + "'; known: gen_dsprites_loc, "
                    + "gen_dsprites_ori, gen_clevr_count, gen_clevr_dist, gen_shapes");
        }
    }

    private static final Color[] PALETTE = {
        new Color(230, 60, 50), new Color(60, 180, 75), new Color(60, 100, 230), new Color(240, 200, 40),
        new Color(200, 80, 220),
    };

    private final Kind kind;
    private final int size;
    private final long seed;

    public StructuredTaskGenerator(Kind kind, int size, long seed) {
        if (size < 16) {
            throw new IllegalArgumentException("generated images need at least 16 pixels a side, got " + size);
        }
        this.kind = kind;
        this.size = size;
        this.seed = seed;
    }

    /** The image and label at {@code index} of a part ({@code "train"}, {@code "val"}, {@code "test"}). */
    public VtabWriter.Item item(String part, int index) {
        long mixed = seed * 0x9E3779B97F4A7C15L ^ kind.ordinal() * 0xBF58476D1CE4E5B9L ^ part.hashCode() * 0x94D049BB133111EBL
                ^ index;
        var random = new SplittableRandom(mixed);
        var image = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        int label = switch (kind) {
            case DSPRITES_LOC -> dspritesLocation(g, random);
            case DSPRITES_ORI -> dspritesOrientation(g, random);
            case CLEVR_COUNT -> clevrCount(g, random);
            case CLEVR_DIST -> clevrDistance(g, random);
            case SHAPES -> shapes(g, random);
        };
        g.dispose();
        return new VtabWriter.Item(image, label);
    }

    private void background(Graphics2D g, SplittableRandom r) {
        int v = 20 + r.nextInt(40);
        g.setColor(new Color(v, v + r.nextInt(10), v + r.nextInt(10)));
        g.fillRect(0, 0, size, size);
    }

    private int dspritesLocation(Graphics2D g, SplittableRandom r) {
        background(g, r);
        double x = r.nextDouble();
        double y = r.nextDouble();
        double s = size * (0.12 + 0.08 * r.nextDouble());
        Shape shape = transformed(baseShape(r.nextInt(3)), s, r.nextDouble(2 * Math.PI),
                s + x * (size - 2 * s), s + y * (size - 2 * s));
        g.setColor(PALETTE[r.nextInt(PALETTE.length)]);
        g.fill(shape);
        return Math.min(3, (int) (y * 4)) * 4 + Math.min(3, (int) (x * 4));
    }

    private int dspritesOrientation(Graphics2D g, SplittableRandom r) {
        background(g, r);
        int label = r.nextInt(16);
        double angle = (label + r.nextDouble(0.1, 0.9)) * 2 * Math.PI / 16;
        var arrow = new Path2D.Double();
        arrow.moveTo(1.0, 0);
        arrow.lineTo(-0.6, 0.45);
        arrow.lineTo(-0.3, 0);
        arrow.lineTo(-0.6, -0.45);
        arrow.closePath();
        double s = size * (0.25 + 0.1 * r.nextDouble());
        double c = size / 2.0 + (r.nextDouble() - 0.5) * size * 0.2;
        double d = size / 2.0 + (r.nextDouble() - 0.5) * size * 0.2;
        g.setColor(PALETTE[r.nextInt(PALETTE.length)]);
        g.fill(transformed(arrow, s, angle, c, d));
        return label;
    }

    private void floor(Graphics2D g, SplittableRandom r) {
        int v = 90 + r.nextInt(30);
        g.setColor(new Color(v, v, v + 5));
        g.fillRect(0, 0, size, size);
        g.setColor(new Color(v - 30, v - 30, v - 25));
        g.fillRect(0, 0, size, size / 3);
    }

    private int clevrCount(Graphics2D g, SplittableRandom r) {
        floor(g, r);
        int count = 3 + r.nextInt(8);
        double s = size * 0.075;
        var placed = new ArrayList<double[]>();
        int attempts = 0;
        while (placed.size() < count) {
            if (++attempts > 2000) {
                // an unlucky layout left no room: start over (bounded: the floor fits 10 objects easily)
                placed.clear();
                attempts = 0;
            }
            double x = s + r.nextDouble() * (size - 2 * s);
            double y = size / 3.0 + s + r.nextDouble() * (size * 2 / 3.0 - 2 * s);
            if (placed.stream().noneMatch(p -> Math.hypot(p[0] - x, p[1] - y) < 2.0 * s)) {
                placed.add(new double[] {x, y});
            }
        }
        for (double[] p : placed) {
            drawObject(g, r, p[0], p[1], s);
        }
        return count - 3;
    }

    private int clevrDistance(Graphics2D g, SplittableRandom r) {
        floor(g, r);
        // the label (depth bin of the nearest object) is drawn uniformly, the other objects lie behind it
        int label = r.nextInt(6);
        double nearest = (label + r.nextDouble(0.05, 0.95)) / 6;
        var depths = new ArrayList<Double>();
        depths.add(nearest);
        int others = r.nextInt(4);
        for (int i = 0; i < others; i++) {
            depths.add(r.nextDouble() * nearest);
        }
        depths.sort(null); // far (0) to near (1), so nearer objects are drawn over farther ones
        for (double depth : depths) {
            double y = size / 3.0 + depth * size * 0.6;
            double s = size * (0.05 + 0.1 * depth);
            drawObject(g, r, s + r.nextDouble() * (size - 2 * s), Math.min(size - s, y), s);
        }
        return label;
    }

    private void drawObject(Graphics2D g, SplittableRandom r, double x, double y, double s) {
        Color c = PALETTE[r.nextInt(PALETTE.length)];
        Shape shape = r.nextBoolean() ? new Ellipse2D.Double(x - s, y - s, 2 * s, 2 * s)
                : new Rectangle2D.Double(x - s, y - s, 2 * s, 2 * s);
        g.setColor(new Color(0, 0, 0, 70));
        g.fill(AffineTransform.getTranslateInstance(s * 0.3, s * 0.3).createTransformedShape(shape));
        g.setColor(c);
        g.fill(shape);
        g.setColor(c.brighter());
        g.setStroke(new BasicStroke(1f));
        g.draw(shape);
    }

    private int shapes(Graphics2D g, SplittableRandom r) {
        background(g, r);
        int shape = r.nextInt(5);
        int colour = r.nextInt(5);
        int scale = r.nextInt(4);
        double s = size * (0.14 + 0.07 * scale) * (0.95 + 0.1 * r.nextDouble());
        double x = size / 2.0 + (r.nextDouble() - 0.5) * (size - 2 * s) * 0.8;
        double y = size / 2.0 + (r.nextDouble() - 0.5) * (size - 2 * s) * 0.8;
        g.setColor(PALETTE[colour]);
        g.fill(transformed(baseShape(shape), s, r.nextDouble(-0.3, 0.3), x, y));
        return (shape * 5 + colour) * 4 + scale;
    }

    /** Unit shapes around the origin: square, disc, triangle, cross, diamond ring. */
    private static Shape baseShape(int which) {
        return switch (which) {
            case 0 -> new Rectangle2D.Double(-0.8, -0.8, 1.6, 1.6);
            case 1 -> new Ellipse2D.Double(-1, -1, 2, 2);
            case 2 -> {
                var p = new Path2D.Double();
                p.moveTo(0, -1);
                p.lineTo(0.95, 0.8);
                p.lineTo(-0.95, 0.8);
                p.closePath();
                yield p;
            }
            case 3 -> {
                var p = new Path2D.Double();
                p.append(new Rectangle2D.Double(-1, -0.3, 2, 0.6), false);
                p.append(new Rectangle2D.Double(-0.3, -1, 0.6, 2), false);
                yield p;
            }
            default -> {
                var p = new Path2D.Double(Path2D.WIND_EVEN_ODD);
                p.moveTo(0, -1);
                p.lineTo(1, 0);
                p.lineTo(0, 1);
                p.lineTo(-1, 0);
                p.closePath();
                p.moveTo(0, -0.45);
                p.lineTo(0.45, 0);
                p.lineTo(0, 0.45);
                p.lineTo(-0.45, 0);
                p.closePath();
                yield p;
            }
        };
    }

    private static Shape transformed(Shape unit, double scale, double angle, double x, double y) {
        var t = AffineTransform.getTranslateInstance(x, y);
        t.rotate(angle);
        t.scale(scale, scale);
        return t.createTransformedShape(unit);
    }

    /** Writes the task: 800 train, 200 val and {@code testSize} test images. */
    public void write(VtabWriter writer, int testSize) {
        for (int i = 0; i < 800; i++) {
            var item = item("train", i);
            writer.addTrain(item.image(), item.label());
        }
        for (int i = 0; i < 200; i++) {
            var item = item("val", i);
            writer.addVal(item.image(), item.label());
        }
        for (int i = 0; i < testSize; i++) {
            var item = item("test", i);
            writer.addTest(item.image(), item.label());
        }
    }

    /** Writes {@code trainSize} and {@code testSize} images in the image-folder layout (the upstream set). */
    public void write(ImageFolderWriter writer, int trainSize, int testSize) {
        for (int i = 0; i < trainSize; i++) {
            var item = item("train", i);
            writer.add("train", item.image(), item.label());
        }
        for (int i = 0; i < testSize; i++) {
            var item = item("test", i);
            writer.add("test", item.image(), item.label());
        }
    }

    /** Labels of the first {@code n} items of a part, for balance checks. */
    public List<Integer> labels(String part, int n) {
        var out = new ArrayList<Integer>();
        for (int i = 0; i < n; i++) {
            out.add(item(part, i).label());
        }
        return out;
    }
}
