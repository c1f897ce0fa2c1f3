package org.sptspark.lake;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.charset.StandardCharsets;

/**
 * One of the lake's JSON formats: its {@code format} name and the newest {@code version} this build
 * reads (and the one it writes). Every document of the format starts with those two fields, then
 * the fields of its record in declaration order; {@code null} components are left out.
 *
 * <p>Reading refuses, in one line naming the file, a document that is not JSON, one of another
 * format, and one of a version newer than this build reads. A document without {@code version}
 * reads as version 1 (the first backbone manifests had none).
 *
 * @param name the {@code format} field, e.g. {@code spt-artifact}
 * @param version the version written, and the newest one read
 * @param noun what a document of the format is, for messages ("artifact manifest")
 */
public record LakeFormat(String name, int version, String noun) {

    /** A read document: its JSON, checked for format and version, and the version it was written at. */
    public record Document(JsonObject json, int version, String source) {}

    public LakeFormat {
        if (name == null || version < 1 || noun == null) {
            throw new IllegalArgumentException("a lake format needs a name, a version >= 1 and a noun");
        }
    }

    /** {@code content}'s fields under this format's header, as pretty-printed JSON. */
    public String write(Object content) {
        return LakeJson.GSON.toJson(withHeader(content));
    }

    /** {@link #write} as UTF-8. */
    public byte[] writeBytes(Object content) {
        return write(content).getBytes(StandardCharsets.UTF_8);
    }

    /** The document {@link #write} prints. */
    public JsonObject withHeader(Object content) {
        var out = new JsonObject();
        out.addProperty("format", name);
        out.addProperty("version", version);
        for (var e : LakeJson.tree(content).getAsJsonObject().entrySet()) {
            if (!e.getKey().equals("format") && !e.getKey().equals("version")) {
                out.add(e.getKey(), e.getValue());
            }
        }
        return out;
    }

    /**
     * Parses a document and checks its header.
     *
     * @param source the file it came from, named in every message
     * @throws IllegalArgumentException when it is not JSON, not this format, or newer than this build reads
     */
    public Document open(String text, String source) {
        JsonElement parsed = LakeJson.parse(text, source);
        if (!parsed.isJsonObject()) {
            throw new IllegalArgumentException(source + " is not " + aNoun() + ": it holds no JSON object");
        }
        JsonObject json = parsed.getAsJsonObject();
        JsonElement format = json.get("format");
        String found = format != null && format.isJsonPrimitive() ? format.getAsString() : null;
        if (!name.equals(found)) {
            throw new IllegalArgumentException(source + " is not " + aNoun() + " (" + (found == null
                    ? "no \"format\" field" : "format \"" + found + "\"") + ", expected \"" + name + "\")");
        }
        int foundVersion = 1;
        JsonElement v = json.get("version");
        if (v != null) {
            try {
                foundVersion = v.getAsInt();
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(source + " is not a valid " + noun + ": its version " + v
                        + " is not a whole number", e);
            }
        }
        if (foundVersion < 1) {
            throw new IllegalArgumentException(source + " is not a valid " + noun + ": version " + foundVersion);
        }
        if (foundVersion > version) {
            throw new IllegalArgumentException(source + " is " + name + " version " + foundVersion
                    + ", but this build reads up to version " + version + ": read it with a newer spt");
        }
        return new Document(json, foundVersion, source);
    }

    private String aNoun() {
        return ("aeiou".indexOf(Character.toLowerCase(noun.charAt(0))) >= 0 ? "an " : "a ") + noun;
    }

    /** Opens a document and binds it to its record: for formats whose every version has one shape. */
    public <T> T read(String text, String source, Class<T> type) {
        return bind(open(text, source), type);
    }

    /** Binds a checked document to its record; the record's own checks apply, their message prefixed by the file. */
    public <T> T bind(Document document, Class<T> type) {
        return LakeJson.bind(document.json(), type, document.source() + " is not a valid " + noun);
    }
}
