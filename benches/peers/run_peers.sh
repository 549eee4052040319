#!/usr/bin/env bash
# tapegrad beside its peers, in one session, alternating ROUNDS times (default 3): the machine's
# speed drifts over minutes, so only side-by-side, interleaved medians compare.
# Needs: pip install micrograd==0.1.0 "jax[cpu]" (PyTorch is used for W1 when installed).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -q --no-run 2>/dev/null
for round in $(seq "${ROUNDS:-3}"); do
    echo "== round $round"
    cargo bench -q --bench w1_overhead
    python3 benches/peers/w1_overhead.py
    cargo bench -q --bench workloads
    python3 benches/peers/workloads_jax.py
    cargo bench -q --bench transformer
    python3 benches/peers/transformer_jax.py
done
