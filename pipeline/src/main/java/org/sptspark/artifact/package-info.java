/**
 * Tuned-parameter artifacts in the lake: one folder per (task, backbone, method, budget) holding
 * only what training changed and a manifest written last, verified against its backbone when
 * opened, and merged into a full timm-layout checkpoint on request.
 *
 * <p>Above {@code tuning}, whose tuned models it writes and loads; {@code training} commits one per
 * training.
 */
package org.sptspark.artifact;
