"""The hvp workload of benches/transformer.rs in PyTorch (float64, CPU): a Hessian-vector
product of the W5 transformer's loss with respect to all parameters by
torch.autograd.functional.hvp (double backward), against one plain forward + backward,
alternated, median microseconds. Run by run_hvp.sh beside `cargo bench --bench transformer -- hvp`."""
import math
import statistics
import time

import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)  # tiny tensors: threads only add synchronisation


def init(gen, vocab, d, ff, t, layers):
    shapes = [(vocab, d), (t, d)]
    for _ in range(layers):
        shapes += [(d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, ff), (ff,), (ff, d), (d,)]
    shapes += [(d,), (d,), (d, vocab), (vocab,)]
    params = [torch.randn(s, generator=gen) * 0.02 if len(s) == 2 else torch.zeros(s) for s in shapes]
    gains = [2 + 12 * i + o for i in range(layers) for o in (0, 6)] + [2 + 12 * layers]
    return [torch.ones(p.shape) if i in gains else p for i, p in enumerate(params)]


def make_loss(ids, batch, t, d, heads, layers):
    dk = d // heads
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
    targets = torch.roll(ids, -1, dims=1)

    def loss(*params):
        p = iter(params)
        tok, pos = next(p), next(p)
        x = tok[ids] + pos[torch.arange(t)][None]
        for _ in range(layers):
            h = torch.nn.functional.layer_norm(x, (d,), next(p), next(p), 1e-5)
            qkv = h @ next(p) + next(p)
            q, k, v = (qkv[..., i * d:(i + 1) * d].reshape(batch, t, heads, dk).transpose(1, 2) for i in range(3))
            scores = (q @ k.transpose(2, 3) / math.sqrt(dk)).masked_fill(mask, -math.inf)
            att = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(batch, t, d)
            x = x + att @ next(p) + next(p)
            h = torch.nn.functional.layer_norm(x, (d,), next(p), next(p), 1e-5)
            x = x + torch.relu(h @ next(p) + next(p)) @ next(p) + next(p)
        x = torch.nn.functional.layer_norm(x, (d,), next(p), next(p), 1e-5)
        logits = x @ next(p) + next(p)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    return loss


def bench(name, vocab, d, ff, t, heads, layers, batch, steps):
    gen = torch.Generator().manual_seed(0)
    params = init(gen, vocab, d, ff, t, layers)
    ids = torch.randint(0, vocab, (batch, t), generator=gen)
    v = [torch.randn(p.shape, generator=gen) for p in params]
    loss = make_loss(ids, batch, t, d, heads, layers)
    def double_backward():
        ps = [p.clone().requires_grad_() for p in params]
        grads = torch.autograd.grad(loss(*ps), ps, create_graph=True)
        directional = sum((g * u).sum() for g, u in zip(grads, v))
        return torch.autograd.grad(directional, ps)

    plain, hvp, double = [], [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        ps = [p.clone().requires_grad_() for p in params]
        torch.autograd.grad(loss(*ps), ps)
        plain.append((time.perf_counter() - t0) * 1e6)
        t0 = time.perf_counter()
        torch.autograd.functional.hvp(loss, tuple(params), tuple(v))
        hvp.append((time.perf_counter() - t0) * 1e6)
        t0 = time.perf_counter()
        double_backward()
        double.append((time.perf_counter() - t0) * 1e6)
    p, h, b = statistics.median(plain), statistics.median(hvp), statistics.median(double)
    print(f"{name} torch {torch.__version__}: functional.hvp {h:.1f} us (ratio {h / p:.2f}), "
          f"grad(create_graph) + grad {b:.1f} us (ratio {b / p:.2f}), plain forward+backward {p:.1f} us "
          f"(medians of {steps}, alternated)")


import sys
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 501
bench("W5 transformer, batch 1", 6, 16, 64, 5, 2, 1, 1, STEPS)
bench("W5' transformer, batch 16", 6, 16, 64, 5, 2, 1, 16, max(STEPS // 2, 1))
