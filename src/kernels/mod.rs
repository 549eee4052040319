//! Tight numeric loops with no graph in them: what an op's forward and backward share, and
//! what the benchmarks time. Everything here works on plain slices.

pub(crate) mod bce;
pub(crate) mod binary;
pub(crate) mod broadcast;
pub(crate) mod cross_entropy;
pub(crate) mod exp;
pub(crate) mod extrema;
// Its items the benchmarks time are `pub`, re-exported by `bench_internals` (lib.rs) when the
// `bench-internals` feature is on, and reachable from nowhere else.
#[cfg_attr(not(feature = "bench-internals"), allow(unreachable_pub))]
pub(crate) mod gemm;
#[cfg(test)]
mod gemm_tests;
pub(crate) mod layer_norm;
pub(crate) mod logsumexp;
pub(crate) mod rows;
pub(crate) mod softmax;

/// The upstream gradient of each element of a loss over the reduction's divisor.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scale<'a> {
    /// The same for all elements (a reduced output).
    All(f64),
    /// One per element (an unreduced output).
    Each(&'a [f64]),
}

impl Scale<'_> {
    /// Element `i`'s share.
    #[inline(always)]
    pub(crate) fn at(self, i: usize) -> f64 {
        match self {
            Scale::All(g) => g,
            Scale::Each(g) => g[i],
        }
    }
}

#[cfg(test)]
mod tests {
    /// `.ci/avx2_under_qemu.sh` runs the tests once more on an emulated AMD EPYC (AVX2 + FMA,
    /// no AVX-512) and sets `TAPEGRAD_EXPECT_X86=avx2` there. This checks that the emulation
    /// took: that those runs pick the AVX2 code of the row kernels and of the GEMM, not the
    /// AVX-512 code this project's other machine kind runs.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_vector_units_are_those_the_run_expects() {
        match std::env::var("TAPEGRAD_EXPECT_X86").as_deref() {
            Ok("avx2") => assert!(
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && !is_x86_feature_detected!("avx512f"),
                "TAPEGRAD_EXPECT_X86=avx2, but the CPU has AVX2 {}, FMA {}, AVX-512 {}",
                is_x86_feature_detected!("avx2"),
                is_x86_feature_detected!("fma"),
                is_x86_feature_detected!("avx512f")
            ),
            Ok(other) => panic!("TAPEGRAD_EXPECT_X86={other}: the only value known is avx2"),
            Err(_) => {}
        }
    }
}
