#!/usr/bin/python3
"""Independent reference for the Java ViT: forward logits, mean cross-entropy and the gradient of
every parameter of a small ViT, computed by PyTorch in float64 with explicit torch ops (F.conv2d,
F.layer_norm, F.linear, exact-erf F.gelu, softmax attention), from float32 weights and inputs.

Writes into the fixture folder (committed, so CI needs no PyTorch):
  weights.safetensors       timm names, fused attn.qkv, F32 (the safetensors layout written here by hand)
  weights_f16.safetensors   the same in F16
  weights_bf16.safetensors  the same in BF16 (round to nearest even)
  weights_google.npz        the same weights in Google's Flax ViT layout (npz)
  reference.npz             x (B,C,H,W) f32, labels (B,) i64, logits (B,K) f64, loss () f64,
                            grad/<name> f64 for every parameter, q/k/v split
  sensitivity.npz           SPT's score for 4 batches of 3 images: x (12,C,H,W) f32, labels (12,) i64,
                            score/<name> f64 = sum over batches b of (dL_b/dw)^2, L_b the batch's mean
                            cross-entropy, for every parameter (scored or not)

Run with Debian's python3-torch:  /usr/bin/python3 pipeline/src/test/python/vit_reference.py OUT_DIR
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

IMG, PATCH, CH, DIM, DEPTH, HEADS, MLP, CLASSES, EPS, BATCH = 16, 4, 3, 32, 2, 4, 64, 5, 1e-6, 3
TOKENS = (IMG // PATCH) ** 2 + 1


def make_weights(rng):
    """Random float32 weights, large enough that every nonlinearity matters."""
    w = {}
    def n(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)
    w["cls_token"] = n((1, 1, DIM), 0.5)
    w["pos_embed"] = n((1, TOKENS, DIM), 0.5)
    w["patch_embed.proj.weight"] = n((DIM, CH, PATCH, PATCH), 0.2)
    w["patch_embed.proj.bias"] = n((DIM,), 0.1)
    for i in range(DEPTH):
        p = f"blocks.{i}."
        for norm in ("norm1", "norm2"):
            w[p + norm + ".weight"] = (1 + n((DIM,), 0.2)).astype(np.float32)
            w[p + norm + ".bias"] = n((DIM,), 0.1)
        for op in ("q", "k", "v", "proj"):
            w[p + f"attn.{op}.weight"] = n((DIM, DIM), 0.25)
            w[p + f"attn.{op}.bias"] = n((DIM,), 0.1)
        w[p + "mlp.fc1.weight"] = n((MLP, DIM), 0.25)
        w[p + "mlp.fc1.bias"] = n((MLP,), 0.1)
        w[p + "mlp.fc2.weight"] = n((DIM, MLP), 0.2)
        w[p + "mlp.fc2.bias"] = n((DIM,), 0.1)
    w["norm.weight"] = (1 + n((DIM,), 0.2)).astype(np.float32)
    w["norm.bias"] = n((DIM,), 0.1)
    w["head.weight"] = n((CLASSES, DIM), 0.3)
    w["head.bias"] = n((CLASSES,), 0.1)
    return w


def forward(p, x):
    """timm's VisionTransformer forward (pre-norm, class-token pooling), written out op by op."""
    b = x.shape[0]
    t = F.conv2d(x, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=PATCH)
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat([p["cls_token"].expand(b, -1, -1), t], dim=1) + p["pos_embed"]
    hd = DIM // HEADS
    for i in range(DEPTH):
        q = f"blocks.{i}."
        h = F.layer_norm(t, (DIM,), p[q + "norm1.weight"], p[q + "norm1.bias"], EPS)
        def heads(name):
            y = F.linear(h, p[q + f"attn.{name}.weight"], p[q + f"attn.{name}.bias"])
            return y.reshape(b, TOKENS, HEADS, hd).permute(0, 2, 1, 3)
        a = torch.softmax((heads("q") * hd ** -0.5) @ heads("k").transpose(-2, -1), dim=-1)
        o = (a @ heads("v")).permute(0, 2, 1, 3).reshape(b, TOKENS, DIM)
        t = t + F.linear(o, p[q + "attn.proj.weight"], p[q + "attn.proj.bias"])
        h = F.layer_norm(t, (DIM,), p[q + "norm2.weight"], p[q + "norm2.bias"], EPS)
        h = F.gelu(F.linear(h, p[q + "mlp.fc1.weight"], p[q + "mlp.fc1.bias"]))
        t = t + F.linear(h, p[q + "mlp.fc2.weight"], p[q + "mlp.fc2.bias"])
    t = F.layer_norm(t, (DIM,), p["norm.weight"], p["norm.bias"], EPS)
    return F.linear(t[:, 0], p["head.weight"], p["head.bias"])


def fused(w):
    """timm's state_dict order and names: q, k, v fused into attn.qkv."""
    out = {}
    for name, value in w.items():
        if ".attn.k." in name or ".attn.v." in name:
            continue
        if ".attn.q." in name:
            base, leaf = name.split(".attn.q.")
            out[base + ".attn.qkv." + leaf] = np.concatenate(
                [w[f"{base}.attn.{o}.{leaf}"] for o in ("q", "k", "v")], axis=0)
        else:
            out[name] = value
    return out


def write_safetensors(path, tensors, dtype="F32"):
    """The safetensors layout by hand: floats in `dtype` (F32, F16 or BF16), int64 arrays as I64."""
    header, blobs, offset = {}, [], 0
    for name, value in tensors.items():
        tensor_dtype = "I64" if value.dtype == np.int64 else dtype
        if tensor_dtype == "I64":
            data = np.ascontiguousarray(value, dtype="<i8").tobytes()
        elif dtype == "F32":
            data = np.ascontiguousarray(value, dtype="<f4").tobytes()
        elif dtype == "F16":
            data = np.ascontiguousarray(value, dtype="<f2").tobytes()
        else:  # BF16, rounded to nearest even by torch
            data = torch.from_numpy(value).to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
        header[name] = {"dtype": tensor_dtype, "shape": list(value.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)


def google_layout(w):
    """The same weights as Google's Flax ViT checkpoints name and lay them out."""
    g = {"cls": w["cls_token"], "Transformer/posembed_input/pos_embedding": w["pos_embed"],
         "embedding/kernel": w["patch_embed.proj.weight"].transpose(2, 3, 1, 0),
         "embedding/bias": w["patch_embed.proj.bias"],
         "Transformer/encoder_norm/scale": w["norm.weight"], "Transformer/encoder_norm/bias": w["norm.bias"],
         "head/kernel": w["head.weight"].T, "head/bias": w["head.bias"]}
    hd = DIM // HEADS
    for i in range(DEPTH):
        p, g_ = f"blocks.{i}.", f"Transformer/encoderblock_{i}/"
        g[g_ + "LayerNorm_0/scale"], g[g_ + "LayerNorm_0/bias"] = w[p + "norm1.weight"], w[p + "norm1.bias"]
        g[g_ + "LayerNorm_2/scale"], g[g_ + "LayerNorm_2/bias"] = w[p + "norm2.weight"], w[p + "norm2.bias"]
        for op, name in (("q", "query"), ("k", "key"), ("v", "value")):
            g[g_ + f"MultiHeadDotProductAttention_1/{name}/kernel"] = w[p + f"attn.{op}.weight"].T.reshape(DIM, HEADS, hd)
            g[g_ + f"MultiHeadDotProductAttention_1/{name}/bias"] = w[p + f"attn.{op}.bias"].reshape(HEADS, hd)
        g[g_ + "MultiHeadDotProductAttention_1/out/kernel"] = w[p + "attn.proj.weight"].T.reshape(HEADS, hd, DIM)
        g[g_ + "MultiHeadDotProductAttention_1/out/bias"] = w[p + "attn.proj.bias"]
        g[g_ + "MlpBlock_3/Dense_0/kernel"], g[g_ + "MlpBlock_3/Dense_0/bias"] = w[p + "mlp.fc1.weight"].T, w[p + "mlp.fc1.bias"]
        g[g_ + "MlpBlock_3/Dense_1/kernel"], g[g_ + "MlpBlock_3/Dense_1/bias"] = w[p + "mlp.fc2.weight"].T, w[p + "mlp.fc2.bias"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in g.items()}


def main(out):
    rng = np.random.default_rng(20261122)
    w = make_weights(rng)
    x = rng.standard_normal((BATCH, CH, IMG, IMG)).astype(np.float32)
    labels = np.array([1, 4, 0], dtype=np.int64)

    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w.items()}
    logits = forward(params, torch.tensor(x, dtype=torch.float64))
    loss = F.cross_entropy(logits, torch.tensor(labels))
    loss.backward()

    write_safetensors(f"{out}/weights.safetensors", fused(w), "F32")
    write_safetensors(f"{out}/weights_f16.safetensors", fused(w), "F16")
    write_safetensors(f"{out}/weights_bf16.safetensors", fused(w), "BF16")
    np.savez(f"{out}/weights_google.npz", **google_layout(w))
    ref = {"x": x, "labels": labels, "logits": logits.detach().numpy(), "loss": loss.detach().numpy()}
    for name, p in params.items():
        ref["grad/" + name] = p.grad.numpy()
    np.savez(f"{out}/reference.npz", **ref)
    # SPT sensitivity: per-batch gradients, squared, summed over batches (not per sample)
    xs = rng.standard_normal((12, CH, IMG, IMG)).astype(np.float32)
    ys = rng.integers(0, CLASSES, 12).astype(np.int64)
    scores = {k: np.zeros(v.shape) for k, v in w.items()}
    for b in range(4):
        ps = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w.items()}
        batch_loss = F.cross_entropy(forward(ps, torch.tensor(xs[3 * b:3 * b + 3], dtype=torch.float64)),
                                     torch.tensor(ys[3 * b:3 * b + 3]))
        batch_loss.backward()
        for k, p in ps.items():
            scores[k] += p.grad.numpy() ** 2
    sens = {"x": xs, "labels": ys}
    for k, v in scores.items():
        sens["score/" + k] = v
    np.savez(f"{out}/sensitivity.npz", **sens)
    print(f"loss {loss.item():.6f}, logits[0] {logits[0].detach().numpy()}, torch {torch.__version__}")


if __name__ == "__main__":
    main(sys.argv[1])
