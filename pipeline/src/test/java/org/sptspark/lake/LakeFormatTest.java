package org.sptspark.lake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class LakeFormatTest {

    record Example(String name, double loss, Map<String, FileDigest> files, SoftwareVersions versions) {
        Example {
            if (name == null) {
                throw new IllegalArgumentException("an example has a name");
            }
        }
    }

    static final LakeFormat FORMAT = new LakeFormat("spt-example", 2, "example manifest");

    @Test
    void aRecordRoundTripsUnderItsHeaderWithNullsLeftOutAndNaNKept() {
        var e = new Example("a", Double.NaN, Map.of("x.bin", new FileDigest("ab", 3)),
                new SoftwareVersions("0.1", "0.35.1", "17", null, null));
        String json = FORMAT.write(e);
        assertTrue(json.startsWith("{\n  \"format\": \"spt-example\",\n  \"version\": 2,\n  \"name\": \"a\""), json);
        assertTrue(json.contains("\"DJL\": \"0.35.1\"") && !json.contains("PyTorch"), json);
        assertEquals(e, FORMAT.read(json, "e.json", Example.class));
    }

    @Test
    void anotherFormatIsRefusedInOneLineNamingTheFile() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> FORMAT.read("{\"format\": \"spt-other\", \"version\": 1, \"name\": \"a\"}", "lake/x/manifest.json",
                        Example.class));
        assertEquals("lake/x/manifest.json is not an example manifest (format \"spt-other\", expected \"spt-example\")",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FORMAT.read("{\"name\": \"a\"}", "y.json", Example.class));
        assertTrue(e.getMessage().startsWith("y.json is not an example manifest (no \"format\" field"), e.getMessage());
    }

    @Test
    void aNewerVersionIsRefusedInOneLineNamingTheFile() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> FORMAT.read("{\"format\": \"spt-example\", \"version\": 3, \"name\": \"a\"}", "lake/x/manifest.json",
                        Example.class));
        assertEquals("lake/x/manifest.json is spt-example version 3, but this build reads up to version 2:"
                + " read it with a newer spt", e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void aDocumentWithoutAVersionIsVersionOne() {
        var doc = FORMAT.open("{\"format\": \"spt-example\", \"name\": \"a\"}", "old.json");
        assertEquals(1, doc.version());
        assertEquals("a", FORMAT.bind(doc, Example.class).name());
    }

    @Test
    void brokenJsonAndRecordChecksNameTheFile() {
        var e = assertThrows(IllegalArgumentException.class, () -> FORMAT.read("{\"format\": ", "cut.json", Example.class));
        assertTrue(e.getMessage().startsWith("cut.json is not valid JSON"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FORMAT.read("{\"format\": \"spt-example\", \"version\": 1}", "nameless.json", Example.class));
        assertEquals("nameless.json is not a valid example manifest: an example has a name", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FORMAT.read(
                "{\"format\": \"spt-example\", \"name\": \"a\", \"files\": [1]}", "files.json", Example.class));
        assertTrue(e.getMessage().startsWith("files.json is not a valid example manifest: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void versionsReadFromTheJsonJobsCarry() {
        var v = SoftwareVersions.parse("{\"spt\": \"0.1\", \"DJL\": \"0.35.1\", \"Java\": \"17\", \"PyTorch\": \"2.7.1\","
                + " \"Spark\": \"3.5.9\"}");
        assertEquals(new SoftwareVersions("0.1", "0.35.1", "17", "2.7.1", "3.5.9"), v);
        assertEquals(SoftwareVersions.UNKNOWN, SoftwareVersions.parse(null));
        assertEquals("{}", LakeJson.tree(SoftwareVersions.UNKNOWN).toString());
    }
}
