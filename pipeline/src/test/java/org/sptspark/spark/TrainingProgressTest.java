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
}
