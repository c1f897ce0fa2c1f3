package org.sptspark.spark;

import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import java.util.function.Consumer;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.SparkListenerTaskStart;

/**
 * Stage 3's progress on the driver, one line as each training ends: trainings done of the total,
 * running, failed attempts (Spark retries them) and the time left, estimated from the wall time
 * per finished training so far (trainings already committed finish at once and make it low at
 * first). It follows the Spark job of one job group and
 * ignores every other job. Lines go through {@code log}, which must accept calls from Spark's
 * listener thread.
 */
final class TrainingProgress extends SparkListener {

    private final String jobGroup;
    private final int total;
    private final Consumer<String> log;
    private final Set<Integer> stages = new HashSet<>();
    private final long started = System.nanoTime();
    private int done;
    private int running;
    private int failed;
    private boolean closed;
    private boolean printedLast;

    TrainingProgress(String jobGroup, int total, Consumer<String> log) {
        this.jobGroup = jobGroup;
        this.total = total;
        this.log = log;
    }

    @Override
    public synchronized void onStageSubmitted(SparkListenerStageSubmitted event) {
        var properties = event.properties();
        if (properties != null && jobGroup.equals(properties.getProperty("spark.jobGroup.id"))) {
            stages.add(event.stageInfo().stageId());
        }
    }

    @Override
    public synchronized void onTaskStart(SparkListenerTaskStart event) {
        if (stages.contains(event.stageId())) {
            running++;
        }
    }

    @Override
    public synchronized void onTaskEnd(SparkListenerTaskEnd event) {
        if (!stages.contains(event.stageId())) {
            return;
        }
        running = Math.max(0, running - 1);
        if (event.taskInfo() != null && event.taskInfo().successful()) {
            done++;
        } else {
            failed++;
        }
        if (!closed) {
            log.accept(line());
            printedLast = done >= total;
        }
    }

    /** The progress line as it stands. */
    synchronized String line() {
        double elapsed = (System.nanoTime() - started) / 1e9;
        String left = done == 0 || done >= total ? ""
                : ", about " + duration(elapsed / done * (total - done)) + " left";
        return String.format(Locale.ROOT, "stage 3: %d/%d trainings done, %d running, %d failed attempt%s%s", done, total,
                running, failed, failed == 1 ? "" : "s", left);
    }

    /**
     * Stops printing: events Spark delivers after the job returned are dropped. When the job
     * succeeded and the last training's line has not come yet (Spark's listener bus is
     * asynchronous), prints it now, so the last line always says every training is done.
     */
    synchronized void close(boolean succeeded) {
        if (!closed && succeeded && !printedLast) {
            done = total;
            running = 0;
            log.accept(line());
        }
        closed = true;
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%dh %02dm", s / 3600, s / 60 % 60)
                : s >= 60 ? String.format(Locale.ROOT, "%dm %02ds", s / 60, s % 60) : s + " s";
    }
}
