//! Reductions: `sum`, `mean` (all elements, shape `[]`), `sum_axis`, `mean_axis` and
//! `max_axis` over one axis.
//!
//! The axis-wise ones view the input as `[outer, len, inner]` (see
//! [`split_at_axis`](crate::tensor::shape::split_at_axis)) and reduce the middle.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::ops::check_axis;
use crate::tensor::Tensor;
use crate::tensor::buffer::{self, Data};
use crate::tensor::shape::{AxisSplit, Shape, split_at_axis};

/// Sum or mean, over all elements or one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Reduce {
    Sum,
    Mean,
    SumAxis { axis: usize, keep_dim: bool },
    MeanAxis { axis: usize, keep_dim: bool },
}

impl Reduce {
    pub(crate) fn label(self) -> String {
        match self {
            Reduce::Sum => "sum".into(),
            Reduce::Mean => "mean".into(),
            Reduce::SumAxis { axis, .. } => format!("sum_axis({axis})"),
            Reduce::MeanAxis { axis, .. } => format!("mean_axis({axis})"),
        }
    }
}

/// The output shape of reducing `axis` of `shape`: the axis becomes 1 or disappears.
pub(crate) fn reduced_shape(shape: &[usize], axis: usize, keep_dim: bool) -> Shape {
    let mut out = Shape::from_slice(shape);
    if keep_dim {
        out[axis] = 1;
    } else {
        out.remove(axis);
    }
    out
}

/// Sums the middle axis of `x` viewed as `[outer, len, inner]`.
fn sum_middle(x: &[f64], AxisSplit { outer, len, inner }: AxisSplit) -> Data {
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
                check_axis(&f.label(), axis, v.shape());
                let split = split_at_axis(v.shape(), axis);
                let mut sums = sum_middle(v.data(), split);
                if matches!(f, Reduce::MeanAxis { .. }) {
                    sums.iter_mut().for_each(|s| *s /= split.len as f64);
                }
                Tensor::from_parts(sums, &reduced_shape(v.shape(), axis, keep_dim))
            }
        }
    };
    x.tape.record(f, &[x], y)
}

impl Rule for Reduce {
    fn name(&self) -> String {
        self.label()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    /// Every input element contributed to its sum with weight 1 (to its mean with weight
    /// `1/n`), so `dx[o, i, k] = g[o, k]` (or `g[o, k] / n`): the upstream gradient is broadcast
    /// back along the reduced axis (over everything for `sum`/`mean`).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let (shape, g) = (cx.input_shape(0), cx.upstream());
            match *self {
                Reduce::Sum => Tensor::full(shape, g.item()),
                Reduce::Mean => Tensor::full(shape, g.item() / shape.iter().product::<usize>() as f64),
                Reduce::SumAxis { axis, .. } | Reduce::MeanAxis { axis, .. } => {
                    let AxisSplit { outer, len, inner } = split_at_axis(shape, axis);
                    let scale = if matches!(self, Reduce::MeanAxis { .. }) { 1.0 / len as f64 } else { 1.0 };
                    let mut dx = buffer::with_capacity(outer * len * inner);
                    for o in 0..outer {
                        let row = &g.data()[o * inner..(o + 1) * inner];
                        for _ in 0..len {
                            dx.extend(row.iter().map(|gk| gk * scale));
                        }
                    }
                    Tensor::from_parts(dx, shape)
                }
            }
        });
    }

    /// The same broadcast of `g`, recorded: `broadcast_to` (after `g / n` for a mean).
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let (shape, g) = (cx.input_shape(0), cx.upstream());
            match *self {
                Reduce::Sum => g.broadcast_to(&shape),
                Reduce::Mean => (g / shape.iter().product::<usize>() as f64).broadcast_to(&shape),
                Reduce::SumAxis { axis, keep_dim } | Reduce::MeanAxis { axis, keep_dim } => {
                    let kept = if keep_dim { g } else { g.reshape(&reduced_shape(&shape, axis, true)) };
                    let scaled =
                        if matches!(self, Reduce::MeanAxis { .. }) { kept * (1.0 / shape[axis] as f64) } else { kept };
                    scaled.broadcast_to(&shape)
                }
            }
        });
    }
}

/// `max_axis(axis)`: remembers where each maximum was (its position along the axis).
#[derive(Clone, Debug)]
pub(crate) struct MaxAxis {
    axis: usize,
    argmax: Vec<usize>,
}

impl Rule for MaxAxis {
    fn name(&self) -> String {
        format!("max_axis({})", self.axis)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("argmax", bytes_of(&self.argmax))
    }

    /// The gradient goes to the arg-max only (the first one on ties, as PyTorch's
    /// `max(dim)`), because the max is locally equal to that one input:
    /// `dx[o, argmax[o, k], k] = g[o, k]`, zero elsewhere.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let (shape, g) = (cx.input_shape(0), cx.upstream());
            let AxisSplit { outer, len, inner } = split_at_axis(shape, self.axis);
            let mut dx = buffer::zeroed(outer * len * inner);
            for o in 0..outer {
                for k in 0..inner {
                    dx[(o * len + self.argmax[o * inner + k]) * inner + k] += g.data()[o * inner + k];
                }
            }
            Tensor::from_parts(dx, shape)
        });
    }

    /// `g` broadcast back along the axis, with every element but the arg-max filled with 0
    /// (the arg-max positions are a constant mask: they do not move under small changes).
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let shape = cx.input_shape(0);
            let AxisSplit { outer, len, inner } = split_at_axis(&shape, self.axis);
            let mut others = Tensor::ones(&shape);
            for o in 0..outer {
                for k in 0..inner {
                    others.data_mut()[(o * len + self.argmax[o * inner + k]) * inner + k] = 0.0;
                }
            }
            let g = cx.upstream().reshape(&reduced_shape(&shape, self.axis, true));
            g.broadcast_to(&shape).masked_fill(&others, 0.0)
        });
    }
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

    /// The maximum over `axis`. Its gradient goes to the arg-max (the first, on ties). A NaN
    /// along the axis makes the maximum NaN, and the gradient goes to the first NaN (as
    /// PyTorch).
    #[track_caller]
    pub fn max_axis(self, axis: usize, keep_dim: bool) -> Var<'t> {
        let (y, argmax) = {
            let v = self.value_ref();
            check_axis("max_axis", axis, v.shape());
            let AxisSplit { outer, len, inner } = split_at_axis(v.shape(), axis);
            assert!(len > 0, "max_axis: axis {axis} of shape {:?} is empty", v.shape());
            let mut max = vec![f64::NEG_INFINITY; outer * inner];
            let mut argmax = vec![0; outer * inner];
            for o in 0..outer {
                for i in 0..len {
                    for k in 0..inner {
                        let x = v.data()[(o * len + i) * inner + k];
                        let at = o * inner + k;
                        // `i == 0` takes the first element even when it is -inf; a NaN wins
                        // over any number and the first NaN stays (NaN propagates, and the
                        // gradient goes to it, as PyTorch's `max(dim)`).
                        if i == 0 || x > max[at] || (x.is_nan() && !max[at].is_nan()) {
                            max[at] = x;
                            argmax[at] = i;
                        }
                    }
                }
            }
            (Tensor::from_parts(max, &reduced_shape(v.shape(), axis, keep_dim)), argmax)
        };
        self.tape.record(MaxAxis { axis, argmax }, &[self], y)
    }
}
