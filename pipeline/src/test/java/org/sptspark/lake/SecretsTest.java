package org.sptspark.lake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class SecretsTest {

    static final String MASK = Secrets.MASK;

    @Test
    void secretSettingsAreTheKeysTokensAndPasswordsOfSparkHadoopAndS3a() {
        for (String key : List.of("spark.hadoop.fs.s3a.access.key", "fs.s3a.secret.key", "fs.s3a.session.token",
                "spark.hadoop.fs.s3a.bucket.lake.secret.key", "fs.s3a.encryption.key", "fs.s3a.server-side-encryption.key",
                "spark.authenticate.secret", "javax.net.ssl.keyStorePassword", "fs.azure.account.key.acct.blob.core.windows.net",
                "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "hadoop.security.credential")) {
            assertTrue(Secrets.isSecretKey(key), key);
        }
        for (String key : List.of("fs.s3a.endpoint", "fs.s3a.aws.credentials.provider", "spark.master", "fs.s3a.path.style.access",
                "spark.ui.enabled", "fs.s3a.encryption.algorithm")) {
            assertFalse(Secrets.isSecretKey(key), key);
        }
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("fs.s3a.endpoint", "http://127.0.0.1:9000");
        settings.put("fs.s3a.secret.key", "abc/def+ghi");
        settings.put("fs.s3a.session.token", "");
        assertEquals(Map.of("fs.s3a.endpoint", "http://127.0.0.1:9000", "fs.s3a.secret.key", MASK, "fs.s3a.session.token", ""),
                Secrets.redactSettings(settings));
    }

    @Test
    void freeTextLosesUserInfoPasswordsAndTheValuesOfSecretSettings() {
        assertEquals("reading ftp://" + MASK + "@files.example/data failed",
                Secrets.redact("reading ftp://reader:hunter2%2Fx@files.example/data failed"));
        assertEquals("s3a://bucket/lake and hdfs://nn:8020/x@y and user@example.org stay",
                Secrets.redact("s3a://bucket/lake and hdfs://nn:8020/x@y and user@example.org stay"));
        assertEquals("--conf spark.hadoop.fs.s3a.secret.key=" + MASK + " --conf spark.master=local[2]",
                Secrets.redact("--conf spark.hadoop.fs.s3a.secret.key=abc/def+ghi --conf spark.master=local[2]"));
        assertEquals("{\"fs.s3a.access.key\": \"" + MASK + "\", \"fs.s3a.endpoint\": \"http://h:9000\"}",
                Secrets.redact("{\"fs.s3a.access.key\": \"AKIAEXAMPLE\", \"fs.s3a.endpoint\": \"http://h:9000\"}"));
        // idempotent
        String once = Secrets.redact("fs.s3a.secret.key: abc and ftp://u:p@h/x");
        assertEquals(once, Secrets.redact(once));
        assertEquals("fs.s3a.secret.key: " + MASK + " and ftp://" + MASK + "@h/x", once);
        // a tensor named like a token is no setting
        assertEquals("cls_token: 768 parameters", Secrets.redact("cls_token: 768 parameters"));
    }

    @Test
    void rememberedSecretsAreMaskedWhereverTheyTurnUp() {
        String secret = "wJalrXUtnFEMI/" + UUID.randomUUID();
        Secrets.remember(Map.of("spark.hadoop.fs.s3a.secret.key", secret, "fs.s3a.connection.ssl.enabled", "false",
                "fs.s3a.delegation.token.binding", "org.apache.hadoop.fs.s3a.auth.delegation.SessionTokenBinding",
                "fs.s3a.session.token", "true").entrySet());
        assertEquals("the SDK said: signature of " + MASK + " does not match",
                Secrets.redact("the SDK said: signature of " + secret + " does not match"));
        // values that cannot be credentials are not remembered: ordinary text keeps them
        assertEquals("true false org.apache.hadoop.fs.s3a.auth.delegation.SessionTokenBinding",
                Secrets.redact("true false org.apache.hadoop.fs.s3a.auth.delegation.SessionTokenBinding"));
    }

    record Recorded(String data, String checkpoint, Map<String, String> settings, List<String> notes) {}

    /** Every lake document goes through LakeJson.tree: its strings are redacted there. */
    @Test
    void lakeDocumentsRecordNoCredential() {
        var format = new LakeFormat("spt-example", 1, "example manifest");
        var recorded = new Recorded("ftp://reader:hunter2@files.example/vtab", "s3a://bucket/vit.safetensors",
                Map.of("fs.s3a.secret.key", "abc/def+ghi", "cls_token", "kept"), List.of("opened sftp://u:pw@h/x"));
        String json = format.write(recorded);
        assertFalse(json.contains("hunter2") || json.contains("abc/def+ghi") || json.contains("u:pw"), json);
        var back = format.read(json, "x.json", Recorded.class);
        assertEquals("ftp://" + MASK + "@files.example/vtab", back.data());
        assertEquals("s3a://bucket/vit.safetensors", back.checkpoint());
        assertEquals(Map.of("fs.s3a.secret.key", MASK, "cls_token", "kept"), back.settings());
        assertEquals(List.of("opened sftp://" + MASK + "@h/x"), back.notes());
        // a document written from what was read is the same: ids over LakeJson.tree stay stable
        assertEquals(json, format.write(back));
    }
}
