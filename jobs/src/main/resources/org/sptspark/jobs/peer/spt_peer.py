#!/usr/bin/env python3
"""The PyTorch eager peer of `spt bench peer`: our benchmark workloads, written in plain PyTorch.

A long-lived server. It reads one command per line on stdin and answers each with one JSON line
on stdout (nothing else is ever printed there):

  hello                 versions and thread settings
  setup <spec.json>     builds one workload (model, sensitivity or a training method) from the spec
                        the Java side wrote; answers what it trains
  step                  runs one step of the workload: {"seconds", "loss", "peak_rss"}
  check                 the set-up model in eval mode on the spec's inputs: {"logits", "loss"}
  release               frees the workload and resets the peak RSS counter
  quit                  exits

An error answers {"ok": false, "error": ...} and the server goes on.

The ViT is timm's architecture written from its description (patch convolution, class token,
learned position embedding, pre-norm blocks with exact-erf GELU, final LayerNorm, linear head on
the class token), with q, k and v as three separate linear layers, as ours: SPT and LoRA work per
matrix, and three (D x D) products cost the FLOPs of one fused (3D x D) product.

Tuning is what the spec says per backbone tensor (the Java side's layout, so both do the same work):
whole tensors train as they are; SPT's sparse entries train the reference's way, the whole matrix
with a 0/1 mask on its gradient; LoRA and Adapter branches as our modules build them (dropout 0.1 on
the module's input, shared by modules reading the same array, none on attn.proj; drop-path 0.1 on
the branch's output). SNELLA as ours builds it: the kernelized delta of each matrix computed under
torch.utils.checkpoint (so the dense delta is recomputed in the backward pass, as the SNELL reference
does), the same number of kept entries per matrix as our competition gives it (the spec says), the
threshold by a partial top-k as ours (the reference takes a quantile), and the importance and
uncertainty averages updated after each backward pass.

Only torch and numpy are used.
"""

import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint as checkpoint


# --------------------------------------------------------------------------------------------
# files


def read_safetensors(path):
    """Tensors of a safetensors file by name (F32 and I64 only), as numpy arrays."""
    dtypes = {"F32": np.float32, "I64": np.int64, "F64": np.float64, "I32": np.int32}
    with open(path, "rb") as f:
        data = f.read()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length].decode("utf-8"))
    base = 8 + length
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data, dtype=dtypes[entry["dtype"]], count=(end - begin) // np.dtype(dtypes[entry["dtype"]]).itemsize,
                              offset=base + begin)
        out[name] = array.reshape(entry["shape"]).copy()
    return out


def peak_rss():
    """This process's peak resident set in bytes (VmHWM; ru_maxrss where /proc has none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_rss():
    """Resets VmHWM to the current resident set (Linux: 5 into clear_refs); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# the model


def shapes(c):
    """Every parameter's shape by timm name (q, k, v separate), in our parameter-space order."""
    d, m, p, ch = c["embedDim"], c["mlpDim"], c["patchSize"], c["inChannels"]
    tokens = (c["imageSize"] // p) ** 2 + 1
    out = {"cls_token": (1, 1, d), "pos_embed": (1, tokens, d),
           "patch_embed.proj.weight": (d, ch, p, p), "patch_embed.proj.bias": (d,)}
    for i in range(c["depth"]):
        b = "blocks.%d." % i
        out[b + "norm1.weight"] = (d,)
        out[b + "norm1.bias"] = (d,)
        for op in ("q", "k", "v", "proj"):
            out[b + "attn.%s.weight" % op] = (d, d)
            out[b + "attn.%s.bias" % op] = (d,)
        out[b + "norm2.weight"] = (d,)
        out[b + "norm2.bias"] = (d,)
        out[b + "mlp.fc1.weight"] = (m, d)
        out[b + "mlp.fc1.bias"] = (m,)
        out[b + "mlp.fc2.weight"] = (d, m)
        out[b + "mlp.fc2.bias"] = (d,)
    out["norm.weight"] = (d,)
    out["norm.bias"] = (d,)
    out["head.weight"] = (c["numClasses"], d)
    out["head.bias"] = (c["numClasses"],)
    return out


def random_parameters(c, generator):
    """timm-like values: trunc-normal 0.02 matrices and tokens, unit norms, zero biases."""
    params = {}
    for name, shape in shapes(c).items():
        if ".norm" in name or name.startswith("norm."):
            t = torch.ones(shape) if name.endswith("weight") else torch.zeros(shape)
        elif name.endswith("bias"):
            t = torch.zeros(shape)
        else:
            t = torch.randn(shape, generator=generator).mul_(0.02).clamp_(-0.04, 0.04)
        params[name] = t
    return params


class Branches:
    """The tuning modules on block linear layers, and the per-forward dropout they share."""

    def __init__(self, dropout, drop_path):
        self.lora = {}      # linear -> (A, B)
        self.adapter = {}   # linear -> (down w, down b, up w, up b)
        self.snella = {}    # linear -> Kernel
        self.dropout_rate = dropout
        self.drop_path_rate = drop_path
        self.cache = None

    def begin(self):
        self.cache = {}

    def dropout(self, x, training):
        if not training:
            return x
        key = id(x)
        hit = self.cache.get(key)
        if hit is None or hit[0] is not x:
            hit = (x, F.dropout(x, self.dropout_rate, True))
            self.cache[key] = hit
        return hit[1]

    def drop_path(self, branch, training):
        return drop_path(branch, self.drop_path_rate, training)

    def linear(self, name, x, w, b, training):
        """The layer `name` (e.g. blocks.0.attn.q) with its module, if any."""
        y = F.linear(x, w, b)
        proj = name.endswith(".proj")
        lora = self.lora.get(name)
        if lora is not None:
            a, up = lora
            source = x if proj else self.dropout(x, training)
            y = y + self.drop_path(F.linear(F.linear(source, a), up), training)
        adapter = self.adapter.get(name)
        if adapter is not None:
            dw, db, uw, ub = adapter
            source = x if proj else self.dropout(y, training)
            y = y + self.drop_path(F.linear(F.gelu(F.linear(source, dw, db)), uw, ub), training)
        kernel = self.snella.get(name)
        if kernel is not None:
            source = x if proj else self.dropout(x, training)
            y = y + self.drop_path(F.linear(source, kernel.delta(training)), training)
        return y


class Kernel:
    """SNELLA's kernelized sparse delta of one (rows, cols) matrix, from factors In and Out.

    K[o, i] = sum_h c_h ||Out_h[o] - In_h[i]|| (c_h = 0.1, -0.1, ...), dW = K + alpha softmax(K / gamma
    over the outputs) + beta, delta = dW |dW| on the `keep` entries of largest |dW| (|dW| and the
    selection constant to autograd). In training the delta is computed under checkpoint: only the
    factors are saved, and the backward pass recomputes dW with the threshold the forward pass chose.
    """

    SCALE = 0.1

    def __init__(self, factors, heads, keep):
        self.inp, self.out, self.alpha, self.gamma, self.beta = factors
        self.coefficients = torch.tensor([self.SCALE if h % 2 == 0 else -self.SCALE for h in range(heads)]).view(heads, 1, 1)
        self.keep = keep
        self.threshold = None
        self.importance = [torch.zeros_like(self.inp), torch.zeros_like(self.out)]
        self.uncertainty = [torch.zeros_like(self.inp), torch.zeros_like(self.out)]

    def dense(self, a, b, alpha, gamma, beta):
        dots = b @ a.transpose(1, 2)
        squared = b.square().sum(2, keepdim=True) + a.square().sum(2).unsqueeze(1) - 2 * dots
        k = (squared.clamp_min(1e-30).sqrt() * self.coefficients).sum(0)
        return k + alpha * torch.softmax(k / gamma, dim=0) + beta

    def sparse(self, a, b, alpha, gamma, beta):
        dw = self.dense(a, b, alpha, gamma, beta)
        magnitude = dw.detach().abs()
        if self.threshold is None:
            self.threshold = kth_largest(magnitude, self.keep)
        return dw * (magnitude * (magnitude >= self.threshold).to(dw.dtype))

    def delta(self, training):
        self.threshold = None
        factors = (self.inp, self.out, self.alpha, self.gamma, self.beta)
        if not training:
            with torch.no_grad():
                return self.sparse(*factors)
        return checkpoint.checkpoint(self.sparse, *factors, use_reentrant=False)

    def observe(self, beta1=0.85, beta2=0.85):
        """The competition's moving averages of |p grad| and of its deviation, after a backward pass."""
        with torch.no_grad():
            for j, p in enumerate((self.inp, self.out)):
                ipt = (p * p.grad).abs().nan_to_num(nan=0.0)
                self.importance[j].mul_(beta1).add_(ipt, alpha=1 - beta1)
                self.uncertainty[j].mul_(beta2).add_((ipt - self.importance[j]).abs(), alpha=1 - beta2)


def kth_largest(magnitude, keep):
    """The keep-th largest value by a partial top-k from the shorter side (+inf keeps none, -inf all)."""
    flat = magnitude.reshape(-1)
    n = flat.numel()
    if keep <= 0:
        return float("inf")
    if keep >= n:
        return float("-inf")
    smallest = n - keep + 1
    if keep <= smallest:
        return torch.topk(flat, keep, largest=True, sorted=False).values.min()
    return torch.topk(flat, smallest, largest=False, sorted=False).values.max()


def drop_path(branch, rate, training):
    if not training or rate <= 0:
        return branch
    keep = 1.0 - rate
    mask = (torch.rand((branch.shape[0],) + (1,) * (branch.dim() - 1), dtype=branch.dtype) < keep).to(branch.dtype)
    return branch * (mask / keep)


def forward(c, p, images, training, branches):
    """Logits (batch, classes) of the ViT with parameters p (by timm name)."""
    if branches is not None:
        branches.begin()
    d, heads, eps = c["embedDim"], c["numHeads"], c["layerNormEps"]
    depth = c["depth"]
    x = F.conv2d(images, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=c["patchSize"])
    x = x.flatten(2).transpose(1, 2)
    batch, grid = x.shape[0], x.shape[1]
    x = torch.cat([p["cls_token"].expand(batch, -1, -1), x], dim=1) + p["pos_embed"]
    n = grid + 1
    scale = 1.0 / math.sqrt(d // heads)

    def lin(name, t):
        w, b = p[name + ".weight"], p[name + ".bias"]
        if branches is None:
            return F.linear(t, w, b)
        return branches.linear(name, t, w, b, training)

    for i in range(depth):
        pre = "blocks.%d." % i
        rate = c["dropPathRate"] if depth == 1 else c["dropPathRate"] * i / (depth - 1)
        h = F.layer_norm(x, (d,), p[pre + "norm1.weight"], p[pre + "norm1.bias"], eps)
        q = lin(pre + "attn.q", h).reshape(batch, n, heads, d // heads).transpose(1, 2) * scale
        k = lin(pre + "attn.k", h).reshape(batch, n, heads, d // heads).transpose(1, 2)
        v = lin(pre + "attn.v", h).reshape(batch, n, heads, d // heads).transpose(1, 2)
        attn = (q @ k.transpose(-2, -1)).softmax(-1)
        a = (attn @ v).transpose(1, 2).reshape(batch, n, d)
        a = lin(pre + "attn.proj", a)
        x = x + drop_path(a, rate, training)
        h = F.layer_norm(x, (d,), p[pre + "norm2.weight"], p[pre + "norm2.bias"], eps)
        m = lin(pre + "mlp.fc2", F.gelu(lin(pre + "mlp.fc1", h)))
        x = x + drop_path(m, rate, training)
    x = F.layer_norm(x, (d,), p["norm.weight"], p["norm.bias"], eps)
    return F.linear(x[:, 0], p["head.weight"], p["head.bias"])


def linear_of(tensor):
    """blocks.0.attn.q.weight -> blocks.0.attn.q"""
    return tensor[: -len(".weight")]


# --------------------------------------------------------------------------------------------
# workloads


class Workload:
    def __init__(self, spec):
        self.spec = spec
        c = self.config = spec["config"]
        self.kind = spec["workload"]
        self.batch = spec["batch"]
        self.steps = 0
        generator = torch.Generator().manual_seed(int(spec.get("seed", 0)))
        loaded = read_safetensors(spec["weights"]) if spec.get("weights") else {}
        self.loaded = loaded
        self.params = {}
        base = random_parameters(c, generator)
        for name, t in base.items():
            if name in loaded:
                t = torch.from_numpy(loaded[name])
                if tuple(t.shape) != tuple(base[name].shape):
                    raise ValueError("%s: shape %s, expected %s" % (name, tuple(t.shape), tuple(base[name].shape)))
            self.params[name] = t.contiguous()
        if "input.images" in loaded:
            self.images = torch.from_numpy(loaded["input.images"])
            self.labels = torch.from_numpy(loaded["input.labels"]).long()
        else:
            size = (self.batch, c["inChannels"], c["imageSize"], c["imageSize"])
            self.images = torch.randn(size, generator=generator)
            self.labels = torch.randint(0, c["numClasses"], (self.batch,), generator=generator)
        self.branches = None
        self.trainables = []   # (name, tensor, decay, mask or None)
        self.masked_entries = 0
        if self.kind == "model":
            for name, t in self.params.items():
                t.requires_grad_(True)
                self.trainables.append((name, t, False, None))
        elif self.kind == "sensitivity":
            self.scored = [name for name in spec["scored"]]
            for name in self.scored:
                self.params[name].requires_grad_(True)
            self.sums = {name: torch.zeros(self.params[name].shape, dtype=torch.float64) for name in self.scored}
        elif self.kind == "train":
            self.build_method(spec, generator)
        else:
            raise ValueError("unknown workload '%s'" % self.kind)

    def build_method(self, spec, generator):
        decay = {t["name"]: bool(t["decay"]) for t in spec.get("trainables", [])}
        self.branches = Branches(spec.get("moduleDropout", 0.1), spec.get("moduleDropPath", 0.1))
        loaded = self.loaded

        def new(name, shape, init):
            if name in loaded:
                t = torch.from_numpy(loaded[name]).contiguous()
            else:
                t = init(shape)
            t.requires_grad_(True)
            return t

        def kaiming(shape):
            bound = 1.0 / math.sqrt(shape[-1])  # kaiming-uniform with a = sqrt(5)
            return torch.empty(shape).uniform_(-bound, bound, generator=generator)

        def kaiming3(shape):
            bound = 1.0 / math.sqrt(shape[1] * shape[2])  # fan-in of a 3-D tensor: size(1) * size(2)
            return torch.empty(shape).uniform_(-bound, bound, generator=generator)

        zeros = torch.zeros
        tuned = 0
        for entry in spec["tensors"]:
            name, kind = entry["name"], entry["decision"]
            p = self.params[name]
            if kind == "frozen":
                continue
            if kind == "whole":
                p.requires_grad_(True)
                self.trainables.append((name, p, decay.get(name, False), None))
                tuned += p.numel()
            elif kind == "sparse":
                # the reference's way: the whole matrix trains, its gradient masked to the planned entries
                mask = torch.zeros(p.numel())
                mask[torch.tensor(entry["indices"], dtype=torch.long)] = 1.0
                mask = mask.reshape(p.shape)
                p.requires_grad_(True)
                self.trainables.append((name, p, False, mask))
                tuned += len(entry["indices"])
                self.masked_entries += len(entry["indices"])
            elif kind == "lora":
                r, linear = entry["rank"], linear_of(name)
                rows, cols = p.shape
                a = new(linear + ".lora_A", (r, cols), kaiming)
                b = new(linear + ".lora_B", (rows, r), zeros)
                self.branches.lora[linear] = (a, b)
                for n_, t in ((linear + ".lora_A", a), (linear + ".lora_B", b)):
                    self.trainables.append((n_, t, decay.get(n_, True), None))
                    tuned += t.numel()
            elif kind == "adapter":
                r, linear = entry["rank"], linear_of(name)
                width = p.shape[0]
                down, up = linear + ".adapter_down.", linear + ".adapter_up."
                dw = new(down + "weight", (r, width), kaiming)
                db = new(down + "bias", (r,), lambda s: kaiming((1, width))[0, :r].clone())
                uw = new(up + "weight", (width, r), zeros)
                ub = new(up + "bias", (width,), zeros)
                self.branches.adapter[linear] = (dw, db, uw, ub)
                for n_, t in ((down + "weight", dw), (down + "bias", db), (up + "weight", uw), (up + "bias", ub)):
                    self.trainables.append((n_, t, decay.get(n_, n_.endswith("weight")), None))
                    tuned += t.numel()
            elif kind == "snella":
                r, heads, linear = entry["rank"], entry["heads"], linear_of(name)
                rows, cols = p.shape
                prefix = linear + ".snella_"
                factors = (new(prefix + "in", (heads, cols, r // heads), kaiming3),
                           new(prefix + "out", (heads, rows, r // heads), kaiming3),
                           new(prefix + "alpha", (1,), torch.ones), new(prefix + "gamma", (1,), torch.ones),
                           new(prefix + "beta", (1,), zeros))
                self.branches.snella[linear] = Kernel(factors, heads, entry["keep"])
                for part, t in zip(("in", "out", "alpha", "gamma", "beta"), factors):
                    self.trainables.append((prefix + part, t, decay.get(prefix + part, part in ("in", "out")), None))
                    tuned += t.numel()
            else:
                raise ValueError("decision '%s' of %s is not implemented in the peer" % (kind, name))
        for name in ("head.weight", "head.bias"):
            p = self.params[name]
            p.requires_grad_(True)
            self.trainables.append((name, p, decay.get(name, name == "head.weight"), None))
            tuned += p.numel()
        self.tuned = tuned
        wd = spec.get("weightDecay", 1e-4)
        groups = [{"params": [t for _, t, d, _ in self.trainables if d], "weight_decay": wd},
                  {"params": [t for _, t, d, _ in self.trainables if not d], "weight_decay": 0.0}]
        groups = [g for g in groups if g["params"]]
        self.optimizer = torch.optim.AdamW(groups, lr=spec.get("lr", 1e-3), betas=(0.9, 0.999), eps=1e-8)
        self.masks = [(t, m) for _, t, _, m in self.trainables if m is not None]

    def describe(self):
        updated = sum(t.numel() for _, t, _, _ in self.trainables)
        out = {"workload": self.kind, "updated": updated,
               "trainables": [{"name": n, "shape": list(t.shape), "decay": d, "masked": m is not None}
                              for n, t, d, m in self.trainables]}
        if self.kind == "train":
            out["tuned"] = self.tuned
        if self.kind == "sensitivity":
            out["scored"] = sum(self.params[n].numel() for n in self.scored)
        return out

    def step(self):
        """One step; returns (seconds, loss)."""
        c = self.config
        torch.manual_seed(self.steps)
        t0 = time.perf_counter()
        if self.kind == "model":
            for _, t, _, _ in self.trainables:
                t.grad = None
            logits = forward(c, self.params, self.images, True, None)
            loss = F.cross_entropy(logits, self.labels)
            loss.backward()
        elif self.kind == "sensitivity":
            for name in self.scored:
                self.params[name].grad = None
            logits = forward(c, self.params, self.images, True, None)
            loss = F.cross_entropy(logits, self.labels)
            loss.backward()
            with torch.no_grad():
                for name in self.scored:
                    self.sums[name].add_(self.params[name].grad.double().square())
        else:
            self.optimizer.zero_grad(set_to_none=True)
            logits = forward(c, self.params, self.images, True, self.branches)
            loss = F.cross_entropy(logits, self.labels)
            loss.backward()
            with torch.no_grad():
                for t, m in self.masks:
                    t.grad.mul_(m)
            for kernel in self.branches.snella.values():
                kernel.observe()
            self.optimizer.step()
        value = float(loss.detach())
        seconds = time.perf_counter() - t0
        self.steps += 1
        return seconds, value

    def check(self):
        with torch.no_grad():
            logits = forward(self.config, self.params, self.images, False, self.branches)
            loss = F.cross_entropy(logits, self.labels)
        return logits.tolist(), float(loss)


# --------------------------------------------------------------------------------------------
# the server


def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv):
    threads = os.cpu_count() or 1
    if "--threads" in argv:
        threads = int(argv[argv.index("--threads") + 1])
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    workload = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        command, _, argument = line.partition(" ")
        try:
            if command == "hello":
                answer({"ok": True, "torch": torch.__version__, "numpy": np.__version__,
                        "python": sys.version.split()[0], "threads": torch.get_num_threads(),
                        "interop_threads": torch.get_num_interop_threads(),
                        "parallel": torch.__config__.parallel_info().splitlines()[0:4]})
            elif command == "setup":
                workload = None
                reset_peak_rss()
                t0 = time.perf_counter()
                with open(argument) as f:
                    spec = json.load(f)
                workload = Workload(spec)
                out = {"ok": True, "setup_seconds": time.perf_counter() - t0}
                out.update(workload.describe())
                answer(out)
            elif command == "step":
                if workload is None:
                    raise ValueError("no workload: send setup first")
                seconds, loss = workload.step()
                answer({"ok": True, "seconds": seconds, "loss": loss, "peak_rss": peak_rss()})
            elif command == "check":
                if workload is None:
                    raise ValueError("no workload: send setup first")
                logits, loss = workload.check()
                answer({"ok": True, "logits": logits, "loss": loss})
            elif command == "release":
                workload = None
                answer({"ok": True, "peak_reset": reset_peak_rss()})
            elif command == "quit":
                answer({"ok": True})
                return 0
            else:
                raise ValueError("unknown command '%s'" % command)
        except Exception as e:  # the server answers every command, errors included
            answer({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
