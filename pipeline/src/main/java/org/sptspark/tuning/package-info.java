/**
 * The tuned model and how it is trained: the tuning methods (SPT under a plan, the baselines,
 * SNELLA), a layout of what one run trains, the tuned model over a frozen backbone (its forward
 * pass, export, load and merge), the recipe, the trainer and PyTorch's AdamW.
 *
 * <p>Above {@code allocation}, whose plans it reads; {@code artifact} stores what it exports.
 */
package org.sptspark.tuning;
