"""W3 and W4 of docs/perf.md in PyTorch eager (float64, 2 threads), medians in ms, for
run_peers.sh to print beside tapegrad's `cargo bench --bench workloads` in the same session."""
import statistics
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.set_default_dtype(torch.float64)


def median_ms(runs, f):
    f()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def w3(rows, classes):
    torch.manual_seed(0)
    logits = torch.randn(rows, classes, requires_grad=True)
    targets = torch.tensor([(r * 7919) % classes for r in range(rows)])

    def run():
        F.cross_entropy(logits, targets).backward()
        logits.grad = None

    print(f"W3 [{rows}, {classes}] torch fused F.cross_entropy: {median_ms(7, run):.1f} ms")


def w4():
    torch.manual_seed(0)
    x = torch.randn(64, 784)
    targets = torch.arange(64) % 10
    params = [
        (torch.randn(784, 256) / 28.0).requires_grad_(),
        torch.zeros(256, requires_grad=True),
        (torch.randn(256, 10) / 16.0).requires_grad_(),
        torch.zeros(10, requires_grad=True),
    ]
    w1, b1, w2, b2 = params

    def step():
        # addmm: a Linear layer as nn.Linear computes it (one fused op).
        loss = F.cross_entropy(torch.addmm(b2, torch.relu(torch.addmm(b1, x, w1)), w2), targets)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= 0.01 * p.grad
                p.grad = None
        loss.item()

    print(f"W4 MLP step torch: {median_ms(51, step):.3f} ms")


w3(1024, 8192)
w3(4096, 8192)
w4()
