package org.sptspark.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import org.junit.jupiter.api.Test;

/** The precision option: parsing, its manifest form, fp32 untouched, bf16 refused before DJL's JNI could abort. */
class PrecisionTest {

    @Test
    void parsesTheTwoLabelsInAnyCaseAndNamesWhatItExpects() {
        assertSame(Precision.BF16, Precision.parse(" BF16 "));
        assertSame(Precision.FP32, Precision.parse("fp32"));
        var e = assertThrows(IllegalArgumentException.class, () -> Precision.parse("fp16"));
        assertEquals("precision 'fp16': expected fp32 or bf16", e.getMessage());
        // manifests and results rows record the label
        assertEquals("\"bf16\"", new Gson().toJson(Precision.BF16));
    }

    @Test
    void fp32LeavesEveryArrayAsItIs() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray x = manager.create(new float[] {1.5f, -2f});
            assertSame(x, Precision.FP32.compute(x));
            assertSame(x, Precision.FP32.result(x));
            Precision.FP32.requireSupported(Device.cpu());
        }
    }

    @Test
    void bf16IsRefusedUpFrontWithDjlsOwnJni() {
        // the Maven JNI maps no bfloat16: a bf16 tensor would abort the JVM, so nothing of it may be created
        var e = assertThrows(IllegalArgumentException.class, () -> Precision.BF16.requireSupported(Device.cpu()));
        assertTrue(e.getMessage().startsWith("--precision bf16 on cpu(): the loaded PyTorch JNI ("), e.getMessage());
        assertTrue(e.getMessage().contains("djl_torch.so) has no bfloat16 mapping"), e.getMessage());
        assertTrue(e.getMessage().contains("build-djl-jni.sh"), e.getMessage());
    }
}
