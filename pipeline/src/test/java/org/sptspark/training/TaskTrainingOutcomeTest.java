package org.sptspark.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.sptspark.artifact.ArtifactManifest;
import org.sptspark.artifact.ArtifactManifestTest;

class TaskTrainingOutcomeTest {

    @Test
    void aCommittedVersion1ManifestGivesItsOutcome() {
        var m = ArtifactManifest.parse(ArtifactManifestTest.VERSION_1, "a/manifest.json");
        var outcome = TaskTraining.outcome("a", m, true);
        assertEquals("spt-lora", outcome.method());
        assertEquals("20k", outcome.budgetLabel());
        assertEquals(20000, outcome.budgetTarget());
        assertEquals(19876, outcome.achieved());
        assertEquals(20846, outcome.trainableWithHead());
        assertEquals(0.875, outcome.top1());
        assertEquals(81234, outcome.artifactBytes());
        assertEquals("2975ffd4", outcome.planId());
        assertTrue(Double.isNaN(outcome.perClass()[1]), "a class without test images");
        assertEquals("bf16", outcome.precision());
        assertTrue(outcome.reused());
    }
}
