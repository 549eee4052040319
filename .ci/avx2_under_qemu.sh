#!/usr/bin/env bash
# The workspace's unit and integration tests once more on an emulated AMD EPYC (qemu-user's CPU model
# EPYC-Milan: AVX2 + FMA, no AVX-512), the project's other machine kind. The row kernels'
# multiversioned clones and the gemm crate's microkernels pick their code at run time, so on an
# AVX-512 machine the plain test run never executes the AVX2 code; here it does.
# `TAPEGRAD_EXPECT_X86=avx2` makes a unit test check that the emulated CPU is what it should be.
#
# Needs qemu-user (`apt-get install qemu-user`); 40 s on the 2-vCPU AMD EPYC once `cargo test` has
# built the binaries, every test included.
set -euo pipefail
cd "$(dirname "$0")/.."
# The libraries' unit tests and the integration tests (not the examples' tests, which train
# whole models: tens of minutes emulated).
bins=$(cargo test --workspace --no-run --message-format=json 2>/dev/null |
    grep -E '"kind":\["(lib|test)"\]' | grep -o '"executable":"[^"]*"' | sed 's/"executable":"//; s/"$//')
for bin in $bins; do
    echo "== $(basename "$bin") on EPYC-Milan (qemu)"
    TAPEGRAD_EXPECT_X86=avx2 qemu-x86_64 -cpu EPYC-Milan-v1 "$bin" -q 2> \
        >(grep -v "TCG doesn't support requested feature" >&2)
done
