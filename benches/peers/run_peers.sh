#!/usr/bin/env bash
# tapegrad beside all its peers, in one session, alternating ROUNDS times (default 3): the
# machine's speed drifts over minutes, so only side-by-side, interleaved medians compare. Prints
# each script's output, then the ratio table (tapegrad / peer, time, lower is better).
#
# Peers (float64 everywhere): micrograd (W1), PyTorch eager on 2 threads (W1, W2-W6), JAX jit
# (W3-W6), NumPy's OpenBLAS on 2 threads (W2 GEMM). Needs, in the Python that PYTHON names
# (default python3): pip install torch "jax[cpu]" micrograd numpy threadpoolctl
#
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when the environment sets them, pin an older, slower
# OpenBLAS kernel: the GEMM peer runs without them (that command only) and prints the kernel
# OpenBLAS picked.
set -euo pipefail
cd "$(dirname "$0")/../.."
py="${PYTHON:-python3}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo bench -q --no-run 2>/dev/null
for round in $(seq "${ROUNDS:-3}"); do
    echo "== round $round"
    cargo bench -q --bench w1_overhead
    "$py" benches/peers/w1_overhead.py
    cargo bench -q --features bench-internals --bench gemm
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" benches/peers/gemm_numpy.py
    cargo bench -q --bench workloads
    "$py" benches/peers/workloads_jax.py
    "$py" benches/peers/workloads_torch.py
    cargo bench -q --bench transformer
    "$py" benches/peers/transformer_jax.py
    "$py" benches/peers/transformer_torch.py
done 2>&1 | tee "$log"
"$py" benches/peers/ratio_table.py < "$log"
