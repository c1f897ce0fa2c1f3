/**
 * The tuned model and how it is trained: the tuning methods ({@link org.sptspark.tuning.Method}:
 * SPT under a plan, the baselines, SNELLA, each a rule per tensor), a layout of what one run
 * trains, the {@link org.sptspark.tuning.TunedModel} that composes one module per tuned tensor
 * over a frozen backbone, the registered module types, the recipe, the trainer and PyTorch's AdamW.
 *
 * <p>Above {@code modules} and {@code snella}, whose module types it composes, and
 * {@code allocation}, whose plans it reads; {@code artifact} stores what it exports.
 */
package org.sptspark.tuning;
