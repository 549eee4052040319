//! `ln(sum(exp(x)))` along the middle axis of `[outer, len, inner]`, stable: the lane's max is
//! subtracted first. As PyTorch, an infinite max is not subtracted (it would give
//! `inf - inf = NaN`): a lane of `-inf` gives `-inf`, a lane holding `+inf` gives `+inf`.

use crate::kernels::exp::exp;
use crate::kernels::rows;
use crate::tensor::shape::AxisSplit as Split;

/// The shift subtracted before `exp`: the max, or 0 when the max is infinite.
fn shift(max: f64) -> f64 {
    if max.is_infinite() { 0.0 } else { max }
}

/// `out[o * inner + k] = ln sum_i exp(x[o, i, k])`.
pub(crate) fn forward(x: &[f64], out: &mut [f64], Split { outer, len, inner }: Split) {
    if inner == 1 {
        for (row, o) in x.chunks_exact(len.max(1)).zip(out.iter_mut()).take(outer) {
            let s = shift(rows::max(row));
            *o = s + rows::sum_exp(row, s).ln();
        }
        // A zero-length axis: the log of an empty sum.
        if len == 0 {
            out.fill(f64::NEG_INFINITY);
        }
        return;
    }
    for o in 0..outer {
        for k in 0..inner {
            let lane = (0..len).map(|i| x[(o * len + i) * inner + k]);
            let s = shift(lane.clone().fold(f64::NEG_INFINITY, f64::max));
            out[o * inner + k] = s + lane.map(|v| exp(v - s)).sum::<f64>().ln();
        }
    }
}

/// `dx[o, i, k] = g[o, k] exp(x[o, i, k] - lse[o, k])`: the softmax of the lane times its
/// upstream gradient.
pub(crate) fn backward(x: &[f64], lse: &[f64], g: &[f64], dx: &mut [f64], Split { outer, len, inner }: Split) {
    for o in 0..outer {
        for i in 0..len {
            for k in 0..inner {
                let (at, lane) = ((o * len + i) * inner + k, o * inner + k);
                dx[at] = g[lane] * exp(x[at] - lse[lane]);
            }
        }
    }
}
