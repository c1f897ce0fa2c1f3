package org.sptspark.data;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Reads a task's split listing from any Hadoop file system ({@code file://}, {@code s3a://},
 * {@code hdfs://}), strictly: a malformed line, a label outside the task's classes, a duplicate
 * entry or an empty split is an error naming the file and line. Images themselves are not opened
 * here; see {@link DatasetChecker} and {@link ImageDecoder}.
 *
 * <p>A list entry must stay inside the folder its paths are relative to (the task's folder, or an
 * FGVC task's image folder): one that resolves elsewhere ({@code ..} escaping it, an absolute path
 * elsewhere, another scheme, bucket or host) is refused, naming file and line, unless
 * {@link DataLimits#allowOutsidePaths()} is set in the configuration ({@code --allow-outside-paths}).
 * The listing is read on the driver, so nothing outside is ever opened on the executors.
 */
public final class DatasetReader {

    private final Configuration hadoop;
    private final boolean allowOutsidePaths;

    /** Outside paths allowed when {@code hadoop} (or the system properties) set {@link DataLimits#ALLOW_OUTSIDE_PATHS}. */
    public DatasetReader(Configuration hadoop) {
        this(hadoop, DataLimits.of(hadoop).allowOutsidePaths());
    }

    public DatasetReader(Configuration hadoop, boolean allowOutsidePaths) {
        this.hadoop = hadoop;
        this.allowOutsidePaths = allowOutsidePaths;
    }

    /** The samples of one split, rows numbered in file order. */
    public List<Sample> read(String root, TaskSpec task, Split split) {
        Path taskDir = new Path(new Path(root), task.folder());
        try {
            List<Sample> samples = switch (task.layout()) {
                case VTAB -> readVtab(taskDir, task, split);
                case FGVC -> readFgvc(taskDir, task, split);
                case IMAGE_FOLDER -> readImageFolder(taskDir, task, split);
            };
            if (samples.isEmpty()) {
                throw new IllegalArgumentException("task '" + task.name() + "': split " + split.vtabList() + " under "
                        + taskDir + " is empty");
            }
            return samples;
        } catch (FileNotFoundException e) {
            throw new IllegalArgumentException("task '" + task.name() + "': " + e.getMessage()
                    + " not found (is " + root + " the suite's root?)", e);
        } catch (IOException e) {
            throw new UncheckedIOException("task '" + task.name() + "': cannot read split " + split.vtabList()
                    + " under " + taskDir, e);
        }
    }

    private List<Sample> readVtab(Path taskDir, TaskSpec task, Split split) throws IOException {
        Path list = new Path(taskDir, split.vtabList() + ".txt");
        FileSystem fs = list.getFileSystem(hadoop);
        Path inside = fs.makeQualified(taskDir);
        var samples = new ArrayList<Sample>();
        var firstSeen = new HashMap<String, Integer>();
        try (var reader = new BufferedReader(new InputStreamReader(fs.open(list), StandardCharsets.UTF_8))) {
            String line;
            int number = 0;
            while ((line = reader.readLine()) != null) {
                number++;
                String text = line.strip();
                if (text.isEmpty()) {
                    continue;
                }
                String where = "line " + number + " of " + list;
                int space = text.lastIndexOf(' ');
                if (space <= 0) {
                    throw new IllegalArgumentException(where + ": expected 'relative/path label', got '" + text + "'");
                }
                String relative = text.substring(0, space).strip();
                int label = parseLabel(text.substring(space + 1), where, task);
                Integer earlier = firstSeen.putIfAbsent(relative, number);
                if (earlier != null) {
                    throw new IllegalArgumentException(where + ": duplicate entry '" + relative + "', first listed on line "
                            + earlier);
                }
                requireInside(inside, relative, list.getName() + " line " + number, "task folder");
                samples.add(new Sample(samples.size(), new Path(taskDir, relative).toString(), label,
                        list + ":" + number));
            }
        }
        return samples;
    }

    /**
     * Refuses a list entry that resolves outside {@code root} (qualified), unless outside paths are allowed.
     *
     * @param where the list and line, for the message ({@code train800.txt line 4})
     * @param what what {@code root} is, for the message ({@code task folder})
     */
    private void requireInside(Path root, String entry, String where, String what) {
        if (allowOutsidePaths) {
            return;
        }
        Path resolved;
        try {
            resolved = new Path(root, entry);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": '" + entry + "' is not a valid path: " + e.getMessage(), e);
        }
        if (!inside(root, resolved)) {
            throw new IllegalArgumentException(where + ": '" + entry + "' resolves outside the " + what + " " + root
                    + "; pass --allow-outside-paths to allow it");
        }
    }

    /**
     * Whether {@code path} lies strictly below {@code root}: same scheme, same authority (bucket,
     * host), and a path under root's once {@code .} and {@code ..} are resolved. Both are URIs as
     * Hadoop resolves them; {@code path} is usually {@code new Path(root, entry)}, which keeps an
     * entry's own scheme and authority when it has them.
     */
    static boolean inside(Path root, Path path) {
        java.net.URI r = root.toUri().normalize();
        java.net.URI p = path.toUri().normalize();
        if (!equalsIgnoreCase(r.getScheme(), p.getScheme()) || !java.util.Objects.equals(r.getAuthority(), p.getAuthority())) {
            return false;
        }
        String rp = r.getPath() == null || r.getPath().isEmpty() ? "/" : r.getPath();
        String pp = p.getPath() == null ? "" : p.getPath();
        String prefix = rp.endsWith("/") ? rp : rp + "/";
        return pp.startsWith(prefix) && pp.length() > prefix.length()
                && java.util.Arrays.stream(pp.substring(prefix.length()).split("/")).noneMatch(".."::equals);
    }

    private static boolean equalsIgnoreCase(String a, String b) {
        return a == null ? b == null : a.equalsIgnoreCase(b);
    }

    private static int parseLabel(String text, String where, TaskSpec task) {
        int label;
        try {
            label = Integer.parseInt(text.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(where + ": label '" + text + "' is not an integer");
        }
        if (label < 0 || label >= task.classes()) {
            throw new IllegalArgumentException(where + ": label " + label + " outside 0.." + (task.classes() - 1)
                    + " for task '" + task.name() + "' (" + task.classes() + " classes)");
        }
        return label;
    }

    private List<Sample> readFgvc(Path taskDir, TaskSpec task, Split split) throws IOException {
        // class ids are mapped to 0..classes-1 by their sorted order over all splits, so every split agrees
        var allIds = new TreeSet<Long>();
        var files = new TreeMap<String, JsonObject>();
        for (String name : new String[] {"train", "val", "test"}) {
            Path json = new Path(taskDir, name + ".json");
            FileSystem fs = json.getFileSystem(hadoop);
            if (!fs.exists(json)) {
                continue;
            }
            JsonObject o = parseJson(fs, json);
            for (var e : o.entrySet()) {
                allIds.add(classId(e.getValue(), "'" + e.getKey() + "' in " + json));
            }
            files.put(name, o);
        }
        if (allIds.size() != task.classes()) {
            throw new IllegalArgumentException("task '" + task.name() + "': the json files under " + taskDir + " hold "
                    + allIds.size() + " distinct class ids, but the task has " + task.classes() + " classes");
        }
        var contiguous = new HashMap<Long, Integer>();
        for (long id : allIds) {
            contiguous.put(id, contiguous.size());
        }
        List<String> parts = split == Split.TRAINVAL ? List.of("train", "val") : List.of(split.fgvcJson());
        Path imageDir = task.images().isEmpty() ? taskDir : new Path(taskDir, task.images());
        Path inside = imageDir.getFileSystem(hadoop).makeQualified(imageDir);
        var samples = new ArrayList<Sample>();
        var seen = new HashMap<String, String>();
        for (String part : parts) {
            JsonObject o = files.get(part);
            if (o == null) {
                throw new FileNotFoundException(new Path(taskDir, part + ".json").toString());
            }
            for (var e : o.entrySet()) {
                String origin = new Path(taskDir, part + ".json") + ":" + e.getKey();
                String earlier = seen.putIfAbsent(e.getKey(), origin);
                if (earlier != null) {
                    throw new IllegalArgumentException(origin + ": duplicate entry, first listed at " + earlier);
                }
                int label = contiguous.get(classId(e.getValue(), origin));
                requireInside(inside, e.getKey(), part + ".json", task.images().isEmpty() ? "task folder" : "image folder");
                samples.add(new Sample(samples.size(), new Path(imageDir, e.getKey()).toString(), label, origin));
            }
        }
        return samples;
    }

    private static JsonObject parseJson(FileSystem fs, Path json) throws IOException {
        try (var reader = new InputStreamReader(fs.open(json), StandardCharsets.UTF_8)) {
            JsonElement e = JsonParser.parseReader(reader);
            if (!e.isJsonObject()) {
                throw new IllegalArgumentException(json + ": expected a JSON object {\"relative/path\": class_id}");
            }
            return e.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(json + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    private static long classId(JsonElement value, String where) {
        try {
            return value.getAsLong();
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(where + ": class id " + value + " is not an integer");
        }
    }

    private List<Sample> readImageFolder(Path taskDir, TaskSpec task, Split split) throws IOException {
        FileSystem fs = taskDir.getFileSystem(hadoop);
        var classes = new TreeSet<String>();
        for (String dir : new String[] {"train", "val", "test"}) {
            Path d = new Path(taskDir, dir);
            if (fs.exists(d)) {
                for (FileStatus s : fs.listStatus(d)) {
                    if (s.isDirectory()) {
                        classes.add(s.getPath().getName());
                    }
                }
            }
        }
        if (classes.size() != task.classes()) {
            throw new IllegalArgumentException("task '" + task.name() + "': " + taskDir + " has " + classes.size()
                    + " class folders " + classes + ", but the task has " + task.classes() + " classes");
        }
        Map<String, Integer> labels = new HashMap<>();
        for (String c : classes) {
            labels.put(c, labels.size());
        }
        List<String> dirs = split == Split.TRAINVAL ? List.of("train", "val") : List.of(split.fgvcJson());
        var samples = new ArrayList<Sample>();
        for (String dir : dirs) {
            Path d = new Path(taskDir, dir);
            if (!fs.exists(d)) {
                throw new FileNotFoundException(d.toString());
            }
            for (String c : classes) {
                Path classDir = new Path(d, c);
                if (!fs.exists(classDir)) {
                    continue;
                }
                var names = new TreeSet<String>();
                for (FileStatus s : fs.listStatus(classDir)) {
                    if (s.isFile() && !s.getPath().getName().startsWith(".")) {
                        names.add(s.getPath().getName());
                    }
                }
                for (String n : names) {
                    Path image = new Path(classDir, n);
                    samples.add(new Sample(samples.size(), image.toString(), labels.get(c), image.toString()));
                }
            }
        }
        return samples;
    }
}
