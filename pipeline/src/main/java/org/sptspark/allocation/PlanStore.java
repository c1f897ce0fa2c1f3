package org.sptspark.allocation;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.sptspark.lake.LakeFiles;

/** Where plans live in the lake: {@code <lake>/plans/<suite>/<task>/<scores folder>/spt-<module>-<budget>.json}. */
public final class PlanStore {

    private PlanStore() {}

    /** The plan file for a budget, next to its siblings from the same scores. */
    public static String file(String lake, String suite, String task, String scoresFolder, AllocationRule.Module module,
            String budgetLabel) {
        Path dir = new Path(new Path(new Path(new Path(lake, "plans"), suite), task), new Path(scoresFolder).getName());
        return new Path(dir, "spt-" + module.id() + "-" + budgetLabel + ".json").toString();
    }

    /**
     * Commits a plan (the file is its own manifest, with no payload); returns its file. The same plan
     * already there (a re-run's, or a concurrent sweep's) is left in place, so a reader never finds
     * the file gone while it is rewritten; another plan there is replaced.
     */
    public static String write(Configuration hadoop, String lake, String suite, String task, String scoresFolder,
            TuningPlan plan) throws IOException {
        String file = file(lake, suite, task, scoresFolder, plan.rule().module(), plan.budget().label());
        byte[] json = PlanJson.write(plan).getBytes(StandardCharsets.UTF_8);
        Path path = new Path(file);
        if (!holds(hadoop, path, json)
                && LakeFiles.commitIfAbsent(hadoop, path, List.of(), files -> json).isEmpty()
                && !holds(hadoop, path, json)) {
            LakeFiles.commit(hadoop, path, List.of(), files -> json);
        }
        return file;
    }

    private static boolean holds(Configuration hadoop, Path file, byte[] content) throws IOException {
        try (InputStream in = file.getFileSystem(hadoop).open(file)) {
            return Arrays.equals(in.readAllBytes(), content);
        } catch (FileNotFoundException e) {
            return false;
        }
    }
}
