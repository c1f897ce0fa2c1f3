package org.sptspark.allocation;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
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

    /** Commits a plan (the file is its own manifest, with no payload); returns its file. */
    public static String write(Configuration hadoop, String lake, String suite, String task, String scoresFolder,
            TuningPlan plan) throws IOException {
        String file = file(lake, suite, task, scoresFolder, plan.rule().module(), plan.budget().label());
        byte[] json = PlanJson.write(plan).getBytes(StandardCharsets.UTF_8);
        LakeFiles.commit(hadoop, new Path(file), List.of(), files -> json);
        return file;
    }
}
