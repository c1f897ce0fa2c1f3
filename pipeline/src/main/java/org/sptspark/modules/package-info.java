/**
 * The module SPI and the modules of the linear methods, one class each, as PEFT gives each tuner
 * its own layer: a {@link org.sptspark.modules.ModuleType} turns a tensor decision into a
 * {@link org.sptspark.modules.TuningModule} (what it trains, how it hooks the forward pass,
 * exports, loads and merges): {@link org.sptspark.modules.WholeTensor},
 * {@link org.sptspark.modules.SparseDelta}, {@link org.sptspark.modules.Lora} and
 * {@link org.sptspark.modules.Adapter}; and the artifact tensors' names.
 *
 * <p>Above {@code allocation}, whose decisions the modules implement; {@code snella} adds its
 * module through the same SPI and {@code tuning} composes them.
 */
package org.sptspark.modules;
