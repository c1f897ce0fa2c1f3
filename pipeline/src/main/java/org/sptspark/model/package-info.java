/**
 * The Vision Transformer (timm's architecture and parameter names, q, k and v split), its presets
 * and seeded initialisation, checkpoint reading and writing (safetensors and Google's npz) and the
 * header check drivers run before a job ({@link org.sptspark.model.CheckpointHeader}), and the
 * parameter space: every tensor's name, shape, flat offset and SPT role. Also what every
 * back-propagating job shares: the engine-wide gradient lock and the arithmetic precision.
 *
 * <p>Second in the stack: it uses only {@code lake}; everything from {@code data} up uses it.
 */
package org.sptspark.model;
