"""Writes the safetensors fixtures that tests/suite/training/checkpoint.rs loads, as PyTorch writes them.

Run from this folder with torch and safetensors installed:
    python make_fixtures.py
It prints each tensor as float64 (torch's exact conversion), the values the Rust test expects.
"""
import torch
from safetensors.torch import save_file

values = [0.1, -2.5, 1e-3, 65504.0, 3.140625, -0.0]
for name, dtype in [("f64", torch.float64), ("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)]:
    tensors = {
        "layer1.weight": torch.tensor(values, dtype=dtype).reshape(2, 3),
        "layer1.bias": torch.tensor([1.5, -1.0], dtype=dtype),
        "scalar": torch.tensor(7.0, dtype=dtype),
        "empty": torch.zeros((0, 3), dtype=dtype),
    }
    save_file(tensors, f"torch_{name}.safetensors")
    print(name, tensors["layer1.weight"].to(torch.float64).flatten().tolist())

save_file({"ids": torch.tensor([1, 2, 3], dtype=torch.int64)}, "torch_i64.safetensors")
