#!/usr/bin/env bash
# tapegrad beside its peers, in one session (PERF.md: noise between runs is 5-15 %, so compare
# within a run). Needs: pip install micrograd==0.1.0 "jax[cpu]" (PyTorch is used when installed).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -q --bench w1_overhead
python3 benches/peers/w1_overhead.py
cargo bench -q --bench workloads
python3 benches/peers/workloads_jax.py
cargo bench -q --bench transformer
python3 benches/peers/transformer_jax.py
