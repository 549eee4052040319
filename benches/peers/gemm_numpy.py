"""The twin of benches/gemm.rs for NumPy's BLAS (and PyTorch's, when installed): the same
cases (m x k x n, layout NN / NT / TN, batch), float64, median GFLOP/s of 9 rounds, 2 threads.
Transposed operands are views (.T), so the BLAS call gets a transpose flag, as for tapegrad's
strided operands. Used by run_peers.sh beside `cargo bench --features bench-internals --bench gemm`."""
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

try:
    import torch
except ImportError:
    torch = None

ROUNDS = 9
CASES = [
    (1024, 1024, 1024, "NN", 1, "W2"),
    (64, 784, 256, "NN", 1, "W4 fwd"),
    (784, 64, 256, "TN", 1, "W4 dW1"),
    (64, 256, 784, "NT", 1, "W4 dX"),
    (1024, 128, 384, "NN", 1, "W6 QKV"),
    (1024, 384, 128, "NT", 1, "W6 QKV dX"),
    (128, 1024, 384, "TN", 1, "W6 QKV dW"),
    (1024, 128, 512, "NN", 1, "W6 FF up"),
    (1024, 512, 128, "NN", 1, "W6 FF down"),
    (512, 1024, 128, "TN", 1, "W6 FF down dW"),
    (1024, 128, 512, "NT", 1, "W6 FF down dX"),
    (64, 32, 64, "NN", 64, "W6 scores"),
    (64, 64, 32, "NN", 64, "W6 att v"),
    (64, 64, 32, "NT", 64, "W6 dscores"),
    (32, 64, 64, "TN", 64, "W6 dk"),
]


def w6_step_products():
    """The products of one W6 training step with how many times a step runs each: the twin of
    w6_step_products in benches/gemm.rs."""
    layers = 2
    products = []
    for m, k, n in [(1024, 128, 384), (1024, 128, 128), (1024, 128, 512), (1024, 512, 128)]:
        products += [((m, k, n, "NN", 1), layers), ((m, n, k, "NT", 1), layers), ((k, m, n, "TN", 1), layers)]
    products += [(case, layers) for case in [(64, 32, 64, "NN", 64), (64, 64, 32, "NN", 64), (64, 32, 64, "NT", 64),
                                             (64, 64, 32, "TN", 64), (64, 64, 32, "NN", 64), (32, 64, 64, "TN", 64)]]
    products += [((1024, 128, 512, "NN", 1), 1), ((1024, 512, 128, "NT", 1), 1), ((128, 1024, 512, "TN", 1), 1)]
    return products


def time_w6_step(lib, mul, empty, rounds=21):
    """Milliseconds for all the products of a W6 step, back to back, median of `rounds`."""
    setups = []
    for (m, k, n, layout, batch), count in w6_step_products():
        a, b = operands(m, k, n, layout, batch, lib)
        setups.append((a, b, empty((batch, m, n) if batch > 1 else (m, n)), count))

    def step():
        t0 = time.perf_counter()
        for a, b, c, count in setups:
            for _ in range(count):
                mul(a, b, c)
        return (time.perf_counter() - t0) * 1e3

    step()
    return statistics.median(step() for _ in range(rounds))


def name(m, k, n, layout, batch, what):
    prefix = f"{batch} x " if batch > 1 else ""
    return f"{prefix}{m}x{k}x{n} {layout} ({what})"


def operands(m, k, n, layout, batch, lib):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, k, m) if layout[0] == "T" else (batch, m, k))
    b = rng.standard_normal((batch, n, k) if layout[1] == "T" else (batch, k, n))
    if lib == "torch":
        a, b = torch.from_numpy(a), torch.from_numpy(b)
    a = a.transpose(0, 2, 1) if layout[0] == "T" and lib == "numpy" else a
    b = b.transpose(0, 2, 1) if layout[1] == "T" and lib == "numpy" else b
    if lib == "torch":
        a = a.transpose(1, 2) if layout[0] == "T" else a
        b = b.transpose(1, 2) if layout[1] == "T" else b
    if batch == 1:
        a, b = a[0], b[0]
    return a, b


def kernels():
    yield "numpy", lambda a, b, c: np.matmul(a, b, out=c), lambda shape: np.empty(shape)
    if torch is not None:
        torch.set_num_threads(2)
        yield "torch", lambda a, b, c: torch.matmul(a, b, out=c), lambda shape: torch.empty(shape, dtype=torch.float64)


# After a call, each library's worker threads keep spinning for a while (OpenBLAS's for about
# a tenth of a second) and take the cores from the next library's threads: PyTorch timed right
# after NumPy ran at about half its rate. So each library runs all its cases in a pass of its
# own, after a pause that lets the other's threads go to sleep.
PAUSE_SECONDS = 0.5


def rates_of(lib, mul, empty, m, k, n, layout, batch):
    """The rate (GFLOP/s) of each of ROUNDS timings of one case, each ~20 ms of repetitions."""
    flops = 2.0 * m * k * n * batch
    a, b = operands(m, k, n, layout, batch, lib)
    c = empty((batch, m, n) if batch > 1 else (m, n))
    mul(a, b, c)
    t0 = time.perf_counter()
    mul(a, b, c)
    once = time.perf_counter() - t0
    reps = max(1, min(10_000, int(0.02 / max(once, 1e-7))))
    rates = []
    for _ in range(ROUNDS):
        mul(a, b, c)
        t0 = time.perf_counter()
        for _ in range(reps):
            mul(a, b, c)
        rates.append(flops * reps / (time.perf_counter() - t0) / 1e9)
    return rates


def main():
    blas = [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
    print(f"GEMM f64 peers, median GFLOP/s of {ROUNDS} rounds; NumPy {np.__version__} BLAS {blas}"
          + (f"; PyTorch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else ""))
    libs = list(kernels())
    medians = {}
    for lib, mul, empty in libs:
        time.sleep(PAUSE_SECONDS)
        for m, k, n, layout, batch, what in CASES:
            medians[lib, what] = statistics.median(rates_of(lib, mul, empty, m, k, n, layout, batch))
    print(f"{'case':<40} " + "".join(f"{lib:>9}" for lib, _, _ in libs))
    for m, k, n, layout, batch, what in CASES:
        row = "".join(f"{medians[lib, what]:>9.1f}" for lib, _, _ in libs)
        print(f"{name(m, k, n, layout, batch, what):<40} {row}")


with threadpool_limits(limits=2, user_api="blas"):
    main()
    for lib, mul, empty in kernels():
        time.sleep(PAUSE_SECONDS)
        print(f"W6 GEMMs of a step {lib}: {time_w6_step(lib, mul, empty):.2f} ms (median of 21)")
