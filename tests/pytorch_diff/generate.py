#!/usr/bin/env python3
"""Random op chains for tapegrad's differential test, with PyTorch's answers (float64).

Writes one JSON object per line: a program (its input leaves and a chain of 2-10 ops over the
op kinds of the public API, each input written where the chain first uses it), then PyTorch's
value of the chain's result, the gradients of `sum(result * r)` (r a constant drawn with the
program) with respect to every input leaf, and for about a third of the programs a Hessian-vector
product with respect to input 0. `tests/pytorch_diff/pytorch_diff.rs` replays every program in tapegrad
and compares values, `backward()` and `backward_graph()` gradients and `hvp`.

Regenerate the checked-in data (written with torch 2.15.0: `pip install torch==2.15.0 numpy`;
the first line records the version):

    python3 tests/pytorch_diff/generate.py --seed 1 --count 4000 > tests/pytorch_diff/programs.jsonl

More on demand: write another file with another seed or count and point the test at it,

    python3 tests/pytorch_diff/generate.py --seed 7 --count 20000 > more.jsonl
    TAPEGRAD_PYTORCH_DIFF=$PWD/more.jsonl cargo test --test pytorch_diff -- --nocapture

(the expected-failure list is only enforced on the checked-in file: with another file the test
prints what differs and fails if anything does). Program `k` of seed `s` is drawn from
`random.Random(s * 1_000_003 + k)`, so one program can be regenerated alone with
`--seed s --first k --count 1`. To find where a program starts to differ, replay its prefixes:
`--prefixes k1,k2,...` writes every prefix of those programs (ids `s-k@n`: the first n ops,
the n-th giving the result); the shortest prefix that differs ends with the op to look at.

Numbers are JSON numbers written with Python's shortest round-trip repr; NaN and the
infinities are the strings "nan", "inf" and "-inf".
"""

import argparse
import json
import math
import random
import sys
import warnings

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
# PyTorch warns about var with correction >= n and kl_div's mean; the data records what it returns.
warnings.filterwarnings("ignore", category=UserWarning)

MAX_NUMEL = 36

# Deliberate differences between tapegrad and PyTorch (docs/reliability.md). A program that
# reaches one is still written and still replayed; it carries the convention's name, and the
# test counts a difference in it under that name instead of as a failure. Each entry is
# (name, reason); `make_op` marks a program where it draws an op that reaches one.
CONVENTIONS = [
    ("gelu_cube_overflow",
     "gelu at |x| > 5.6e102 (inf included), where x^3 overflows: tapegrad gives gelu's limits "
     "(x or 0, derivative 1 or 0), PyTorch's tanh formula gives NaN"),
    ("ignored_row_non_finite",
     "cross_entropy_with(ignore_index): a row whose target is ignored but whose logits hold NaN "
     "or inf contributes exactly nothing in tapegrad; in PyTorch 0 * NaN poisons the gradient"),
    ("layer_norm_constant_row",
     "layer_norm of a row whose values are all equal (variance exactly 0): tapegrad's output "
     "and gradient there are exactly 0 (x - mean is 0); PyTorch's rounded mean and 0 * inf "
     "at eps = 0 or huge magnitudes leave residues or NaN"),
    ("elu_nan",
     "elu at a NaN input: tapegrad's derivative there is NaN, as PyTorch's vectorised loop "
     "(whole blocks of 16 float64 elements); PyTorch's scalar loop (the rest of a tensor, a "
     "tensor of fewer than 16 elements, strided operands) tests x <= 0 and gives 1"),
    ("var_correction_above_n",
     "var/std with correction > n: the divisor max(n - correction, 0) is 0 in both forwards, "
     "but PyTorch's backward divides by the negative n - correction"),
]


def enc(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def flat(t):
    t = t.detach()
    if t._is_zerotensor():  # PyTorch's symbolic zeros (some double backwards) hold no storage
        t = torch.zeros(t.shape)
    return [enc(v) for v in t.reshape(-1).tolist()]


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.regime = rng.choices(
            ["plain", "ties", "kinks", "huge", "offset", "special", "tiny"], [40, 14, 11, 11, 8, 11, 5])[0]
        # "offset": small values around one large one (logits [c, c+1, c+2]), where digits
        # below ulp(c) are all that tell the entries apart.
        self.offset = rng.choice([1e6, 1e9, -1e9, 1e16, 1e20, 1e100])

    # ---- values -------------------------------------------------------------------------
    def value(self, regime=None):
        r, regime = self.rng, regime or self.regime
        plain = round(r.uniform(-3, 3), 2)
        if regime == "plain":
            return plain
        if regime == "ties":
            return r.choice([-1.0, 0.0, 0.0, 1.0, 2.0, 0.5])
        if regime == "kinks":
            return r.choice([0.0, -0.0, 1.0, -1.0, plain, plain])
        if regime == "huge":
            if r.random() < 0.3:
                return plain
            e = r.choice([16, 20, 100, 103, 150, 200, 300, 307])
            return float(f"{r.choice([-1, 1]) * round(r.uniform(1, 9.99), 2)}e{e}")
        if regime == "offset":
            return self.offset + plain if r.random() < 0.9 else plain
        if regime == "special":
            return r.choice([math.inf, -math.inf, math.nan]) if r.random() < 0.3 else plain
        if regime == "tiny":
            if r.random() < 0.3:
                return plain
            e = r.choice([150, 200, 300, 310, 320])
            return float(f"{r.choice([-1, 1]) * round(r.uniform(1, 9.99), 2)}e-{e}")
        raise ValueError(regime)

    def tensor(self, shape, regime=None, fn=None):
        n = math.prod(shape)
        vals = [fn() if fn else self.value(regime) for _ in range(n)]
        return torch.tensor(vals, dtype=torch.float64).reshape(shape)

    def dim(self):
        return self.rng.choices([0, 1, 2, 3, 4], [5, 20, 35, 30, 10])[0]

    def shape(self, rank=None):
        rank = self.rng.choices([0, 1, 2, 3, 4], [8, 25, 40, 20, 7])[0] if rank is None else rank
        while True:
            s = [self.dim() for _ in range(rank)]
            if math.prod(s) <= 24:
                return s


class Program:
    def __init__(self, g):
        self.g = g
        self.inputs = []  # (tensor, grad)
        self.steps = []  # {"in": j} or op dicts
        self.regs = []  # torch tensors, one per step
        self.conventions = set()  # (name, the step count when the op reaching it was drawn)

    def convention(self, name):
        self.conventions.add((name, len(self.steps)))

    def leaf(self, t, grad=None):
        grad = self.g.rng.random() < 0.75 if grad is None else grad
        j = len(self.inputs)
        self.inputs.append((t, grad))
        self.steps.append({"in": j})
        self.regs.append(t)
        return len(self.regs) - 1

    def push(self, op):
        """Appends op, computing its PyTorch value from the registers so far."""
        self.regs.append(apply(op, self.regs))
        self.steps.append(op)
        return len(self.regs) - 1


def broadcast_partner(g, shape, grow=True):
    """A shape that broadcasts with `shape` to `shape` itself (or, rarely with `grow`, to
    `shape` with a new leading axis of 2)."""
    r = g.rng
    choice = r.random()
    if choice < 0.4 or not shape:
        s = list(shape)
    elif choice < 0.7:
        s = list(shape[r.randint(0, len(shape)):])
    else:
        s = [d if r.random() < 0.5 else 1 for d in shape]
    if grow and r.random() < 0.1 and math.prod(shape) * 2 <= MAX_NUMEL:
        s = [2] + s  # the result grows an axis
    return s


def rank_ok(t, lo=1):
    return t.dim() >= lo


def classes_rows(t):
    c = t.shape[-1]
    return c, math.prod(t.shape[:-1])


def without_params(f):
    return lambda x, p: f(x)


# Elementwise ops, each `(tensor, params) -> tensor`; the keys are tapegrad's method names.
UNARY = {
    # (The order is the draw's: changing it changes every program of a seed.)
    "neg": lambda x, p: -x,
    **{name: without_params(getattr(torch, name)) for name in ["exp", "log", "sqrt", "tanh", "relu", "sigmoid"]},
    "gelu": lambda x, p: F.gelu(x, approximate="tanh"),
    "softplus": without_params(F.softplus),
    "silu": without_params(F.silu),
    **{name: without_params(getattr(torch, name)) for name in ["abs", "log1p", "expm1", "sin", "cos"]},
    "leaky_relu": lambda x, p: F.leaky_relu(x, p["slope"]),
    "elu": lambda x, p: F.elu(x, p["alpha"]),
    "clamp": lambda x, p: torch.clamp(x, p["min"], p["max"]),
    "powf": lambda x, p: torch.pow(x, p["p"]),
    "add_scalar": lambda x, p: x + p["c"],
    "sub_scalar": lambda x, p: x - p["c"],
    "rsub_scalar": lambda x, p: p["c"] - x,
    "mul_scalar": lambda x, p: x * p["c"],
    "div_scalar": lambda x, p: x / p["c"],
    # c / x as a true division (Python's `c / tensor` is `reciprocal(x) * c` in PyTorch).
    "rdiv_scalar": lambda x, p: torch.div(torch.tensor(p["c"]), x),
    "detach": lambda x, p: x.detach(),
}

BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
    "maximum": torch.maximum, "minimum": torch.minimum,
}


def unary_params(g, name, x):
    r = g.rng
    if name == "leaky_relu":
        return {"slope": r.choice([0.01, 0.2, -0.5, 0.0])}
    if name == "elu":
        return {"alpha": r.choice([1.0, 0.5, 2.0])}
    if name == "clamp":
        vals = [v for v in x.reshape(-1).tolist() if math.isfinite(v)]
        if vals and r.random() < 0.5:
            a, b = sorted([r.choice(vals), r.choice(vals)])
        else:
            a, b = sorted([g.value("plain"), g.value("plain")])
        return {"min": a, "max": b}
    if name == "powf":
        return {"p": r.choice([2.0, 3.0, 0.5, -1.0, 0.0, 1.5, -2.0, 1.0, 0.25])}
    if name.endswith("_scalar"):
        c = r.choice([g.value("plain"), g.value(), 2.0, 0.5, -1.0])
        if not math.isfinite(c) or (name.startswith("div") and c == 0.0):
            c = 2.0
        return {"c": c}
    return {}


def new_leaf_like(p, shape, regime=None, fn=None, grad=None):
    return p.leaf(p.g.tensor(shape, regime, fn), grad)


def reduction(g, allow_batchmean=False):
    opts = ["mean", "sum", "none"] + (["batchmean"] if allow_batchmean else [])
    return g.rng.choice(opts)


def ce_targets(g, c, rows, ignore):
    r = g.rng
    t = [r.randrange(c) for _ in range(rows)]
    if ignore is not None:
        t = [ignore if r.random() < 0.3 else v for v in t]
    return t


def torch_ce(x, targets, weight, ignore, smoothing, red):
    c, rows = classes_rows(x)
    x2 = x.reshape(rows, c)
    kw = {"reduction": red, "label_smoothing": smoothing}
    if weight is not None:
        kw["weight"] = weight
    if ignore is not None:
        kw["ignore_index"] = ignore
    if isinstance(targets, list):
        out = F.cross_entropy(x2, torch.tensor(targets, dtype=torch.long), **kw)
    else:
        out = F.cross_entropy(x2, targets.reshape(rows, c), **kw)
    return out.reshape(x.shape[:-1]) if red == "none" else out


def make_op(p, cur):
    """Appends one op on register `cur` (plus any leaves it needs); returns the new register."""
    g, r = p.g, p.g.rng
    x = p.regs[cur]
    s = list(x.shape)
    nd, numel = x.dim(), x.numel()
    kinds = ["unary"] * 8 + ["binary"] * 4 + ["reduce"] * 3 + ["layout"] * 4 + ["matmul"] * 2
    if nd >= 1:
        kinds += ["softmax"] * 2 + ["loss"] * 3 + ["layer_norm"]
    kind = r.choice(kinds)

    if kind == "unary":
        name = r.choice(list(UNARY))
        prm = unary_params(g, name, x)
        if name == "gelu" and any(abs(v) > 5.6e102 for v in x.reshape(-1).tolist()):
            p.convention("gelu_cube_overflow")
        if name == "elu" and any(math.isnan(v) for v in x.reshape(-1).tolist()):
            p.convention("elu_nan")
        return p.push({"op": name, "a": cur, **prm})

    if kind == "binary":
        name = r.choice(list(BINARY))
        earlier = [i for i, t in enumerate(p.regs[:-1]) if list(t.shape) == s or (t.dim() <= nd and list(t.shape) == s[nd - t.dim():])]
        if earlier and r.random() < 0.3:
            b = r.choice(earlier)
        else:
            b = new_leaf_like(p, broadcast_partner(g, s))
        a, b = (cur, b) if r.random() < 0.7 else (b, cur)
        return p.push({"op": name, "a": a, "b": b})

    if kind == "reduce":
        options = ["sum", "mean"]
        if nd >= 1:
            options += ["sum_axis", "mean_axis", "logsumexp", "logsumexp", "var_axis", "std_axis", "sum_axes", "mean_axes"]
            options += ["max_axis", "min_axis"]
        name = r.choice(options)
        if name in ("sum", "mean"):
            return p.push({"op": name, "a": cur})
        axis, keep = r.randrange(nd), r.random() < 0.4
        if name in ("max_axis", "min_axis"):
            if s[axis] == 0:
                name = "sum_axis"
            else:
                f = torch.max if name == "max_axis" else torch.min
                return p.push({"op": name, "a": cur, "axis": axis, "keep": keep})
        if name in ("sum_axis", "mean_axis"):
            f = torch.sum if name == "sum_axis" else torch.mean
            return p.push({"op": name, "a": cur, "axis": axis, "keep": keep})
        if name in ("sum_axes", "mean_axes"):
            axes = sorted(r.sample(range(nd), r.randint(1, nd)))
            f = torch.sum if name == "sum_axes" else torch.mean
            return p.push({"op": name, "a": cur, "axes": axes, "keep": keep})
        if name == "logsumexp":
            return p.push({"op": name, "a": cur, "axis": axis, "keep": keep})
        corr = r.choice([0, 1, 1, 2, 5])
        if corr > s[axis]:
            p.convention("var_correction_above_n")
        f = torch.var if name == "var_axis" else torch.std
        return p.push({"op": name, "a": cur, "axis": axis, "correction": corr, "keep": keep})

    if kind == "layout":
        options = ["reshape", "unsqueeze", "broadcast_to", "sum_to_size"]
        if nd >= 1:
            options += ["narrow", "concat", "stack", "index_select", "gather", "masked_fill", "where"]
        if nd >= 2:
            options += ["transpose", "transpose"]
        if 1 in s:
            options += ["squeeze"]
        if nd == 2:
            options += ["embedding"]
        name = r.choice(options)
        if name == "transpose":
            a, b = r.randrange(nd), r.randrange(nd)
            return p.push({"op": name, "a": cur, "d0": a, "d1": b})
        if name == "reshape":
            if numel == 0:
                shape = r.choice([[0], [0, 3], [2, 0], [0, 0, 1]])
            else:
                shape, left = [], numel
                while left > 1 and r.random() < 0.8:
                    f = r.choice([d for d in range(1, left + 1) if left % d == 0])
                    shape.append(f)
                    left //= f
                if left > 1:
                    shape.append(left)
                if r.random() < 0.3:
                    shape.insert(r.randint(0, len(shape)), 1)
            return p.push({"op": name, "a": cur, "shape": shape})
        if name == "squeeze":
            axis = r.choice([i for i, d in enumerate(s) if d == 1])
            return p.push({"op": name, "a": cur, "axis": axis})
        if name == "unsqueeze":
            axis = r.randint(0, nd)
            return p.push({"op": name, "a": cur, "axis": axis})
        if name == "broadcast_to":
            shape = [d if d != 1 or r.random() < 0.5 else r.randint(0, 3) for d in s]
            if r.random() < 0.3:
                shape = [r.randint(1, 2)] + shape
            if math.prod(shape) > MAX_NUMEL:
                shape = s
            return p.push({"op": name, "a": cur, "shape": shape})
        if name == "sum_to_size":
            shape = [d if r.random() < 0.5 else 1 for d in s]
            if shape and r.random() < 0.3:
                shape = shape[r.randint(0, len(shape)):]
            return p.push({"op": name, "a": cur, "shape": shape})
        axis = r.randrange(nd)
        if name == "narrow":
            start = r.randint(0, s[axis])
            length = r.randint(0, s[axis] - start)
            return p.push({"op": name, "a": cur, "axis": axis, "start": start, "len": length})
        if name == "concat":
            other = list(s)
            other[axis] = r.randint(0, 3)
            b = new_leaf_like(p, other)
            a, b = (cur, b) if r.random() < 0.5 else (b, cur)
            return p.push({"op": name, "parts": [a, b], "axis": axis})
        if name == "stack":
            axis = r.randint(0, nd)
            b = new_leaf_like(p, s)
            return p.push({"op": name, "parts": [cur, b], "axis": axis})
        if name == "index_select":
            ids = [r.randrange(s[axis]) for _ in range(r.randint(0, 4))] if s[axis] else []
            return p.push({"op": name, "a": cur, "axis": axis, "ids": ids})
        if name == "gather":
            if s[axis] == 0:
                ishape = [0 if i == axis else r.randint(0, d) for i, d in enumerate(s)]
                idx = []
            else:
                ishape = [r.randint(1, 3) if i == axis else r.randint(0, d) for i, d in enumerate(s)]
                idx = [r.randrange(s[axis]) for _ in range(math.prod(ishape))]
            return p.push({"op": name, "a": cur, "axis": axis, "index": idx, "index_shape": ishape})
        if name == "masked_fill":
            mshape = broadcast_partner(g, s, grow=False)
            mask = [int(r.random() < 0.5) for _ in range(math.prod(mshape))]
            value = r.choice([0.0, -math.inf, math.inf, math.nan, -1e300, g.value("plain")])
            return p.push({"op": name, "a": cur, "mask": mask, "mask_shape": mshape, "value": enc(value)})
        if name == "where":
            cond = [int(r.random() < 0.5) for _ in range(numel)]
            b = new_leaf_like(p, broadcast_partner(g, s, grow=False))
            a, b = (cur, b) if r.random() < 0.5 else (b, cur)
            return p.push({"op": name, "cond": cond, "cond_shape": s, "a": a, "b": b})
        if name == "embedding":
            ids = [r.randrange(s[0]) for _ in range(r.randint(0, 4))] if s[0] else []
            return p.push({"op": name, "a": cur, "ids": ids})

    if kind == "matmul":
        if nd >= 2 and r.random() < 0.6:
            k = s[-1]
            m = r.randint(0, 3)
            batch = list(s[:-2])
            if batch and r.random() < 0.4:
                batch = [d if r.random() < 0.5 else 1 for d in batch]
            if r.random() < 0.2:
                batch = batch[1:] if batch else []
            b = new_leaf_like(p, batch + [k, m])
            return p.push({"op": "matmul", "a": cur, "b": b})
        if nd > 2 or (nd >= 1 and r.random() < 0.75):
            k, out = s[-1], r.randint(0, 3)
            w = new_leaf_like(p, [out, k])
            bias = new_leaf_like(p, r.choice([[out], [1], []])) if r.random() < 0.7 else None
            return p.push({"op": "linear", "a": cur, "w": w, "bias": bias})
        # addmm with x as the bias: [n, m], [m] or a scalar, broadcast to the product's [n, m].
        n = s[0] if nd == 2 else r.randint(0, 3)
        m = s[-1] if nd >= 1 else r.randint(0, 3)
        kk = r.randint(0, 3)
        m1, m2 = new_leaf_like(p, [n, kk]), new_leaf_like(p, [kk, m])
        return p.push({"op": "addmm", "a": cur, "m1": m1, "m2": m2})

    if kind == "softmax":
        axis = r.randrange(nd)
        name = r.choice(["softmax", "log_softmax"])
        f = torch.softmax if name == "softmax" else torch.log_softmax
        return p.push({"op": name, "a": cur, "axis": axis})

    if kind == "layer_norm":
        d = s[-1]
        gamma = new_leaf_like(p, [d], "plain")
        beta = new_leaf_like(p, [d], "plain")
        eps = r.choice([1e-5, 1e-5, 1e-3, 0.0])
        rows = x.reshape(-1, d) if d else x.reshape(0, 0)
        if any(len(set(row)) <= 1 for row in rows.tolist()) and d > 0:
            p.convention("layer_norm_constant_row")
        return p.push({"op": "layer_norm", "a": cur, "gamma": gamma, "beta": beta, "eps": eps})

    # ---- losses ------------------------------------------------------------------------
    c, rows = classes_rows(x)
    options = ["mse", "huber", "bce", "kl"]
    if c > 0:
        options += ["cross_entropy", "cross_entropy_with", "cross_entropy_with", "cross_entropy_probs", "nll"]
    name = r.choice(options)
    if name == "cross_entropy":
        t = ce_targets(g, c, rows, None)
        return p.push({"op": name, "a": cur, "targets": t})
    if name == "nll":
        t = ce_targets(g, c, rows, None)
        return p.push({"op": "nll_loss", "a": cur, "targets": t})
    if name in ("cross_entropy_with", "cross_entropy_probs"):
        weight = g.tensor([c], fn=lambda: r.choice([1.0, 0.5, 2.0, 0.0, round(r.uniform(0, 3), 2)])) if r.random() < 0.5 else None
        smoothing = r.choice([0.0, 0.0, 0.1, 0.5, 1.0])
        red = reduction(g)
        opts = {"weight": None if weight is None else flat(weight), "smoothing": smoothing, "reduction": red}
        if name == "cross_entropy_with":
            ignore = (r.randrange(c) if r.random() < 0.8 else c + 2) if r.random() < 0.5 else None
            t = ce_targets(g, c, rows, ignore)
            if ignore is not None:
                x2 = x.reshape(rows, c)
                if any(t[i] == ignore and not torch.isfinite(x2[i]).all() for i in range(rows)):
                    p.convention("ignored_row_non_finite")
            return p.push({"op": name, "a": cur, "targets": t, "ignore": ignore, **opts})
        tregime = "plain" if g.regime != "special" else "special"
        tt = new_leaf_like(p, s, fn=lambda: abs(g.value(tregime)) / 3 if r.random() < 0.8 else 0.0)
        return p.push({"op": name, "a": cur, "t": tt, **opts})
    if name in ("mse", "huber"):
        y = new_leaf_like(p, s)
        red = reduction(g)
        if name == "mse":
            return p.push({"op": "mse_loss", "a": cur, "t": y, "reduction": red})
        delta = r.choice([1.0, 0.5, 2.0, 1e-3])
        return p.push({"op": "huber_loss", "a": cur, "t": y, "delta": delta, "reduction": red})
    if name == "bce":
        tregime = "special" if g.regime == "special" and r.random() < 0.5 else "plain"
        y = new_leaf_like(p, s, fn=lambda: min(1.0, abs(g.value(tregime)) / 3) if r.random() < 0.8 else r.choice([0.0, 1.0]))
        red = reduction(g)
        weight = g.tensor(broadcast_partner(g, s, grow=False), "plain") if r.random() < 0.4 else None
        pos = g.tensor(r.choice([[c], [1]]), fn=lambda: r.choice([1.0, 3.0, 0.5, round(r.uniform(0, 4), 2)])) if r.random() < 0.4 else None
        return p.push({"op": "bce_with_logits", "a": cur, "t": y, "reduction": red,
                       "weight": None if weight is None else flat(weight),
                       "weight_shape": None if weight is None else list(weight.shape),
                       "pos_weight": None if pos is None else flat(pos),
                       "pos_weight_shape": None if pos is None else list(pos.shape)})
    # kl_div
    log_target = r.random() < 0.3
    if log_target:
        y = new_leaf_like(p, s)
    else:
        y = new_leaf_like(p, s, fn=lambda: r.choice([0.0, 0.25, 0.5, round(r.uniform(0, 1), 2)]))
    red = reduction(g, allow_batchmean=True)
    return p.push({"op": "kl_div", "a": cur, "t": y, "reduction": red, "log_target": log_target})


def build(seed, k):
    rng = random.Random(seed * 1_000_003 + k)
    g = Gen(rng)
    p = Program(g)
    cur = p.leaf(g.tensor(g.shape()), grad=True)
    n_ops = rng.randint(2, 10)
    tries = 0
    while len([st for st in p.steps if "op" in st]) < n_ops and tries < 200:
        tries += 1
        before = (len(p.inputs), len(p.steps), len(p.regs), set(p.conventions))
        try:
            nxt = make_op(p, cur)
        except RuntimeError:
            # An op PyTorch refuses on this shape (a generator slip, not a finding): undo it.
            del p.inputs[before[0]:], p.steps[before[1]:], p.regs[before[2]:]
            p.conventions = before[3]
            continue
        if p.regs[nxt].numel() > MAX_NUMEL:
            del p.inputs[before[0]:], p.steps[before[1]:], p.regs[before[2]:]
            p.conventions = before[3]
            continue
        cur = nxt
    return p, cur


def evaluate(p, result_reg, r_weights, leaves):
    """Runs the program on `leaves` (tensors, one per input) and returns (result, loss)."""
    regs = []
    for st in p.steps:
        if "in" in st:
            regs.append(leaves[st["in"]])
        else:
            regs.append(apply(st, regs))
    res = regs[result_reg]
    return res, (res * r_weights).sum()


def apply(st, regs):
    """PyTorch's value of one step, given the registers so far (the same ops as make_op)."""
    op = st["op"]
    R = lambda key: regs[st[key]]
    if op in UNARY:
        return UNARY[op](R("a"), st)
    if op in BINARY:
        return BINARY[op](R("a"), R("b"))
    x = R("a") if "a" in st else None
    if op in ("sum", "mean"):
        return getattr(x, op)()
    if op in ("max_axis", "min_axis"):
        return (torch.max if op == "max_axis" else torch.min)(x, st["axis"], keepdim=st["keep"]).values
    if op in ("sum_axis", "mean_axis"):
        return (torch.sum if op == "sum_axis" else torch.mean)(x, dim=st["axis"], keepdim=st["keep"])
    if op in ("sum_axes", "mean_axes"):
        return (torch.sum if op == "sum_axes" else torch.mean)(x, dim=tuple(st["axes"]), keepdim=st["keep"])
    if op == "logsumexp":
        return torch.logsumexp(x, st["axis"], keepdim=st["keep"])
    if op in ("var_axis", "std_axis"):
        return (torch.var if op == "var_axis" else torch.std)(x, dim=st["axis"], correction=st["correction"], keepdim=st["keep"])
    if op == "transpose":
        return x.transpose(st["d0"], st["d1"])
    if op == "reshape":
        return x.reshape(st["shape"])
    if op == "squeeze":
        return x.squeeze(st["axis"])
    if op == "unsqueeze":
        return x.unsqueeze(st["axis"])
    if op == "broadcast_to":
        return x.broadcast_to(st["shape"])
    if op == "sum_to_size":
        return x.sum_to_size(st["shape"]) if st["shape"] else x.sum()
    if op == "narrow":
        return x.narrow(st["axis"], st["start"], st["len"])
    if op == "concat":
        return torch.cat([regs[i] for i in st["parts"]], st["axis"])
    if op == "stack":
        return torch.stack([regs[i] for i in st["parts"]], st["axis"])
    if op == "index_select":
        return torch.index_select(x, st["axis"], torch.tensor(st["ids"], dtype=torch.long))
    if op == "gather":
        return torch.gather(x, st["axis"], torch.tensor(st["index"], dtype=torch.long).reshape(st["index_shape"]))
    if op == "masked_fill":
        v = st["value"]
        v = float(v) if isinstance(v, str) else v
        return x.masked_fill(torch.tensor(st["mask"]).reshape(st["mask_shape"]).bool(), v)
    if op == "where":
        return torch.where(torch.tensor(st["cond"]).reshape(st["cond_shape"]).bool(), R("a"), R("b"))
    if op == "embedding":
        return F.embedding(torch.tensor(st["ids"], dtype=torch.long), x)
    if op == "matmul":
        return torch.matmul(x, R("b"))
    if op == "linear":
        return F.linear(x, R("w"), None if st["bias"] is None else regs[st["bias"]])
    if op == "addmm":
        return torch.addmm(x, R("m1"), R("m2"))
    if op == "softmax":
        return torch.softmax(x, st["axis"])
    if op == "log_softmax":
        return torch.log_softmax(x, st["axis"])
    if op == "layer_norm":
        return F.layer_norm(x, (x.shape[-1],), R("gamma"), R("beta"), st["eps"])
    if op == "cross_entropy":
        return torch_ce(x, st["targets"], None, None, 0.0, "mean")
    if op == "nll_loss":
        c, rows = classes_rows(x)
        return F.nll_loss(x.reshape(rows, c), torch.tensor(st["targets"], dtype=torch.long))
    w = None if st.get("weight") is None else torch.tensor([float(v) if isinstance(v, str) else v for v in st["weight"]])
    if op == "cross_entropy_with":
        return torch_ce(x, st["targets"], w, st["ignore"], st["smoothing"], st["reduction"])
    if op == "cross_entropy_probs":
        return torch_ce(x, R("t"), w, None, st["smoothing"], st["reduction"])
    if op == "mse_loss":
        return F.mse_loss(x, R("t"), reduction=st["reduction"])
    if op == "huber_loss":
        return F.huber_loss(x, R("t"), reduction=st["reduction"], delta=st["delta"])
    if op == "bce_with_logits":
        w = None if w is None else w.reshape(st["weight_shape"])
        pw = None if st["pos_weight"] is None else torch.tensor(st["pos_weight"]).reshape(st["pos_weight_shape"])
        return F.binary_cross_entropy_with_logits(x, R("t"), weight=w, pos_weight=pw, reduction=st["reduction"])
    if op == "kl_div":
        return F.kl_div(x, R("t"), reduction=st["reduction"], log_target=st["log_target"])
    raise ValueError(op)


def grads_or_zeros(out, wrt):
    needs = [t for t in wrt if t.requires_grad]
    if not out.requires_grad or not needs:
        got = [None] * len(needs)
    else:
        got = torch.autograd.grad(out, needs, allow_unused=True)
    it = iter(got)
    res = []
    for t in wrt:
        if t.requires_grad:
            gval = next(it)
            res.append(torch.zeros_like(t) if gval is None else gval)
        else:
            res.append(None)
    return res


def program_record(seed, k, cut=None):
    """Program `k` of `seed` with PyTorch's answers; with `cut`, only its first `cut` ops (the
    last of them gives the result), to find the op where a disagreement starts."""
    p, result_reg = build(seed, k)
    rng = p.g.rng
    if cut is not None:
        ops = [i for i, st in enumerate(p.steps) if "op" in st]
        result_reg = ops[cut - 1]
        p.steps = p.steps[:result_reg + 1]
        p.conventions = {(n, i) for n, i in p.conventions if i <= result_reg}
    res_shape = list(p.regs[result_reg].shape)
    r_weights = p.g.tensor(res_shape, fn=lambda: rng.choice([-1.0, 1.0]) * round(rng.uniform(0.5, 2.0), 2))

    # First order: every input is a leaf; constants do not require grad.
    leaves = [t.clone().requires_grad_(grad) for t, grad in p.inputs]
    res, loss = evaluate(p, result_reg, r_weights, leaves)
    grads = grads_or_zeros(loss, leaves)

    rec = {
        "id": f"{seed}-{k}" if cut is None else f"{seed}-{k}@{cut}",
        "regime": p.g.regime,
        "inputs": [{"shape": list(t.shape), "data": flat(t), "grad": grad} for t, grad in p.inputs],
        "steps": p.steps,
        "result": result_reg,
        "r": flat(r_weights),
        "value": flat(res),
        "value_shape": list(res.shape),
        "loss": enc(loss.item()),
        "grads": [None if gr is None else flat(gr) for gr in grads],
        "conventions": sorted({n for n, _ in p.conventions}),
    }

    # Second order, for about a third: Hessian-vector product with respect to input 0 alone.
    if rng.random() < 0.35:
        x0 = p.inputs[0][0]
        v = p.g.tensor(list(x0.shape), "plain")
        xs = [t.clone() for t, _ in p.inputs]
        xs[0] = x0.clone().requires_grad_(True)
        _, loss2 = evaluate(p, result_reg, r_weights, xs)
        hv = torch.zeros_like(x0)
        try:
            if loss2.requires_grad:
                (gx,) = torch.autograd.grad(loss2, xs[0], create_graph=True, allow_unused=True)
                if gx is not None and gx.requires_grad:
                    (h,) = torch.autograd.grad(gx, xs[0], v, allow_unused=True)
                    if h is not None:
                        hv = h
            rec["hvp"] = {"v": flat(v), "out": flat(hv)}
        except RuntimeError as e:
            # PyTorch has no answer (some double backwards fail on empty tensors): said, not hidden.
            rec["hvp_unavailable"] = str(e).splitlines()[0][:160]
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--prefixes", metavar="K,K,...",
                    help="instead, every prefix of these programs (ids SEED-K@CUT), to locate differences")
    args = ap.parse_args()
    out = sys.stdout
    out.write(json.dumps({"generator": "tests/pytorch_diff/generate.py", "torch": torch.__version__,
                          "seed": args.seed, "first": args.first, "count": args.count,
                          "conventions": dict(CONVENTIONS)}) + "\n")
    if args.prefixes:
        for k in map(int, args.prefixes.split(",")):
            n_ops = sum("op" in st for st in build(args.seed, k)[0].steps)
            for cut in range(1, n_ops + 1):
                out.write(json.dumps(program_record(args.seed, k, cut), separators=(",", ":"), allow_nan=False) + "\n")
        return
    for k in range(args.first, args.first + args.count):
        out.write(json.dumps(program_record(args.seed, k), separators=(",", ":"), allow_nan=False) + "\n")


if __name__ == "__main__":
    main()
