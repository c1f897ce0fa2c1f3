/**
 * SNELLA: the kernelized sparse delta of one matrix, its module, the competition of a model's
 * matrices for a shrinking non-zero volume (the allocator and its schedule) and the method's
 * options.
 *
 * <p>Above {@code modules}, whose SPI its kernel implements; {@code tuning} composes it like any
 * other module.
 */
package org.sptspark.snella;
