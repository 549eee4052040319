#!/usr/bin/env bash
# W1 side by side: tapegrad (release) and the Python peers in the same session.
# Needs: pip install micrograd==0.1.0 (and torch, optionally).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -q --bench w1_overhead
python3 benches/peers/w1_overhead.py
