"""GPU anchor for BENCHMARKS.md: the published methods' training memory and step time in PyTorch.

Written from the papers' method descriptions (not the reference code) on plain PyTorch, no timm:
a ViT-B/16 at 224 px with separate q/k/v projections, one training step = forward, cross-entropy,
backward, AdamW. Methods:

  full        every parameter trained
  masked      mask-based sparse tuning (SPT's unstructured entries, GPS): every matrix trainable,
              its gradient multiplied by a fixed 0/1 mask of the given density, AdamW over the matrix
  lora        LoRA rank 8 on the six matrices of every block, head and class token
  snella      SNELLA: kernelized delta (rank 32, 2 heads) on the six matrices, sparsified to the
              target, recomputed in the backward pass (activation checkpointing), as the paper does
  snella-nockpt  the same without checkpointing (the dense delta's graph is kept)

Prints one JSON line per method: peak allocated GPU memory (torch.cuda.max_memory_allocated),
median step time and images/s. Usage: python bench/gpu_anchor.py [batch] [steps]

SPT's sensitivity (stage 1): python bench/gpu_anchor.py sensitivity [batch] [batches] times the
reference workload (16 batches of 32 by default): per batch a forward in training mode, the
cross-entropy's backward through the whole model, and (dL/dw)^2 added to a float64
sum per weight of the blocks, once in fp32 (TF32 off) and once under bf16 autocast.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as checkpoint


class Kernelized(nn.Module):
    """dW = K + a softmax(K/g) + b, K = sum_h c_h cdist(In_h, Out_h); delta = dW |dW| on the top entries."""

    def __init__(self, fin, fout, rank=32, heads=2, sparsity=0.9, use_checkpoint=True):
        super().__init__()
        self.inq = nn.Parameter(torch.empty(heads, fin, rank // heads))
        self.outq = nn.Parameter(torch.empty(heads, fout, rank // heads))
        nn.init.kaiming_uniform_(self.inq, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.outq, a=math.sqrt(5))
        self.register_buffer("coeff", 0.1 * torch.tensor([(-1.0) ** h for h in range(heads)]).view(heads, 1, 1))
        self.alpha = nn.Parameter(torch.ones(1))
        self.gamma = nn.Parameter(torch.ones(1))
        self.beta = nn.Parameter(torch.zeros(1))
        self.drop = int(sparsity * fin * fout)
        self.use_checkpoint = use_checkpoint

    def delta(self):
        k = (self.coeff * torch.cdist(self.inq, self.outq)).sum(0)
        w = k + self.alpha * F.softmax(k / self.gamma, dim=-1) + self.beta
        magnitude = w.detach().abs()
        threshold = magnitude.flatten().kthvalue(max(1, self.drop)).values
        return w * (magnitude * (magnitude > threshold))

    def _forward(self, x):
        return F.linear(x, self.delta().t())

    def forward(self, x):
        if self.use_checkpoint:
            return checkpoint.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


class LoRA(nn.Module):
    def __init__(self, fin, fout, rank=8):
        super().__init__()
        self.a = nn.Parameter(torch.empty(rank, fin))
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        self.b = nn.Parameter(torch.zeros(fout, rank))

    def forward(self, x):
        return F.linear(F.linear(x, self.a), self.b)


class Linear(nn.Linear):
    def __init__(self, fin, fout):
        super().__init__(fin, fout)
        self.branch = None

    def forward(self, x):
        y = super().forward(x)
        return y if self.branch is None else y + self.branch(x)


class Block(nn.Module):
    def __init__(self, dim=768, heads=12, mlp=3072):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.q, self.k, self.v, self.proj = (Linear(dim, dim) for _ in range(4))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = Linear(dim, mlp)
        self.fc2 = Linear(mlp, dim)

    def linears(self):
        return [self.q, self.k, self.v, self.proj, self.fc1, self.fc2]

    def forward(self, x):
        b, n, c = x.shape
        h = self.norm1(x)
        q, k, v = (f(h).view(b, n, self.heads, c // self.heads).transpose(1, 2) for f in (self.q, self.k, self.v))
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)
        x = x + self.proj(a)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    def __init__(self, classes=100, dim=768, depth=12):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 16, 16)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, 197, dim))
        self.blocks = nn.ModuleList(Block(dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


def build(method, density):
    model = ViT()
    masks = {}
    if method == "full":
        pass
    elif method == "masked":
        for name, p in model.named_parameters():
            if p.dim() == 2 and "head" not in name:
                masks[name] = torch.rand_like(p) < density
            elif "head" not in name and name != "cls_token":
                p.requires_grad_(False)
    else:
        for p in model.parameters():
            p.requires_grad_(False)
        for blk in model.blocks:
            for lin in blk.linears():
                if method == "lora":
                    lin.branch = LoRA(lin.in_features, lin.out_features)
                else:
                    lin.branch = Kernelized(lin.in_features, lin.out_features, use_checkpoint=method == "snella")
        model.head.requires_grad_(True)
        model.cls_token.requires_grad_(True)
    return model, masks


def random_batch(batch):
    """Random 224x224 images and labels of 100 classes on the GPU."""
    return torch.randn(batch, 3, 224, 224, device="cuda"), torch.randint(0, 100, (batch,), device="cuda")


def timed(step, runs, warmup):
    """Seconds of each of `runs` calls of step() after `warmup` untimed ones, the GPU synchronised
    around each; the peak-memory counter is reset first."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup + runs):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def measure(method, batch, steps, density=0.005):
    torch.manual_seed(0)
    model, masks = build(method, density)
    model.cuda().train()
    masks = {k: v.cuda() for k, v in masks.items()}
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].register_hook(lambda g, m=mask: g * m)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-3, weight_decay=1e-4)
    x, y = random_batch(batch)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    times = sorted(timed(step, steps, warmup=2))
    step = times[len(times) // 2]
    return {
        "method": method,
        "batch": batch,
        "trainable": sum(p.numel() for p in trainable),
        "peak_allocated_mb": torch.cuda.max_memory_allocated() / 2**20,
        "step_ms": step * 1000,
        "images_per_s": batch / step,
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
    }


def sensitivity(batch, batches, autocast):
    torch.manual_seed(0)
    model = ViT().cuda().train()
    scored = {n: p for n, p in model.named_parameters() if n.startswith("blocks.")}
    sums = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in scored.items()}
    x, y = random_batch(batch)

    def step():
        model.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        with torch.no_grad():
            for n, p in scored.items():
                sums[n].add_(p.grad.double().square())

    total = sum(timed(step, batches, warmup=1))
    return {
        "method": "sensitivity" + ("-bf16" if autocast else "-fp32"),
        "batch": batch,
        "batches": batches,
        "scored": sum(p.numel() for p in scored.values()),
        "peak_allocated_mb": torch.cuda.max_memory_allocated() / 2**20,
        "seconds": total,
        "images_per_s": batch * batches / total,
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
    }


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "sensitivity":
    torch.backends.cuda.matmul.allow_tf32 = False
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    batches = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    for autocast in (False, True):
        print(json.dumps(sensitivity(batch, batches, autocast)), flush=True)
        torch.cuda.empty_cache()
elif __name__ == "__main__":
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.backends.cuda.matmul.allow_tf32 = False
    for method in ["full", "masked", "lora", "snella", "snella-nockpt"]:
        print(json.dumps(measure(method, batch, steps)), flush=True)
        torch.cuda.empty_cache()
