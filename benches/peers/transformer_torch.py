"""W5 and W6 of docs/perf.md in PyTorch eager (float64, 2 threads): one SGD step (lr 0.01) of
the same pre-LN transformer as benches/transformer.rs and transformer_jax.py, median ms, for
run_peers.sh. Where tapegrad has a fused op (layer_norm, softmax, cross_entropy), PyTorch's own
fused op is used too."""
import statistics
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.set_default_dtype(torch.float64)


def init(vocab, d, ff, t, layers):
    shapes = [(vocab, d), (t, d)]
    for _ in range(layers):
        shapes += [(d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, ff), (ff,), (ff, d), (d,)]
    shapes += [(d,), (d,), (d, vocab), (vocab,)]
    gains = {2 + 12 * i + o for i in range(layers) for o in (0, 6)} | {2 + 12 * layers}
    params = []
    for i, s in enumerate(shapes):
        p = torch.randn(s) * 0.02 if len(s) == 2 else (torch.ones(s) if i in gains else torch.zeros(s))
        params.append(p.requires_grad_())
    return params


def linear(x, w, b):
    """A Linear layer with the weight stored [in, out], as nn.Linear computes it: one addmm."""
    return torch.addmm(b, x, w)


def loss(params, ids, batch, t, d, heads, layers, mask):
    dk = d // heads
    p = iter(params)
    tok, pos = next(p), next(p)
    x = (tok[ids] + pos[torch.arange(t)][None]).reshape(batch * t, d)
    for _ in range(layers):
        h = F.layer_norm(x, (d,), next(p), next(p), 1e-5)
        qkv = linear(h, next(p), next(p))
        q, k, v = (qkv[:, i * d:(i + 1) * d].reshape(batch, t, heads, dk).transpose(1, 2) for i in range(3))
        scores = (q @ k.transpose(2, 3)) * (1.0 / dk ** 0.5)
        att = (torch.softmax(scores.masked_fill(mask, float("-inf")), -1) @ v).transpose(1, 2).reshape(batch * t, d)
        x = x + linear(att, next(p), next(p))
        h = F.layer_norm(x, (d,), next(p), next(p), 1e-5)
        x = x + linear(torch.relu(linear(h, next(p), next(p))), next(p), next(p))
    x = F.layer_norm(x, (d,), next(p), next(p), 1e-5)
    logits = linear(x, next(p), next(p))
    targets = torch.roll(ids, -1, dims=1).reshape(-1)
    return F.cross_entropy(logits, targets)


def proc_status_mib(key):
    """A kB line of /proc/self/status (VmRSS: resident now, VmHWM: the peak), in MiB; None
    where there is no such file (not Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def bench(name, vocab, d, ff, t, heads, layers, batch, steps):
    torch.manual_seed(0)
    params = init(vocab, d, ff, t, layers)
    ids = torch.randint(0, vocab, (batch, t))
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)

    def step():
        l = loss(params, ids, batch, t, d, heads, layers, mask)
        l.backward()
        with torch.no_grad():
            for p in params:
                p -= 0.01 * p.grad
                p.grad = None
        return l.item()

    resident_before = proc_status_mib("VmRSS")
    first = step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        last = step()
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"{name} torch: {statistics.median(times):.3f} ms/step (median of {steps}), loss {first:.4f} -> {last:.4f}")
    peak = proc_status_mib("VmHWM")
    if resident_before is not None and peak is not None:
        # As benches/transformer.rs: the peak resident memory above the process before its
        # first step (one step's tensors and what the allocator keeps of them).
        print(f"{name} torch peak memory: {peak - resident_before:.0f} MiB above the process before its first step")


bench("W5 transformer step, batch 1", 6, 16, 64, 5, 2, 1, 1, 501)
bench("W5' transformer step, batch 16", 6, 16, 64, 5, 2, 1, 16, 501)
bench("W6 transformer step", 512, 128, 512, 64, 4, 2, 16, 9)
