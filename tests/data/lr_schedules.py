"""Writes tests/data/lr_schedules.txt: PyTorch's learning rates, step by step, for the
schedules tests/suite/training/lr_schedulers.rs builds under the same case names.

Run from the repository root with torch installed:  python tests/data/lr_schedules.py

Each line is `case step closed chainable`:
- `closed`: PyTorch's closed form at that step (`_get_closed_form_lr()`; OneCycleLR and
  LambdaLR have only this form), what tapegrad computes, to the bit;
- `chainable`: `get_last_lr()` after PyTorch's usual `scheduler.step()` calls, which update
  the previous rate (accumulating rounding); tapegrad agrees within 1e-12 relative.
Floats are written with repr(), which Rust parses back to the same bits.
"""

import math
import os

import torch

LINES = []


def record(case, make, steps):
    """Runs `make(opt)` over `steps` + 1 steps as a training loop does (opt.step(), then
    scheduler.step()), recording the rate the optimizer uses at each step."""
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=1.0)
    sched = make(opt)
    for k in range(steps + 1):
        used = opt.param_groups[0]["lr"]
        assert used == sched.get_last_lr()[0] and sched.last_epoch == k
        closed = sched._get_closed_form_lr()[0] if hasattr(sched, "_get_closed_form_lr") else used
        LINES.append(f"{case} {k} {closed!r} {used!r}")
        if k < steps:
            opt.step()
            sched.step()


def with_lr(lr, make):
    """`make` on an optimizer whose rate is first set to `lr` (PyTorch's base_lr)."""

    def build(opt):
        opt.param_groups[0]["lr"] = lr
        return make(opt)

    return build


S = torch.optim.lr_scheduler

record("step", with_lr(0.1, lambda o: S.StepLR(o, step_size=3, gamma=0.1)), 40)
record("step_half", with_lr(0.05, lambda o: S.StepLR(o, step_size=7, gamma=0.5)), 100)
record("exponential", with_lr(0.1, lambda o: S.ExponentialLR(o, gamma=0.95)), 200)
record("cosine", with_lr(0.1, lambda o: S.CosineAnnealingLR(o, T_max=25, eta_min=0.001)), 80)
record("cosine_to_zero", with_lr(1e-3, lambda o: S.CosineAnnealingLR(o, T_max=40)), 40)
record("linear_defaults", with_lr(0.3, lambda o: S.LinearLR(o)), 12)
record(
    "linear_decay",
    with_lr(0.2, lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.01, total_iters=30)),
    40,
)
record("one_cycle", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=100, cycle_momentum=False), 100)
record(
    "one_cycle_three_phase_linear",
    lambda o: S.OneCycleLR(
        o,
        max_lr=0.01,
        total_steps=57,
        pct_start=0.25,
        anneal_strategy="linear",
        div_factor=10.0,
        final_div_factor=100.0,
        three_phase=True,
        cycle_momentum=False,
    ),
    57,
)
record(
    "one_cycle_three_phase_cos",
    lambda o: S.OneCycleLR(o, max_lr=2.0, total_steps=33, three_phase=True, cycle_momentum=False),
    33,
)


def warmup_cosine(warmup, total):
    """Hugging Face's get_cosine_schedule_with_warmup (half a cycle), as a LambdaLR factor."""

    def factor(step):
        if step < warmup:
            return step / warmup
        progress = (step - warmup) / (total - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    return factor


record("warmup_cosine", with_lr(0.05, lambda o: S.LambdaLR(o, warmup_cosine(10, 60))), 60)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lr_schedules.txt")
with open(out, "w") as f:
    f.write(f"# PyTorch {torch.__version__}'s learning rates: case step closed-form chainable\n")
    f.write("# written by tests/data/lr_schedules.py; read by tests/suite/training/lr_schedulers.rs\n")
    f.write("\n".join(LINES) + "\n")
print(f"wrote {len(LINES)} rates to {out}")
