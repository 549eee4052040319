//! Tight numeric loops with no graph in them: what an op's forward and backward share, and
//! what the benchmarks time. Everything here works on plain slices.

pub(crate) mod broadcast;
pub(crate) mod cross_entropy;
pub(crate) mod exp;
pub(crate) mod gemm;
#[cfg(test)]
mod gemm_tests;
pub(crate) mod layer_norm;
pub(crate) mod parallel;
pub(crate) mod rows;
pub(crate) mod softmax;
