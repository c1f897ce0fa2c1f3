#!/usr/bin/python3
"""Independent reference for the Java Swin Transformer: forward logits, mean cross-entropy and the
gradient of every parameter of a small Swin, computed by PyTorch in float64 with explicit torch ops
(F.conv2d, F.layer_norm, F.linear, exact-erf F.gelu, torch.roll, softmax), from float32 weights and
inputs. Written after the original Swin code (Liu et al., microsoft/Swin-Transformer) and timm's
SwinTransformer (0.9 layout: NHWC, downsampling at the start of a stage, head.fc), not timm itself.

The configuration exercises shifted windows (stages 0 and 1: 16x16 and 8x8 maps, window 4, shift
2, so 16 and 4 windows with the -100 mask between regions), patch merging (stages 1 and 2) and a
stage whose one window covers the whole map (stage 2: 4x4, no shift).

Writes into the fixture folder (committed, so CI needs no PyTorch):
  weights.safetensors  timm names, fused attn.qkv, F32; with the buffers old timm versions saved,
                       which the Java loader must drop: every block's attn.relative_position_index
                       (I64, (N, N)) and every shifted block's attn_mask (F32, (windows, N, N))
  reference.npz        x (B,C,H,W) f32, labels (B,) i64, logits (B,K) f64, loss () f64,
                       grad/<name> f64 for every parameter, q/k/v split

Run with Debian's python3-torch:  /usr/bin/python3 pipeline/src/test/python/swin_reference.py OUT_DIR
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

from vit_reference import write_safetensors  # the safetensors layout, written by hand

IMG, PATCH, CH, EMBED, DEPTHS, HEADS, WINDOW, MLP_RATIO, CLASSES, EPS, BATCH = (
    32, 2, 3, 4, (2, 2, 2), (1, 2, 4), 4, 4, 5, 1e-5, 3)
GRID = IMG // PATCH


def stage_dim(i):
    return EMBED * 2 ** i


def stage_res(i):
    return GRID // 2 ** i


def stage_window(i):
    """One window of the map's size where the map is no larger than the window (timm)."""
    return min(WINDOW, stage_res(i))


def block_shift(i, j):
    return WINDOW // 2 if j % 2 == 1 and stage_res(i) > WINDOW else 0


def make_weights(rng):
    """Random float32 weights in timm's state_dict order, large enough that every nonlinearity matters."""
    w = {}

    def n(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def linear(name, out, inp, bias=True, gain=1.3):
        w[name + ".weight"] = n((out, inp), gain / np.sqrt(inp))
        if bias:
            w[name + ".bias"] = n((out,), 0.2)

    def norm(name, width):
        w[name + ".weight"] = (1 + n((width,), 0.3)).astype(np.float32)
        w[name + ".bias"] = n((width,), 0.2)

    w["patch_embed.proj.weight"] = n((EMBED, CH, PATCH, PATCH), 0.4)
    w["patch_embed.proj.bias"] = n((EMBED,), 0.2)
    norm("patch_embed.norm", EMBED)
    for i, depth in enumerate(DEPTHS):
        d, win = stage_dim(i), stage_window(i)
        if i > 0:
            norm(f"layers.{i}.downsample.norm", 4 * stage_dim(i - 1))
            linear(f"layers.{i}.downsample.reduction", d, 4 * stage_dim(i - 1), bias=False)
        for j in range(depth):
            p = f"layers.{i}.blocks.{j}."
            norm(p + "norm1", d)
            w[p + "attn.relative_position_bias_table"] = n(((2 * win - 1) ** 2, HEADS[i]), 1.0)
            for op in ("q", "k", "v", "proj"):
                linear(p + "attn." + op, d, d, gain=1.6 if op in ("q", "k") else 1.3)
            norm(p + "norm2", d)
            linear(p + "mlp.fc1", MLP_RATIO * d, d)
            linear(p + "mlp.fc2", d, MLP_RATIO * d)
    norm("norm", stage_dim(len(DEPTHS) - 1))
    linear("head.fc", CLASSES, stage_dim(len(DEPTHS) - 1), gain=2.0)
    return w


def relative_position_index(win):
    """(N, N) indices into the ((2w-1)^2, heads) table, as the original Swin code builds them."""
    coords = torch.stack(torch.meshgrid(torch.arange(win), torch.arange(win), indexing="ij"))  # 2, w, w
    flat = torch.flatten(coords, 1)  # 2, N
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()  # N, N, 2
    rel[:, :, 0] += win - 1
    rel[:, :, 1] += win - 1
    rel[:, :, 0] *= 2 * win - 1
    return rel.sum(-1)


def window_partition(x, win):
    b, h, w_, c = x.shape
    x = x.view(b, h // win, win, w_ // win, win, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, win * win, c)


def window_reverse(windows, win, h, w_):
    b = windows.shape[0] // ((h // win) * (w_ // win))
    x = windows.view(b, h // win, w_ // win, win, win, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w_, -1)


def shift_mask(res, win, shift):
    """(windows, N, N): 0 within a region, -100 across, the regions of the Swin paper's cyclic shift."""
    img = torch.zeros((1, res, res, 1), dtype=torch.float64)
    cnt = 0
    for hs in (slice(0, -win), slice(-win, -shift), slice(-shift, None)):
        for ws in (slice(0, -win), slice(-win, -shift), slice(-shift, None)):
            img[:, hs, ws, :] = cnt
            cnt += 1
    mw = window_partition(img, win).squeeze(-1)  # windows, N
    mask = mw.unsqueeze(1) - mw.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


def block(p, pre, x, i, j):
    b, res, _, d = x.shape
    win, shift, heads = stage_window(i), block_shift(i, j), HEADS[i]
    hd = d // heads
    n_tok = win * win
    shortcut = x
    h = F.layer_norm(x, (d,), p[pre + "norm1.weight"], p[pre + "norm1.bias"], EPS)
    if shift:
        h = torch.roll(h, shifts=(-shift, -shift), dims=(1, 2))
    wins = window_partition(h, win)  # B*nW, N, d
    bw = wins.shape[0]

    def proj(op):
        y = F.linear(wins, p[pre + f"attn.{op}.weight"], p[pre + f"attn.{op}.bias"])
        return y.reshape(bw, n_tok, heads, hd).permute(0, 2, 1, 3)

    q, k, v = proj("q") * hd ** -0.5, proj("k"), proj("v")
    attn = q @ k.transpose(-2, -1)
    table = p[pre + "attn.relative_position_bias_table"]
    bias = table[relative_position_index(win).view(-1)].view(n_tok, n_tok, heads).permute(2, 0, 1)
    attn = attn + bias.unsqueeze(0)
    if shift:
        mask = shift_mask(res, win, shift)
        nw = mask.shape[0]
        attn = attn.view(bw // nw, nw, heads, n_tok, n_tok) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(bw, heads, n_tok, n_tok)
    attn = torch.softmax(attn, dim=-1)
    o = (attn @ v).transpose(1, 2).reshape(bw, n_tok, d)
    o = F.linear(o, p[pre + "attn.proj.weight"], p[pre + "attn.proj.bias"])
    h = window_reverse(o, win, res, res)
    if shift:
        h = torch.roll(h, shifts=(shift, shift), dims=(1, 2))
    x = shortcut + h
    h = F.layer_norm(x, (d,), p[pre + "norm2.weight"], p[pre + "norm2.bias"], EPS)
    h = F.gelu(F.linear(h, p[pre + "mlp.fc1.weight"], p[pre + "mlp.fc1.bias"]))
    return x + F.linear(h, p[pre + "mlp.fc2.weight"], p[pre + "mlp.fc2.bias"])


def patch_merging(p, pre, x):
    """The original Swin code's 2x2 merging: x0 = (0,0), x1 = (1,0), x2 = (0,1), x3 = (1,1) offsets (row, col)."""
    x0 = x[:, 0::2, 0::2, :]
    x1 = x[:, 1::2, 0::2, :]
    x2 = x[:, 0::2, 1::2, :]
    x3 = x[:, 1::2, 1::2, :]
    x = torch.cat([x0, x1, x2, x3], -1)
    x = F.layer_norm(x, (x.shape[-1],), p[pre + "norm.weight"], p[pre + "norm.bias"], EPS)
    return F.linear(x, p[pre + "reduction.weight"])


def forward(p, x):
    t = F.conv2d(x, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=PATCH)
    t = t.permute(0, 2, 3, 1)  # NHWC
    t = F.layer_norm(t, (EMBED,), p["patch_embed.norm.weight"], p["patch_embed.norm.bias"], EPS)
    for i, depth in enumerate(DEPTHS):
        if i > 0:
            t = patch_merging(p, f"layers.{i}.downsample.", t)
        for j in range(depth):
            t = block(p, f"layers.{i}.blocks.{j}.", t, i, j)
    d = t.shape[-1]
    t = F.layer_norm(t, (d,), p["norm.weight"], p["norm.bias"], EPS)
    return F.linear(t.mean(dim=(1, 2)), p["head.fc.weight"], p["head.fc.bias"])


def checkpoint(w):
    """timm's state_dict as older timm versions saved it: q, k, v fused into attn.qkv, and the
    relative_position_index (and, in shifted blocks, attn_mask) buffers after each block's table."""
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
        if name.endswith(".attn.relative_position_bias_table"):
            base = name[: -len(".attn.relative_position_bias_table")]
            i, j = int(base.split(".")[1]), int(base.split(".")[3])
            win, shift = stage_window(i), block_shift(i, j)
            out[base + ".attn.relative_position_index"] = relative_position_index(win).numpy().astype(np.int64)
            if shift:
                out[base + ".attn_mask"] = shift_mask(stage_res(i), win, shift).numpy().astype(np.float32)
    return out


def main(out):
    rng = np.random.default_rng(20261205)
    w = make_weights(rng)
    x = rng.standard_normal((BATCH, CH, IMG, IMG)).astype(np.float32)
    labels = np.array([3, 0, 4], dtype=np.int64)

    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w.items()}
    logits = forward(params, torch.tensor(x, dtype=torch.float64))
    loss = F.cross_entropy(logits, torch.tensor(labels))
    loss.backward()

    write_safetensors(f"{out}/weights.safetensors", checkpoint(w))
    ref = {"x": x, "labels": labels, "logits": logits.detach().numpy(), "loss": loss.detach().numpy()}
    for name, p in params.items():
        ref["grad/" + name] = p.grad.numpy()
    np.savez(f"{out}/reference.npz", **ref)
    count = sum(v.size for v in w.values())
    print(f"{count} parameters, loss {loss.item():.6f}, logits[0] {logits[0].detach().numpy()}, "
          f"softmax[0] {torch.softmax(logits, -1)[0].detach().numpy()}, torch {torch.__version__}")


if __name__ == "__main__":
    main(sys.argv[1])
