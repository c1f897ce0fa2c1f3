package org.sptspark.lake;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;

/**
 * The JSON codec every lake format shares: records map to objects field by field in declaration
 * order, {@code null} fields are left out, nothing is HTML-escaped, and NaN is written as the
 * token {@code NaN} rather than refused (a diverged loss is still recorded).
 */
public final class LakeJson {

    static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping()
            .serializeSpecialFloatingPointValues().create();

    private LakeJson() {}

    /**
     * A value as a JSON tree, its strings {@linkplain Secrets#redact redacted}: what the lake's
     * documents record (data roots, checkpoint URIs, messages) never carries a credential.
     */
    public static JsonElement tree(Object value) {
        return redacted(GSON.toJsonTree(value), null);
    }

    /** {@code json} with its strings redacted; a value under a secret setting's name (one with a dot) masked. */
    private static JsonElement redacted(JsonElement json, String key) {
        if (json instanceof JsonPrimitive p && p.isString()) {
            String text = p.getAsString();
            String shown = key != null && key.indexOf('.') >= 0 ? Secrets.redactSetting(key, text) : Secrets.redact(text);
            return shown.equals(text) ? json : new JsonPrimitive(shown);
        }
        if (json instanceof JsonObject o) {
            for (var e : o.entrySet()) {
                e.setValue(redacted(e.getValue(), e.getKey()));
            }
        } else if (json instanceof JsonArray a) {
            for (int i = 0; i < a.size(); i++) {
                a.set(i, redacted(a.get(i), null));
            }
        }
        return json;
    }

    /**
     * Parses JSON text.
     *
     * @param source named in the message when the text is not JSON
     */
    public static JsonElement parse(String text, String source) {
        try {
            return JsonParser.parseString(text);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(source + " is not valid JSON: " + firstLine(e), e);
        }
    }

    /**
     * Binds JSON to a type (a record, a list, a map), running the record's constructor checks.
     *
     * @param what the start of the message when it does not bind, e.g. "x.json is not a valid plan"
     */
    public static <T> T bind(JsonElement json, Class<T> type, String what) {
        try {
            T value = GSON.fromJson(json, type);
            if (value == null) {
                throw new IllegalArgumentException(what + ": it is empty");
            }
            return value;
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith(what)) {
                throw e;
            }
            throw new IllegalArgumentException(what + ": " + firstLine(e), e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(what + ": " + firstLine(e), e);
        }
    }

    /** The first line of the innermost message: Gson's own messages run to a second line of advice. */
    private static String firstLine(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
