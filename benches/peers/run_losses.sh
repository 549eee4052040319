#!/usr/bin/env bash
# The loss family beside PyTorch, alternating ROUNDS times (default 3) in one session.
# Needs: pip install torch (PYTHON picks the interpreter; default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -q --bench losses --no-run 2>/dev/null
for round in $(seq "${ROUNDS:-3}"); do
    echo "== round $round"
    cargo bench -q --bench losses
    "${PYTHON:-python3}" benches/peers/losses_torch.py
done
