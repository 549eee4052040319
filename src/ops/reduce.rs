//! Reductions: `sum`, `mean` (all elements, shape `[]`), `sum_axis`, `mean_axis` and
//! `max_axis` over one axis.
//!
//! The axis-wise ones view the input as `[outer, len, inner]` (see
//! [`split_at_axis`](crate::shape::split_at_axis)) and reduce the middle.

use crate::buffer::{self, Data};
use crate::ops::{Op, check_axis};
use crate::shape::{Shape, split_at_axis};
use crate::tape::{GradSink, Var};
use crate::tensor::Tensor;

/// Sum or mean, over all elements or one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Reduce {
    Sum,
    Mean,
    SumAxis { axis: usize, keep_dim: bool },
    MeanAxis { axis: usize, keep_dim: bool },
}

impl Reduce {
    pub(crate) fn name(self) -> String {
        match self {
            Reduce::Sum => "sum".into(),
            Reduce::Mean => "mean".into(),
            Reduce::SumAxis { axis, .. } => format!("sum_axis({axis})"),
            Reduce::MeanAxis { axis, .. } => format!("mean_axis({axis})"),
        }
    }
}

/// The output shape of reducing `axis` of `shape`: the axis becomes 1 or disappears.
fn reduced_shape(shape: &[usize], axis: usize, keep_dim: bool) -> Shape {
    let mut out = Shape::from_slice(shape);
    if keep_dim {
        out[axis] = 1;
    } else {
        out.remove(axis);
    }
    out
}

/// Sums the middle axis of `x` viewed as `[outer, len, inner]`.
fn sum_middle(x: &[f64], (outer, len, inner): (usize, usize, usize)) -> Data {
    let mut out = buffer::zeroed(outer * inner);
    for o in 0..outer {
        let row = &mut out[o * inner..(o + 1) * inner];
        for i in 0..len {
            let base = (o * len + i) * inner;
            for (acc, v) in row.iter_mut().zip(&x[base..base + inner]) {
                *acc += v;
            }
        }
    }
    out
}

#[track_caller]
fn reduce<'t>(x: Var<'t>, f: Reduce) -> Var<'t> {
    let y = {
        let v = x.value_ref();
        match f {
            Reduce::Sum => Tensor::scalar(v.data().iter().sum()),
            Reduce::Mean => Tensor::scalar(v.data().iter().sum::<f64>() / v.numel() as f64),
            Reduce::SumAxis { axis, keep_dim } | Reduce::MeanAxis { axis, keep_dim } => {
                check_axis(&f.name(), axis, v.shape());
                let split = split_at_axis(v.shape(), axis);
                let mut sums = sum_middle(v.data(), split);
                if matches!(f, Reduce::MeanAxis { .. }) {
                    sums.iter_mut().for_each(|s| *s /= split.1 as f64);
                }
                Tensor::from_parts(sums, &reduced_shape(v.shape(), axis, keep_dim))
            }
        }
    };
    x.tape.record(Op::Reduce { x: x.id, f }, y)
}

/// Backward: every input element contributed to its sum with weight 1 (to its mean with
/// weight `1/n`), so `dx[o, i, k] = g[o, k]` (or `g[o, k] / n`): the upstream gradient is
/// broadcast back along the reduced axis (over everything for `sum`/`mean`).
pub(crate) fn backward(f: Reduce, x_id: usize, x: &Tensor, g: &Tensor, sink: &mut GradSink) {
    if !sink.wants(x_id) {
        return;
    }
    let dx = match f {
        Reduce::Sum => Tensor::full(x.shape(), g.item()),
        Reduce::Mean => Tensor::full(x.shape(), g.item() / x.numel() as f64),
        Reduce::SumAxis { axis, .. } | Reduce::MeanAxis { axis, .. } => {
            let (outer, len, inner) = split_at_axis(x.shape(), axis);
            let scale = if matches!(f, Reduce::MeanAxis { .. }) { 1.0 / len as f64 } else { 1.0 };
            let mut dx = buffer::with_capacity(x.numel());
            for o in 0..outer {
                let row = &g.data()[o * inner..(o + 1) * inner];
                for _ in 0..len {
                    dx.extend(row.iter().map(|gk| gk * scale));
                }
            }
            Tensor::from_parts(dx, x.shape())
        }
    };
    sink.add(x_id, dx);
}

/// Backward of `max_axis`: the gradient goes to the arg-max only (the first one on ties, as
/// PyTorch's `max(dim)`), because the max is locally equal to that one input:
/// `dx[o, argmax[o, k], k] = g[o, k]`, zero elsewhere.
pub(crate) fn max_axis_backward(
    x_id: usize,
    x: &Tensor,
    axis: usize,
    argmax: &[usize],
    g: &Tensor,
    sink: &mut GradSink,
) {
    if !sink.wants(x_id) {
        return;
    }
    let (outer, len, inner) = split_at_axis(x.shape(), axis);
    let mut dx = buffer::zeroed(x.numel());
    for o in 0..outer {
        for k in 0..inner {
            dx[(o * len + argmax[o * inner + k]) * inner + k] += g.data()[o * inner + k];
        }
    }
    sink.add(x_id, Tensor::from_parts(dx, x.shape()));
}

impl<'t> Var<'t> {
    /// The sum of all elements (shape `[]`).
    #[track_caller]
    pub fn sum(self) -> Var<'t> {
        reduce(self, Reduce::Sum)
    }

    /// The mean of all elements (shape `[]`).
    #[track_caller]
    pub fn mean(self) -> Var<'t> {
        reduce(self, Reduce::Mean)
    }

    /// Sums over `axis`; `keep_dim` keeps it as size 1 (handy for broadcasting back).
    #[track_caller]
    pub fn sum_axis(self, axis: usize, keep_dim: bool) -> Var<'t> {
        reduce(self, Reduce::SumAxis { axis, keep_dim })
    }

    /// Means over `axis`; `keep_dim` keeps it as size 1.
    #[track_caller]
    pub fn mean_axis(self, axis: usize, keep_dim: bool) -> Var<'t> {
        reduce(self, Reduce::MeanAxis { axis, keep_dim })
    }

    /// The maximum over `axis`. Its gradient goes to the arg-max (the first, on ties).
    #[track_caller]
    pub fn max_axis(self, axis: usize, keep_dim: bool) -> Var<'t> {
        let (y, argmax) = {
            let v = self.value_ref();
            check_axis("max_axis", axis, v.shape());
            let (outer, len, inner) = split_at_axis(v.shape(), axis);
            assert!(len > 0, "max_axis: axis {axis} of shape {:?} is empty", v.shape());
            let mut max = vec![f64::NEG_INFINITY; outer * inner];
            let mut argmax = vec![0; outer * inner];
            for o in 0..outer {
                for i in 0..len {
                    for k in 0..inner {
                        let x = v.data()[(o * len + i) * inner + k];
                        let at = o * inner + k;
                        // `i == 0` takes the first element even when it is NaN or -inf.
                        if i == 0 || x > max[at] {
                            max[at] = x;
                            argmax[at] = i;
                        }
                    }
                }
            }
            (Tensor::from_parts(max, &reduced_shape(v.shape(), axis, keep_dim)), argmax)
        };
        self.tape.record(Op::MaxAxis { x: self.id, axis, argmax }, y)
    }
}
