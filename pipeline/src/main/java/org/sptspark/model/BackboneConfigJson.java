package org.sptspark.model;

import com.google.gson.JsonDeserializationContext;
import com.google.gson.JsonDeserializer;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonSerializationContext;
import com.google.gson.JsonSerializer;
import java.lang.reflect.Type;

/**
 * How manifests record a {@link BackboneConfig}: the record's fields, and for the families after
 * ViT a {@code family} field ({@code swin}, {@code convnext}). A ViT is written without it, as
 * manifests always recorded it, so older manifests read as ViTs and ViT manifests keep their bytes.
 */
final class BackboneConfigJson implements JsonSerializer<BackboneConfig>, JsonDeserializer<BackboneConfig> {

    @Override
    public JsonElement serialize(BackboneConfig config, Type type, JsonSerializationContext context) {
        // the record's own reflective form, under the caller's settings (the interface's adapter
        // is not inherited by the records)
        JsonObject json = context.serialize(config, config.getClass()).getAsJsonObject();
        if (!(config instanceof VitConfig)) {
            var out = new JsonObject();
            out.addProperty("family", config.family());
            json.entrySet().forEach(e -> out.add(e.getKey(), e.getValue()));
            return out;
        }
        return json;
    }

    @Override
    public BackboneConfig deserialize(JsonElement json, Type type, JsonDeserializationContext context) {
        if (!json.isJsonObject()) {
            throw new JsonParseException("an architecture is a JSON object, not " + json);
        }
        JsonElement family = json.getAsJsonObject().get("family");
        String name = family == null || family.isJsonNull() ? "vit" : family.getAsString();
        Class<? extends BackboneConfig> kind = switch (name) {
            case "vit" -> VitConfig.class;
            case "swin" -> SwinConfig.class;
            case "convnext" -> ConvNextConfig.class;
            default -> throw new JsonParseException("unknown backbone family '" + name + "' (known: vit, swin, convnext)");
        };
        JsonObject fields = json.getAsJsonObject().deepCopy();
        fields.remove("family");
        return context.deserialize(fields, kind);
    }
}
