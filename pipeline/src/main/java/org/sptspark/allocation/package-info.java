/**
 * SPT's stage 2: a trainable-parameter budget and the rules that turn sensitivity scores into a
 * tuning plan (per tensor: frozen, sparse entries, or a LoRA or Adapter module), the plan's
 * versioned JSON and its place in the lake, and the allocation table that shows where a budget went.
 *
 * <p>Above {@code sensitivity}; {@code tuning} trains what a plan says.
 */
package org.sptspark.allocation;
