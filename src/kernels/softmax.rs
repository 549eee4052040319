//! Softmax and log-softmax along the middle axis of a tensor viewed as `[outer, len, inner]`:
//! each of the `outer * inner` lanes (`len` elements, `inner` apart) is normalised on its own.
//!
//! Both subtract the lane's maximum first, so `exp` never overflows: softmax is invariant to
//! shifting its input, and the largest shifted value is `e^0 = 1`.
//!
//! The last axis (`inner == 1`, contiguous lanes) is the common case and has row loops that
//! vectorise (compiled for AVX-512 / AVX2 too, picked at run time); other axes walk strided
//! lanes. Large inputs are split over the cores along the outer axis.

use multiversion::multiversion;

use crate::kernels::exp::exp;
use crate::kernels::rows;
use crate::tensor::parallel::{for_each_block, rows_per_block};

use crate::tensor::shape::AxisSplit as Split;

/// Splits the outer axis into independent blocks (one per core for large inputs) and runs
/// `kernel` on each block of the output and the matching blocks of the inputs.
fn in_blocks<const N: usize>(
    inputs: [&[f64]; N],
    out: &mut [f64],
    split: Split,
    kernel: fn([&[f64]; N], &mut [f64], Split),
) {
    let Split { outer, len, inner } = split;
    let per = rows_per_block(outer, len * inner);
    let block = per * len * inner;
    if block == 0 {
        return;
    }
    let blocks = out.chunks_mut(block).enumerate().map(|(b, out)| {
        let rows = out.len() / (len * inner);
        (inputs.map(|x| &x[b * block..b * block + out.len()]), out, rows)
    });
    for_each_block(blocks, |(inputs, out, rows)| kernel(inputs, out, Split { outer: rows, len, inner }));
}

/// One strided lane: its elements sit at `base`, `base + stride`, ... (`len` of them).
#[derive(Clone, Copy)]
struct Lane {
    base: usize,
    stride: usize,
    len: usize,
}

impl Lane {
    fn offsets(self) -> impl Iterator<Item = usize> {
        (0..self.len).map(move |i| self.base + i * self.stride)
    }
}

/// Calls `f` for every lane of the split.
fn for_each_lane(split: Split, mut f: impl FnMut(Lane)) {
    let Split { outer, len, inner } = split;
    for o in 0..outer {
        for k in 0..inner {
            f(Lane { base: o * len * inner + k, stride: inner, len });
        }
    }
}

/// Elements per tile of rows in [`softmax_rows`]: 32 KiB, within the L1 cache.
const TILE: usize = 4096;

/// `y = exp(x - max) / sum(exp(x - max))` per lane.
pub(crate) fn softmax(x: &[f64], y: &mut [f64], split: Split) {
    in_blocks([x], y, split, |[x], y, split| {
        if split.inner == 1 {
            softmax_rows(x, y, split.len)
        } else {
            for_each_lane(split, |lane| {
                let max = lane.offsets().map(|at| x[at]).fold(f64::NEG_INFINITY, f64::max);
                let mut sum = 0.0;
                for at in lane.offsets() {
                    y[at] = exp(x[at] - max);
                    sum += y[at];
                }
                let inverse = 1.0 / sum;
                lane.offsets().for_each(|at| y[at] *= inverse);
            })
        }
    });
}

/// Rows are taken a tile of about [`TILE`] elements at a time, in three passes over the tile:
/// shift every row by its max, exponentiate the whole tile, normalise every row. The middle
/// pass is one long loop of independent exponentials, which the core overlaps; an exponential
/// per row of 64 elements left too short a loop for that, and the polynomial's chain of
/// dependent operations set the pace (2x slower on W6's attention). The tile stays in the L1
/// cache between passes.
#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn softmax_rows(x: &[f64], y: &mut [f64], len: usize) {
    let tile = (TILE / len).max(1) * len;
    for (x, y) in x.chunks(tile).zip(y.chunks_mut(tile)) {
        for (row, out) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)) {
            let max = rows::max(row);
            for (o, &v) in out.iter_mut().zip(row) {
                *o = v - max;
            }
        }
        y.iter_mut().for_each(|o| *o = exp(*o));
        for out in y.chunks_exact_mut(len) {
            // One division per row, then products (as PyTorch's kernel).
            let inverse = 1.0 / rows::sum(out);
            out.iter_mut().for_each(|o| *o *= inverse);
        }
    }
}

/// `y = (x - max) - ln(sum(exp(x - max)))` per lane.
pub(crate) fn log_softmax(x: &[f64], y: &mut [f64], split: Split) {
    in_blocks([x], y, split, |[x], y, split| {
        if split.inner == 1 {
            log_softmax_rows(x, y, split.len)
        } else {
            for_each_lane(split, |lane| {
                let max = lane.offsets().map(|at| x[at]).fold(f64::NEG_INFINITY, f64::max);
                let log_sum = lane.offsets().map(|at| exp(x[at] - max)).sum::<f64>().ln();
                lane.offsets().for_each(|at| y[at] = (x[at] - max) - log_sum);
            })
        }
    });
}

#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn log_softmax_rows(x: &[f64], y: &mut [f64], len: usize) {
    for (row, out) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)) {
        let max = rows::max(row);
        let log_sum = rows::sum_exp(row, max).ln();
        for (o, &v) in out.iter_mut().zip(row) {
            *o = (v - max) - log_sum;
        }
    }
}

/// Softmax backward from its output `y`: `dx = y * (g - sum(g * y))` per lane.
pub(crate) fn softmax_backward(y: &[f64], g: &[f64], dx: &mut [f64], split: Split) {
    in_blocks([y, g], dx, split, |[y, g], dx, split| {
        if split.inner == 1 {
            softmax_backward_rows(y, g, dx, split.len)
        } else {
            for_each_lane(split, |lane| {
                let dot: f64 = lane.offsets().map(|at| g[at] * y[at]).sum();
                lane.offsets().for_each(|at| dx[at] = y[at] * (g[at] - dot));
            })
        }
    });
}

#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn softmax_backward_rows(y: &[f64], g: &[f64], dx: &mut [f64], len: usize) {
    for ((y, g), dx) in y.chunks_exact(len).zip(g.chunks_exact(len)).zip(dx.chunks_exact_mut(len)) {
        let dot = rows::dot(g, y);
        for ((d, &yi), &gi) in dx.iter_mut().zip(y).zip(g) {
            *d = yi * (gi - dot);
        }
    }
}

/// Log-softmax backward from its output `y`: `dx = g - exp(y) * sum(g)` per lane.
pub(crate) fn log_softmax_backward(y: &[f64], g: &[f64], dx: &mut [f64], split: Split) {
    in_blocks([y, g], dx, split, |[y, g], dx, split| {
        if split.inner == 1 {
            log_softmax_backward_rows(y, g, dx, split.len)
        } else {
            for_each_lane(split, |lane| {
                let total: f64 = lane.offsets().map(|at| g[at]).sum();
                lane.offsets().for_each(|at| dx[at] = g[at] - exp(y[at]) * total);
            })
        }
    });
}

#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn log_softmax_backward_rows(y: &[f64], g: &[f64], dx: &mut [f64], len: usize) {
    for ((y, g), dx) in y.chunks_exact(len).zip(g.chunks_exact(len)).zip(dx.chunks_exact_mut(len)) {
        let total = rows::sum(g);
        for ((d, &yi), &gi) in dx.iter_mut().zip(y).zip(g) {
            *d = gi - exp(yi) * total;
        }
    }
}
