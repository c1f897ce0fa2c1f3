package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import org.junit.jupiter.api.Test;

class TrainingProgressTest {

    @Test
    void timeLeftIsPrintedInTheLargestUnitsThatFit() {
        assertEquals("59 s", TrainingProgress.duration(59.4));
        assertEquals("1m 01s", TrainingProgress.duration(61));
        assertEquals("1h 02m", TrainingProgress.duration(3725));
    }

    @Test
    void closingASucceededJobPrintsTheLastLineOnceAndDropsLateEvents() {
        var lines = new ArrayList<String>();
        var progress = new TrainingProgress("group", 3, lines::add);
        assertTrue(progress.line().startsWith("stage 3: 0/3 trainings done, 0 running, 0 failed attempts"), progress.line());
        progress.close(true);
        progress.close(true);
        assertEquals(java.util.List.of("stage 3: 3/3 trainings done, 0 running, 0 failed attempts"), lines);
    }

    @Test
    void closingAFailedJobPrintsNothing() {
        var lines = new ArrayList<String>();
        new TrainingProgress("group", 3, lines::add).close(false);
        assertTrue(lines.isEmpty(), lines.toString());
    }

    @Test
    void trainingsThatFailedForGoodAreCountedApartAndNotWaitedFor() {
        var lines = new ArrayList<String>();
        var progress = new TrainingProgress("group", 4, lines::add);
        progress.trainingFailed();
        assertEquals("stage 3: 0/4 trainings done, 0 running, 0 failed attempts, 1 training failed for good",
                progress.line());
        progress.trainingFailed();
        progress.close(true);
        assertEquals(java.util.List.of("stage 3: 2/4 trainings done, 0 running, 0 failed attempts, 2 trainings failed"
                + " for good"), lines);
    }
}
