package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.Gson;
import com.google.gson.JsonParseException;
import org.junit.jupiter.api.Test;

/** How manifests record an architecture: a ViT as always, the other families with their family. */
class BackboneConfigJsonTest {

    private static final Gson GSON = new Gson();

    @Test
    void aVitIsWrittenAsItAlwaysWasAndEveryFamilyReadsBack() {
        VitConfig vit = VitPresets.get(VitPresets.DEMO);
        String json = GSON.toJson(new BackboneRef("p", vit, "c", "s"));
        assertFalse(json.contains("family"), json);
        // the record's own fields, in their order, as Gson wrote VitConfig before there were families
        assertTrue(json.contains("\"architecture\":" + GSON.toJson(vit)), json);
        for (String preset : new String[] {VitPresets.DEMO, BackbonePresets.SWIN_DEMO, BackbonePresets.CONVNEXT_DEMO}) {
            BackboneConfig config = BackbonePresets.get(preset);
            var back = GSON.fromJson(GSON.toJson(new BackboneRef(preset, config, "c", "s")), BackboneRef.class);
            assertEquals(config, back.architecture(), preset);
        }
        assertTrue(GSON.toJson(new BackboneRef("p", BackbonePresets.get(BackbonePresets.SWIN_DEMO), "c", "s"))
                .contains("\"architecture\":{\"family\":\"swin\","));
    }

    @Test
    void anUnknownFamilyIsNamed() {
        var e = assertThrows(JsonParseException.class, () -> GSON.fromJson(
                "{\"preset\":\"p\",\"architecture\":{\"family\":\"resnet\"},\"checkpoint\":\"c\",\"sha256\":\"s\"}",
                BackboneRef.class));
        assertTrue(e.getMessage().contains("unknown backbone family 'resnet'"), e.getMessage());
    }
}
