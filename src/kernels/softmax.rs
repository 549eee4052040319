//! Softmax and log-softmax along the middle axis of a tensor viewed as `[outer, len, inner]`:
//! each of the `outer * inner` lanes (`len` elements, `inner` apart) is normalised on its own.
//!
//! Both subtract the lane's maximum first, so `exp` never overflows: softmax is invariant to
//! shifting its input, and the largest shifted value is `e^0 = 1`.

use crate::kernels::parallel::{for_each_block, rows_per_block};

type Split = (usize, usize, usize);

/// Splits the outer axis into independent blocks (one per core for large inputs) and runs
/// `kernel` on each block of the output and the matching blocks of the inputs.
fn in_blocks<const N: usize>(
    inputs: [&[f64]; N],
    out: &mut [f64],
    split: Split,
    kernel: fn([&[f64]; N], &mut [f64], Split),
) {
    let (outer, len, inner) = split;
    let per = rows_per_block(outer, len * inner);
    let block = per * len * inner;
    if block == 0 {
        return;
    }
    let blocks = out.chunks_mut(block).enumerate().map(|(b, out)| {
        let rows = out.len() / (len * inner);
        (inputs.map(|x| &x[b * block..b * block + out.len()]), out, rows)
    });
    for_each_block(blocks, |(inputs, out, rows)| kernel(inputs, out, (rows, len, inner)));
}

/// One lane: its elements sit at `base`, `base + stride`, ... (`len` of them).
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
    let (outer, len, inner) = split;
    for o in 0..outer {
        for k in 0..inner {
            f(Lane { base: o * len * inner + k, stride: inner, len });
        }
    }
}

/// `y = exp(x - max) / sum(exp(x - max))` per lane.
pub(crate) fn softmax(x: &[f64], y: &mut [f64], split: Split) {
    in_blocks([x], y, split, |[x], y, split| softmax_block(x, y, split));
}

fn softmax_block(x: &[f64], y: &mut [f64], split: Split) {
    for_each_lane(split, |lane| {
        let max = lane.offsets().map(|at| x[at]).fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for at in lane.offsets() {
            let e = (x[at] - max).exp();
            y[at] = e;
            sum += e;
        }
        for at in lane.offsets() {
            y[at] /= sum;
        }
    });
}

/// `y = x - max - ln(sum(exp(x - max)))` per lane.
pub(crate) fn log_softmax(x: &[f64], y: &mut [f64], split: Split) {
    in_blocks([x], y, split, |[x], y, split| log_softmax_block(x, y, split));
}

fn log_softmax_block(x: &[f64], y: &mut [f64], split: Split) {
    for_each_lane(split, |lane| {
        let max = lane.offsets().map(|at| x[at]).fold(f64::NEG_INFINITY, f64::max);
        let log_sum = lane.offsets().map(|at| (x[at] - max).exp()).sum::<f64>().ln();
        for at in lane.offsets() {
            y[at] = x[at] - max - log_sum;
        }
    });
}

/// Softmax backward from its output `y`: `dx = y * (g - sum(g * y))` per lane.
pub(crate) fn softmax_backward(y: &[f64], g: &[f64], dx: &mut [f64], split: Split) {
    in_blocks([y, g], dx, split, |[y, g], dx, split| softmax_backward_block(y, g, dx, split));
}

fn softmax_backward_block(y: &[f64], g: &[f64], dx: &mut [f64], split: Split) {
    for_each_lane(split, |lane| {
        let dot: f64 = lane.offsets().map(|at| g[at] * y[at]).sum();
        for at in lane.offsets() {
            dx[at] = y[at] * (g[at] - dot);
        }
    });
}

/// Log-softmax backward from its output `y`: `dx = g - exp(y) * sum(g)` per lane.
pub(crate) fn log_softmax_backward(y: &[f64], g: &[f64], dx: &mut [f64], split: Split) {
    in_blocks([y, g], dx, split, |[y, g], dx, split| log_softmax_backward_block(y, g, dx, split));
}

fn log_softmax_backward_block(y: &[f64], g: &[f64], dx: &mut [f64], split: Split) {
    for_each_lane(split, |lane| {
        let total: f64 = lane.offsets().map(|at| g[at]).sum();
        for at in lane.offsets() {
            dx[at] = g[at] - y[at].exp() * total;
        }
    });
}
