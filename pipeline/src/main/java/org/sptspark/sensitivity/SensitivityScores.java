package org.sptspark.sensitivity;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.sptspark.model.ParameterSpace;
import org.sptspark.model.TensorSpec;

/**
 * SPT's per-parameter sensitivity, {@code sum over batches of (dL_b/dw)^2}, for every scored
 * tensor of a model: one float per scalar, row-major, by timm name.
 *
 * @param space the model the scores belong to (its scored tensors are the keys)
 * @param scores values by tensor name
 * @param id an identifier of the score set (its manifest's id), carried into plans
 */
public record SensitivityScores(ParameterSpace space, Map<String, float[]> scores, String id) {

    /** Validates that every scored tensor is present with its size, and nothing else; no NaN. */
    public SensitivityScores {
        var ordered = new LinkedHashMap<String, float[]>();
        for (TensorSpec t : space.scored()) {
            float[] values = scores.get(t.name());
            if (values == null) {
                throw new IllegalArgumentException("scores " + id + " have no tensor '" + t.name() + "'");
            }
            if (values.length != t.size()) {
                throw new IllegalArgumentException("scores " + id + ": tensor '" + t.name() + "' has " + values.length
                        + " values but " + t.shape() + " needs " + t.size());
            }
            for (int i = 0; i < values.length; i++) {
                if (Float.isNaN(values[i])) {
                    throw new IllegalArgumentException("scores " + id + ": tensor '" + t.name() + "' has NaN at " + i);
                }
            }
            ordered.put(t.name(), values);
        }
        for (String name : scores.keySet()) {
            if (!ordered.containsKey(name)) {
                throw new IllegalArgumentException("scores " + id + " have tensor '" + name + "', which "
                        + space.config().name() + " does not score");
            }
        }
        scores = Collections.unmodifiableMap(ordered);
    }

    public float[] get(String name) {
        float[] values = scores.get(name);
        if (values == null) {
            throw new IllegalArgumentException("no scores for tensor '" + name + "'");
        }
        return values;
    }
}
