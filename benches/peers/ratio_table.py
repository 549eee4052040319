"""Reads the log of run_peers.sh (stdin) and prints, per workload and peer, tapegrad's time
divided by the peer's (lower is better; < 1 means tapegrad is faster), with both times: each the
median over the rounds of the per-round medians the scripts printed. GEMM rates (GFLOP/s) are
turned into times first, so every ratio reads the same way."""
import re
import statistics
import sys

# (workload, implementation, regex whose group 1 is the figure, unit); "GFLOP/s" rows are rates.
NUMBER = r"([0-9][0-9.]*)"
PATTERNS = [
    ("W1 per-op overhead", "tapegrad", rf"^W1 tapegrad: {NUMBER} ns/op", "ns/op"),
    ("W1 per-op overhead", "micrograd", rf"^W1 micrograd: {NUMBER} ns/op", "ns/op"),
    ("W1 per-op overhead", "PyTorch", rf"^W1 torch: {NUMBER} ns/op", "ns/op"),
]
for shape in ("1024, 8192", "4096, 8192"):
    w = f"W3 fused CE [{shape}]"
    s = re.escape(shape)
    PATTERNS += [
        (w, "tapegrad", rf"^W3 \[{s}\] fused cross_entropy: {NUMBER} ms", "ms"),
        (w, "JAX jit", rf"^W3 \[{s}\] jax .*: {NUMBER} ms", "ms"),
        (w, "PyTorch", rf"^W3 \[{s}\] torch .*: {NUMBER} ms", "ms"),
    ]
PATTERNS += [
    ("W4 MLP step", "tapegrad", rf"^W4 MLP step \[.*: {NUMBER} ms", "ms"),
    ("W4 MLP step", "JAX jit", rf"^W4 MLP step jax jit: {NUMBER} ms", "ms"),
    ("W4 MLP step", "PyTorch", rf"^W4 MLP step torch: {NUMBER} ms", "ms"),
]
for w, prefix in (("W5 transformer, batch 1", "W5 transformer step, batch 1"),
                  ("W5' transformer, batch 16", "W5' transformer step, batch 16"),
                  ("W6 transformer", "W6 transformer step")):
    p = re.escape(prefix)
    PATTERNS += [
        (w, "tapegrad", rf"^{p}: {NUMBER} ms/step", "ms"),
        (w, "JAX jit", rf"^{p} jax jit: {NUMBER} ms/step", "ms"),
        (w, "PyTorch", rf"^{p} torch: {NUMBER} ms/step", "ms"),
    ]
PATTERNS += [
    ("W6 GEMMs of a step, isolated", "tapegrad", rf"^W6 GEMMs of a step: {NUMBER} ms", "ms"),
    ("W6 GEMMs of a step, isolated", "NumPy", rf"^W6 GEMMs of a step numpy: {NUMBER} ms", "ms"),
    ("W6 GEMMs of a step, isolated", "PyTorch", rf"^W6 GEMMs of a step torch: {NUMBER} ms", "ms"),
    ("W6 peak memory of a step", "tapegrad", rf"^W6 transformer step peak memory: {NUMBER} MiB", "MiB"),
    ("W6 peak memory of a step", "PyTorch", rf"^W6 transformer step torch peak memory: {NUMBER} MiB", "MiB"),
]


def gemm_rows(line, section):
    """A row of a GEMM table: its case name and its rates, keyed by the header's columns."""
    m = re.match(r"^(.*\))\s+([0-9. ]+)$", line)
    if not m or section is None:
        return []
    rates = [float(x) for x in m.group(2).split()]
    return [(f"W2 GEMM {m.group(1).strip()}", col, rate) for col, rate in zip(section, rates)]


def figure(x):
    """Three significant digits, without an exponent: 0.00123, 0.456, 12.3, 5,162."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}" if x >= 0.001 else f"{x:.2e}"


def main():
    figures = {}  # (workload, implementation) -> [figure per round]
    units = {}
    order = []
    section = None  # column names of the GEMM table being read
    for line in sys.stdin:
        line = line.rstrip()
        if line.startswith("case "):
            section = [{"tapegrad": "tapegrad", "numpy": "NumPy", "torch": "PyTorch"}.get(c) for c in re.split(r"\s{2,}", line)[1:]]
            continue
        if not line.strip():
            section = None
        for workload, impl, rate in gemm_rows(line, section):
            if impl is None:
                continue
            key = (workload, impl)
            figures.setdefault(key, []).append(1.0 / rate)  # seconds per GFLOP
            units[key] = "GFLOP/s"
            if workload not in order:
                order.append(workload)
        for workload, impl, regex, unit in PATTERNS:
            m = re.match(regex, line)
            if m:
                figures.setdefault((workload, impl), []).append(float(m.group(1)))
                units[(workload, impl)] = unit
                if workload not in order:
                    order.append(workload)
    print("\n| workload | tapegrad | peer (same run) | tapegrad / peer (time, or memory; lower is better) | rounds |")
    print("|---|---|---|---|---|")
    for workload in order:
        ours = figures.get((workload, "tapegrad"))
        if not ours:
            continue
        for peer in ("micrograd", "JAX jit", "PyTorch", "NumPy"):
            theirs = figures.get((workload, peer))
            if not theirs:
                continue
            t, p = statistics.median(ours), statistics.median(theirs)
            unit = units[(workload, peer)]
            show = (lambda x: f"{1 / x:.1f} GFLOP/s") if unit == "GFLOP/s" else (lambda x: f"{figure(x)} {unit}")
            print(f"| {workload} | {show(t)} | {peer} {show(p)} | {figure(t / p)} | {len(ours)} / {len(theirs)} |")


main()
