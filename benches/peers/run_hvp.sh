#!/usr/bin/env bash
# Hessian-vector products of the W5 transformer: tapegrad beside PyTorch's
# torch.autograd.functional.hvp, in one session, alternating ROUNDS times (default 3).
# Needs: pip install torch. PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -q --bench transformer --no-run 2>/dev/null
for round in $(seq "${ROUNDS:-3}"); do
    echo "== round $round"
    cargo bench -q --bench transformer -- hvp
    "${PYTHON:-python3}" benches/peers/hvp_torch.py
done
