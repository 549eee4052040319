"""PyTorch beside `cargo bench --bench losses`: the same losses at [1024, 8192], float64, CPU.

Forward + backward median of 7 ms, and the peak resident memory a first step adds (ru_maxrss
after the inputs exist and before the step, against after it; each case in its own process so
that one case's peak does not hide the next one's).
Run: python3 benches/peers/losses_torch.py   (needs torch)
"""
import resource, statistics, subprocess, sys, time

ROWS, CLASSES = 1024, 8192


def case(name):
    import torch
    import torch.nn.functional as F
    torch.set_default_dtype(torch.float64)
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(ROWS, CLASSES, generator=g)
    if name == "ce":
        targets = torch.tensor([0 if r % 16 == 0 else (r * 7919) % CLASSES for r in range(ROWS)])
        weight = torch.tensor([0.5 + (i % 7) * 0.25 for i in range(CLASSES)])
        loss = lambda x: F.cross_entropy(x, targets, weight=weight, ignore_index=0, label_smoothing=0.1)
    else:
        y = torch.rand(ROWS, CLASSES, generator=g)
        pos_weight = torch.tensor([1.0 + (i % 5) for i in range(CLASSES)])
        loss = lambda x: F.binary_cross_entropy_with_logits(x, y, pos_weight=pos_weight)

    def step():
        # The input is made before the clock, as a framework's input would be.
        x = logits.clone().requires_grad_(True)
        start = time.perf_counter()
        loss(x).backward()
        return (time.perf_counter() - start) * 1e3

    # Peak: the inputs exist (and one logits-sized copy, which the first step reuses).
    spare = logits.clone()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del spare
    step()
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    times = [step() for _ in range(7)]
    return statistics.median(times), peak


if __name__ == "__main__":
    if len(sys.argv) > 1:
        ms, peak = case(sys.argv[1])
        print(f"{ms} {peak}")
    else:
        import torch
        for name, label in [("ce", "F.cross_entropy(weight, label_smoothing, ignore_index)"),
                            ("bce", "F.binary_cross_entropy_with_logits(pos_weight)")]:
            out = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, check=True)
            ms, peak = map(float, out.stdout.split())
            print(f"torch {torch.__version__} {label}: {ms:.1f} ms, peak RSS +{peak:.0f} MiB ({torch.get_num_threads()} threads)")
