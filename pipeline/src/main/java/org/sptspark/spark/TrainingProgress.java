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
 * first), and the trainings that failed for good (their job failed after Spark's retries; the
 * sweep says so through {@link #trainingFailed}). It follows the Spark jobs of one job group and
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
    private int givenUp;
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
            printedLast = done + givenUp >= total;
        }
    }

    /**
     * A training that will not be done: its job failed after Spark's retries (its last failed attempt
     * was counted already), or it was never submitted because what it needed failed.
     */
    synchronized void trainingFailed() {
        givenUp++;
    }

    /** The progress line as it stands. */
    synchronized String line() {
        double elapsed = (System.nanoTime() - started) / 1e9;
        int remaining = total - done - givenUp;
        String left = done == 0 || remaining <= 0 ? ""
                : ", about " + duration(elapsed / done * remaining) + " left";
        String gaveUp = givenUp == 0 ? "" : String.format(Locale.ROOT, ", %d training%s failed for good", givenUp,
                givenUp == 1 ? "" : "s");
        return String.format(Locale.ROOT, "stage 3: %d/%d trainings done, %d running, %d failed attempt%s%s%s", done, total,
                running, failed, failed == 1 ? "" : "s", gaveUp, left);
    }

    /**
     * Stops printing: events Spark delivers after the jobs returned are dropped. When stage 3 ended
     * (every training done or failed for good) and the last training's line has not come yet (Spark's
     * listener bus is asynchronous), prints it now, so the last line always says every training is
     * done but those that failed.
     */
    synchronized void close(boolean succeeded) {
        if (!closed && succeeded && !printedLast) {
            done = total - givenUp;
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
