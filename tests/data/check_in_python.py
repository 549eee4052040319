"""Loads the file tapegrad's test `writes_a_file_for_python` wrote, in PyTorch, and checks it.

    cargo test --test suite training::checkpoint && python tests/data/check_in_python.py target/tmp/for_python.safetensors
"""
import sys

import torch
from safetensors.torch import load_file

t = load_file(sys.argv[1])
assert sorted(t) == ["layer1.bias", "layer1.weight"], sorted(t)
w = t["layer1.weight"]
assert w.dtype == torch.float64 and w.shape == (2, 3), (w.dtype, w.shape)
expected = torch.tensor([[(i * 3 + j) / 7.0 - 0.25 for j in range(3)] for i in range(2)], dtype=torch.float64)
assert torch.equal(w, expected), (w, expected)
b = t["layer1.bias"]
assert b.tolist() == [0.1, -0.0] and torch.signbit(b[1]), b
print("PyTorch loaded tapegrad's file:", {k: tuple(v.shape) for k, v in t.items()})
