package org.sptspark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The library's packages form a stack: each may use the ones below it and none above. The order
 * is the pipeline's, bottom first; the README's layout section shows the same list.
 */
class PackageStackTest {

    /** Bottom first. A new package goes in here, at its place. */
    static final List<String> STACK = List.of(
            "lake", "model", "data", "sensitivity", "allocation", "modules", "snella", "tuning", "artifact", "training", "spark",
            "report", "bench");

    private static final Pattern REFERENCE = Pattern.compile("\\borg\\.sptspark\\.([a-z]+)\\.");

    /** Every reference from a file of {@code pkg} to a package above it, as "file -> package". */
    static List<String> upwardReferences(String pkg, String file, String source) {
        var out = new ArrayList<String>();
        int level = STACK.indexOf(pkg);
        Matcher m = REFERENCE.matcher(source);
        while (m.find()) {
            String used = m.group(1);
            if (used.equals(pkg)) {
                continue;
            }
            int usedLevel = STACK.indexOf(used);
            if (usedLevel < 0 || usedLevel > level) {
                out.add(file + " -> " + used);
            }
        }
        return out;
    }

    @Test
    void noPackageUsesOneAboveIt() throws IOException {
        Path root = Path.of("src/main/java/org/sptspark");
        var packages = new TreeSet<String>();
        var violations = new TreeSet<String>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
                String pkg = root.relativize(f.getParent()).toString().replace('/', '.');
                packages.add(pkg);
                violations.addAll(upwardReferences(pkg, root.relativize(f).toString(), Files.readString(f)));
            }
        }
        assertEquals(new TreeSet<>(STACK), packages, "every package of the library has its place in the stack");
        assertTrue(violations.isEmpty(), "packages using one above them: " + violations);
    }

    @Test
    void theCheckSeesImportsAndQualifiedNames() {
        String source = """
                package org.sptspark.model;
                import org.sptspark.lake.Digests;
                import org.sptspark.tuning.TunedModel;
                class X { Object y = org.sptspark.artifact.Artifacts.MANIFEST; }
                """;
        assertEquals(List.of("X.java -> tuning", "X.java -> artifact"), upwardReferences("model", "X.java", source));
        assertEquals(List.of("X.java -> nowhere"), upwardReferences("lake", "X.java", "import org.sptspark.nowhere.Y;"));
    }
}
