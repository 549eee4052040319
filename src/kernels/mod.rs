//! Tight numeric loops with no graph in them: what an op's forward and backward share, and
//! what the benchmarks time. Everything here works on plain slices.

pub(crate) mod bce;
pub(crate) mod broadcast;
pub(crate) mod cross_entropy;
pub(crate) mod exp;
pub(crate) mod gemm;
#[cfg(test)]
mod gemm_tests;
pub(crate) mod layer_norm;
pub(crate) mod logsumexp;
pub(crate) mod parallel;
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
