#!/usr/bin/python3
"""Independent reference for the Java ConvNeXt: forward logits, mean cross-entropy and the gradient
of every parameter of a small ConvNeXt (timm's ConvNeXt, conv_mlp=False), computed by PyTorch in
float64 with explicit torch ops (F.conv2d, depthwise by groups, F.layer_norm, F.linear, exact-erf
F.gelu), from float32 weights and inputs.

The architecture exercises what a ConvNeXt does: a 4x4 stem on a 32x32 image (an 8x8 map), three
stages (8x8, 4x4, 2x2) so two downsamplings, a 7x7 depthwise kernel on maps smaller than it (zero
padding reaches across the whole map), and random layer scales (gamma near 0.5-1, not timm's 1e-6,
so that every block's branch and its gradients matter).

Writes into the fixture folder (committed, so CI needs no PyTorch):
  weights.safetensors  timm names in timm's state_dict order, F32 (the safetensors layout written here by hand)
  reference.npz        x (B,C,H,W) f32, labels (B,) i64, logits (B,K) f64, loss () f64,
                       grad/<name> f64 for every parameter

Run with Debian's python3-torch:  /usr/bin/python3 pipeline/src/test/python/convnext_reference.py OUT_DIR
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

from vit_reference import write_safetensors  # the safetensors layout, written by hand

IMG, STEM, CH, DEPTHS, DIMS, KERNEL, MLP_RATIO, CLASSES, EPS, BATCH = 32, 4, 3, (1, 2, 1), (8, 16, 24), 7, 4, 5, 1e-6, 3


def make_weights(rng):
    """Random float32 weights in timm's state_dict order, large enough that every nonlinearity matters."""
    w = {}

    def n(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def norm(prefix, width):
        w[prefix + ".weight"] = (1 + n((width,), 0.2)).astype(np.float32)
        w[prefix + ".bias"] = n((width,), 0.1)

    def conv(prefix, out, inp, k, std):
        w[prefix + ".weight"] = n((out, inp, k, k), std)
        w[prefix + ".bias"] = n((out,), 0.1)

    conv("stem.0", DIMS[0], CH, STEM, 0.15)
    norm("stem.1", DIMS[0])
    for i, (depth, dim) in enumerate(zip(DEPTHS, DIMS)):
        s = f"stages.{i}."
        if i > 0:
            norm(s + "downsample.0", DIMS[i - 1])
            conv(s + "downsample.1", dim, DIMS[i - 1], 2, 0.6 / np.sqrt(DIMS[i - 1]))
        hidden = MLP_RATIO * dim
        for j in range(depth):
            p = s + f"blocks.{j}."
            w[p + "gamma"] = rng.uniform(0.5, 1.0, dim).astype(np.float32)
            conv(p + "conv_dw", dim, 1, KERNEL, 0.2)
            norm(p + "norm", dim)
            w[p + "mlp.fc1.weight"] = n((hidden, dim), 1.2 / np.sqrt(dim))
            w[p + "mlp.fc1.bias"] = n((hidden,), 0.1)
            w[p + "mlp.fc2.weight"] = n((dim, hidden), 1.0 / np.sqrt(hidden))
            w[p + "mlp.fc2.bias"] = n((dim,), 0.1)
    norm("head.norm", DIMS[-1])
    w["head.fc.weight"] = n((CLASSES, DIMS[-1]), 0.3)
    w["head.fc.bias"] = n((CLASSES,), 0.1)
    return w


def layer_norm_2d(x, weight, bias):
    """timm's LayerNorm2d: LayerNorm over the channel axis at every position of (B, C, H, W)."""
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), weight, bias, EPS).permute(0, 3, 1, 2)


def forward(p, x):
    """timm's ConvNeXt forward (conv_mlp=False, no drop-path), written out op by op."""
    x = F.conv2d(x, p["stem.0.weight"], p["stem.0.bias"], stride=STEM)
    x = layer_norm_2d(x, p["stem.1.weight"], p["stem.1.bias"])
    for i, (depth, dim) in enumerate(zip(DEPTHS, DIMS)):
        s = f"stages.{i}."
        if i > 0:
            x = layer_norm_2d(x, p[s + "downsample.0.weight"], p[s + "downsample.0.bias"])
            x = F.conv2d(x, p[s + "downsample.1.weight"], p[s + "downsample.1.bias"], stride=2)
        for j in range(depth):
            q = s + f"blocks.{j}."
            y = F.conv2d(x, p[q + "conv_dw.weight"], p[q + "conv_dw.bias"], padding=KERNEL // 2, groups=dim)
            y = y.permute(0, 2, 3, 1)
            y = F.layer_norm(y, (dim,), p[q + "norm.weight"], p[q + "norm.bias"], EPS)
            y = F.gelu(F.linear(y, p[q + "mlp.fc1.weight"], p[q + "mlp.fc1.bias"]))
            y = F.linear(y, p[q + "mlp.fc2.weight"], p[q + "mlp.fc2.bias"])
            y = y * p[q + "gamma"]
            x = x + y.permute(0, 3, 1, 2)
    x = x.mean(dim=(2, 3))
    x = F.layer_norm(x, (DIMS[-1],), p["head.norm.weight"], p["head.norm.bias"], EPS)
    return F.linear(x, p["head.fc.weight"], p["head.fc.bias"])


def main(out):
    rng = np.random.default_rng(20261207)
    w = make_weights(rng)
    x = rng.standard_normal((BATCH, CH, IMG, IMG)).astype(np.float32)
    labels = np.array([2, 0, 4], dtype=np.int64)

    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w.items()}
    logits = forward(params, torch.tensor(x, dtype=torch.float64))
    loss = F.cross_entropy(logits, torch.tensor(labels))
    loss.backward()

    write_safetensors(f"{out}/weights.safetensors", w)
    ref = {"x": x, "labels": labels, "logits": logits.detach().numpy(), "loss": loss.detach().numpy()}
    for name, p in params.items():
        ref["grad/" + name] = p.grad.numpy()
    np.savez(f"{out}/reference.npz", **ref)
    # a check of the reference itself: every parameter's gradient is informative
    smallest = min((p.grad.abs().max().item(), name) for name, p in params.items())
    print(f"loss {loss.item():.6f}, logits[0] {logits[0].detach().numpy()}, "
          f"smallest max|grad| {smallest[0]:.3e} ({smallest[1]}), {sum(v.size for v in w.values())} weights, "
          f"torch {torch.__version__}")


if __name__ == "__main__":
    main(sys.argv[1])
