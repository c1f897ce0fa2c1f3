package org.sptspark.spark;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.sptspark.tuning.Method;

/**
 * A sweep in a JVM of its own ({@link SweepCrashTest}), to be killed or run beside another:
 * {@code --data D --backbone B --lake L --run R --methods m1,m2}, and optionally {@code --ready F
 * --go G} (create F once Spark and the engine are up, then wait for G: two sweeps start together),
 * {@code --barrier DIR --name N} (each training waits for the other sweep to reach it, see
 * {@link SweepCrashTest#together}), {@code --pause METHOD} (its trainings wait a minute before they
 * start: the sweep is killed meanwhile) and {@code --result F} (a line per entry: folder, reused). Log
 * lines go to stdout. With {@code --scale true} it runs {@link SweepSuiteScaleTest}'s 19-task sweep
 * instead ({@code --methods} then unused).
 */
public final class SweepProcess {

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            a.put(args[i].substring(2), args[i + 1]);
        }
        boolean scale = a.containsKey("scale");
        List<Method> methods = scale ? List.of()
                : Arrays.stream(a.get("methods").split(",")).map(Method::parse).toList();
        SparkSession spark = SweepCrashTest.session("SweepProcess");
        try {
            if (a.containsKey("ready")) {
                SweepCrashTest.warmUp();
                Files.createFile(Path.of(a.get("ready")));
                while (!Files.exists(Path.of(a.get("go")))) {
                    Thread.sleep(5);
                }
            }
            Sweep.TaskHook hook = a.containsKey("barrier") ? SweepCrashTest.together(a.get("barrier"), a.get("name"))
                    : a.containsKey("pause") ? SweepCrashTest.pauseBefore(a.get("pause"), 60_000) : Sweep.TaskHook.NONE;
            var config = scale ? SweepSuiteScaleTest.config(a.get("data"), a.get("backbone"), a.get("lake"), a.get("run"))
                    : SweepCrashTest.config(a.get("data"), a.get("backbone"), a.get("lake"), a.get("run"), methods);
            var result = Sweep.run(spark, config, line -> System.out.println("sweep: " + line), hook);
            if (a.containsKey("result")) {
                var lines = result.entries().stream().map(e -> e.outcome().folder() + "\t" + e.outcome().reused()).toList();
                Files.write(Path.of(a.get("result")), lines);
            }
        } catch (IOException | RuntimeException e) {
            e.printStackTrace();
            System.exit(1);
        } finally {
            spark.stop();
        }
    }
}
