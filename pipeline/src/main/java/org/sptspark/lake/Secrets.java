package org.sptspark.lake;

import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Keeps credentials out of what the project prints and records: log lines, failure logs, lake
 * manifests and tables. S3A's keys reach a job through settings ({@code fs.s3a.access.key},
 * {@code fs.s3a.secret.key}, {@code fs.s3a.session.token}, per-bucket and {@code spark.hadoop.}
 * forms), and a password can sit in a URI's user info ({@code ftp://user:password@host/}).
 *
 * <p>{@link #redact(String)} masks, in free text: every value {@link #remember remembered} from
 * settings (and the AWS environment variables and {@code spark.hadoop.*} system properties, read
 * once), a URI's {@code user:password@}, and the value of a {@code key=value} or {@code key: value}
 * pair whose key {@link #isSecretKey is secret}. {@link #redactSettings} masks the values of secret
 * keys in a settings map. Free of Spark and Hadoop: the Spark-free command line uses it too.
 */
public final class Secrets {

    /** What a secret is replaced by (Spark's own mask). */
    public static final String MASK = "*********(redacted)";

    /**
     * Setting names whose values are secret: Spark's {@code spark.redaction.regex} default
     * ({@code secret|password|token|access[.]key}), Hadoop's sensitive keys ({@code credential$},
     * {@code fs.s3a.*key}, {@code fs.azure.account.key.*}) and private keys.
     */
    private static final Pattern SECRET_KEY = Pattern.compile(
            "(?i)secret|passw(or)?d|token|access[._-]?key|credential$|fs\\.s3a\\..*key$|fs\\.azure\\.account\\.key|private[._-]?key");

    /** {@code scheme://user:password@}: the user info of a URI with a password (a {@code /} in it is {@code %2F}). */
    private static final Pattern USER_INFO = Pattern.compile("(?i)\\b([a-z][a-z0-9+.-]*://)[^/\\s@:]+:[^/\\s@]*@");

    /** {@code some.key=value}, {@code some.key: value}, {@code "some.key": "value"}: a setting and its value. */
    private static final Pattern SETTING = Pattern.compile(
            "([A-Za-z0-9_-]+(?:\\.[A-Za-z0-9_-]+)+)(\"?\\s*[=:]\\s*\"?)([^\\s\",;}]+)");

    /** The environment variables the AWS SDK reads credentials from. */
    private static final List<String> AWS_ENVIRONMENT = List.of("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN", "AWS_SECRET_KEY", "AWS_ACCESS_KEY");

    /** Secret values seen in settings; shorter ones are not masked (too likely to be ordinary text). */
    private static final Set<String> KNOWN = ConcurrentHashMap.newKeySet();

    private static final int SHORTEST = 8;

    private static final Pattern NOT_A_SECRET = Pattern.compile(
            "(?i)true|false|none|null|[-+]?[0-9.]+[a-z]*|.*\\s.*|[a-z_$][\\w$]*(?:\\.[a-z_$][\\w$]*)+");

    static {
        for (String name : AWS_ENVIRONMENT) {
            rememberValue(System.getenv(name));
        }
        for (String name : System.getProperties().stringPropertyNames()) {
            if (isSecretKey(name)) {
                rememberValue(System.getProperty(name));
            }
        }
    }

    private Secrets() {}

    /** Whether a setting's value is a secret, e.g. {@code spark.hadoop.fs.s3a.secret.key}. */
    public static boolean isSecretKey(String key) {
        return key != null && SECRET_KEY.matcher(key).find();
    }

    /**
     * Remembers the values of the secret settings among {@code settings}, so that {@link #redact}
     * masks them wherever they turn up (a Hadoop {@code Configuration} is such an iterable).
     */
    public static void remember(Iterable<Map.Entry<String, String>> settings) {
        for (Map.Entry<String, String> e : settings) {
            if (isSecretKey(e.getKey())) {
                rememberValue(e.getValue());
            }
        }
    }

    /**
     * Remembers one secret value. Values that cannot be credentials are not: shorter than
     * {@value #SHORTEST} characters, with spaces, a number, a boolean or a class name (the value of
     * {@code fs.s3a.delegation.token.binding}, say), lest ordinary text be masked.
     */
    public static void rememberValue(String value) {
        if (value == null) {
            return;
        }
        String v = value.strip();
        if (v.length() >= SHORTEST && !NOT_A_SECRET.matcher(v).matches()) {
            KNOWN.add(v);
        }
    }

    /** {@code settings} with the values of secret keys masked, in the same order. */
    public static Map<String, String> redactSettings(Map<String, String> settings) {
        var out = new LinkedHashMap<String, String>();
        settings.forEach((k, v) -> out.put(k, redactSetting(k, v)));
        return out;
    }

    /** A setting's value as it may be shown: masked when the key is secret, {@link #redact redacted} otherwise. */
    public static String redactSetting(String key, String value) {
        if (value == null) {
            return null;
        }
        return isSecretKey(key) && !value.isEmpty() ? MASK : redact(value);
    }

    /** {@code text} with every secret this class knows of or recognises masked; {@code null} stays {@code null}. */
    public static String redact(String text) {
        if (text == null || text.isEmpty()) {
            return text;
        }
        String out = text;
        if (!KNOWN.isEmpty()) {
            // longest first, so that a secret containing another is masked whole
            for (String secret : KNOWN.stream().sorted(Comparator.comparingInt(String::length).reversed()).toList()) {
                if (out.contains(secret)) {
                    out = out.replace(secret, MASK);
                }
            }
        }
        if (out.indexOf('@') >= 0) {
            out = USER_INFO.matcher(out).replaceAll(m -> Matcher.quoteReplacement(m.group(1) + MASK + "@"));
        }
        if (out.indexOf('=') >= 0 || out.indexOf(':') >= 0) {
            Matcher m = SETTING.matcher(out);
            var sb = new StringBuilder();
            while (m.find()) {
                String replacement = isSecretKey(m.group(1)) && !m.group(3).equals(MASK)
                        ? m.group(1) + m.group(2) + MASK : m.group();
                m.appendReplacement(sb, Matcher.quoteReplacement(replacement));
            }
            m.appendTail(sb);
            out = sb.toString();
        }
        return out;
    }
}
