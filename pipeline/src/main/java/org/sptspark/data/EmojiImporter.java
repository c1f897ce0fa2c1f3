package org.sptspark.data;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;

/**
 * Imports the emoji of npm's {@code emoji-datasource-google@16.0.0} (Apache-2.0) and
 * {@code emoji-datasource-twitter@16.0.0} (CC-BY-4.0) as category-classification tasks: 9
 * classes from {@code emoji.json}'s categories ({@code Component}, the bare skin-tone swatches,
 * left out), 64x64 images composited on white. An emoji and its skin-tone variants form one group
 * that goes whole into train, val or test, so no split sees a recoloured copy of another's image.
 * Groups are shuffled by the seed and dealt until train holds exactly 800 images and val 200; the
 * rest is test.
 */
public final class EmojiImporter {

    /** The 9 categories, in the order of the package's {@code categories.json}. */
    public static final List<String> CATEGORIES = List.of("Smileys & Emotion", "People & Body", "Animals & Nature",
            "Food & Drink", "Travel & Places", "Activities", "Objects", "Symbols", "Flags");

    /** One emoji with its variants' image files. */
    record Group(int label, List<String> images) {}

    private EmojiImporter() {}

    /**
     * Writes the task: train and val from {@code trainStyle}'s package, test from
     * {@code testStyle}'s (the same package for the category task; Twitter's for cross-style).
     */
    public static void importTask(Configuration hadoop, Path trainPackage, String trainStyle, Path testPackage,
            String testStyle, String root, String name, long seed) throws IOException {
        Map<String, byte[]> train = PackageFiles.read(trainPackage,
                n -> n.equals("emoji.json") || n.startsWith("img/" + trainStyle + "/64/"));
        Map<String, byte[]> test = testPackage.equals(trainPackage) ? train : PackageFiles.read(testPackage,
                n -> n.startsWith("img/" + testStyle + "/64/"));
        byte[] json = train.get("emoji.json");
        if (json == null) {
            throw new IllegalArgumentException(trainPackage + " has no emoji.json: not an emoji-datasource package");
        }
        List<Group> groups = groups(JsonParser.parseString(new String(json, StandardCharsets.UTF_8)).getAsJsonArray());
        int[] order = Permutations.of(groups.size(), seed);
        try (var writer = new VtabWriter(hadoop, root, name)) {
            int trainCount = 0;
            int valCount = 0;
            var rest = new ArrayList<Group>();
            for (int i : order) {
                Group g = groups.get(i);
                List<byte[]> images = images(train, trainStyle, g);
                if (images.isEmpty()) {
                    continue;
                }
                if (trainCount + images.size() <= 800) {
                    for (byte[] png : images) {
                        writer.addTrain(onWhite(png), g.label());
                    }
                    trainCount += images.size();
                } else if (valCount + images.size() <= 200) {
                    for (byte[] png : images) {
                        writer.addVal(onWhite(png), g.label());
                    }
                    valCount += images.size();
                } else {
                    rest.add(g);
                }
            }
            if (trainCount != 800 || valCount != 200) {
                throw new IllegalStateException("emoji groups filled " + trainCount + " train and " + valCount
                        + " val images, not 800 and 200");
            }
            for (Group g : rest) {
                for (byte[] png : images(test, testStyle, g)) {
                    writer.addTest(onWhite(png), g.label());
                }
            }
            writer.commit();
        }
    }

    static List<Group> groups(JsonArray emoji) {
        var out = new ArrayList<Group>();
        for (JsonElement e : emoji) {
            JsonObject o = e.getAsJsonObject();
            int label = CATEGORIES.indexOf(o.get("category").getAsString());
            if (label < 0) {
                continue; // Component: skin-tone and hair swatches, not emoji of a category
            }
            var images = new ArrayList<String>();
            images.add(o.get("image").getAsString());
            if (o.has("skin_variations") && o.get("skin_variations").isJsonObject()) {
                for (var v : o.getAsJsonObject("skin_variations").entrySet()) {
                    images.add(v.getValue().getAsJsonObject().get("image").getAsString());
                }
            }
            out.add(new Group(label, images));
        }
        return out;
    }

    private static List<byte[]> images(Map<String, byte[]> files, String style, Group g) {
        var out = new ArrayList<byte[]>();
        for (String image : g.images()) {
            byte[] png = files.get("img/" + style + "/64/" + image);
            if (png != null) {
                out.add(png);
            }
        }
        return out;
    }

    /** The emoji drawn over a white background (their PNGs are transparent around the glyph). */
    static BufferedImage onWhite(byte[] png) throws IOException {
        BufferedImage rgba = ImageIO.read(new ByteArrayInputStream(png));
        var rgb = new BufferedImage(rgba.getWidth(), rgba.getHeight(), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = rgb.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, rgb.getWidth(), rgb.getHeight());
        g.drawImage(rgba, 0, 0, null);
        g.dispose();
        return rgb;
    }
}
