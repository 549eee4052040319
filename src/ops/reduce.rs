//! Sums and means: `sum`, `mean` (all elements, shape `[]`), `sum_axis`, `mean_axis` over one
//! axis, `sum_axes`, `mean_axes` over several. (`max_axis` and `min_axis` are in `extrema`,
//! `var_axis` and `std_axis` in `moments`.)
//!
//! The one-axis ones view the input as `[outer, len, inner]` (see
//! [`split_at_axis`](crate::tensor::shape::split_at_axis)) and reduce the middle; the
//! several-axes ones are broadcasting's adjoint (see [`kernels::broadcast`](crate::kernels::broadcast)).

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::kernels::broadcast::{expand, sum_to};
use crate::ops::resolve_axis;
use crate::tensor::Tensor;
use crate::tensor::axis::Axis;
use crate::tensor::buffer::{self, Data};
use crate::tensor::shape::{AxisSplit, Shape, numel, reduced_shape, split_at_axis};

/// Sum or mean, over all elements or one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Reduce {
    Sum,
    Mean,
    SumAxis { axis: usize, keep_dim: bool },
    MeanAxis { axis: usize, keep_dim: bool },
}

impl Reduce {
    /// `sum_axis` (or, with `mean`, `mean_axis`) over `axis` of `shape`, `-1` the last.
    /// Panics, naming the op, the axis and the shape, when it is out of range.
    #[track_caller]
    fn over(mean: bool, axis: impl Axis, keep_dim: bool, shape: &[usize]) -> Reduce {
        if mean {
            let axis = resolve_axis(format_args!("mean_axis({axis})"), axis, shape);
            Reduce::MeanAxis { axis, keep_dim }
        } else {
            let axis = resolve_axis(format_args!("sum_axis({axis})"), axis, shape);
            Reduce::SumAxis { axis, keep_dim }
        }
    }

    /// The forward on a plain tensor (the `Var` op and the `Tensor` method share it); the
    /// axis is in range.
    fn forward(self, v: &Tensor) -> Tensor {
        match self {
            // From +0.0 as PyTorch, so the empty sum is 0.0 (`Iterator::sum` starts at -0.0).
            Reduce::Sum => Tensor::scalar(v.data().iter().fold(0.0, |acc, x| acc + x)),
            Reduce::Mean => Tensor::scalar(v.data().iter().sum::<f64>() / v.numel() as f64),
            Reduce::SumAxis { axis, keep_dim } | Reduce::MeanAxis { axis, keep_dim } => {
                let split = split_at_axis(v.shape(), axis);
                let mut sums = sum_middle(v.data(), split);
                if matches!(self, Reduce::MeanAxis { .. }) {
                    sums.iter_mut().for_each(|s| *s /= split.len as f64);
                }
                Tensor::from_parts(sums, &reduced_shape(v.shape(), axis, keep_dim))
            }
        }
    }

    pub(crate) fn label(self) -> String {
        match self {
            Reduce::Sum => "sum".into(),
            Reduce::Mean => "mean".into(),
            Reduce::SumAxis { axis, .. } => format!("sum_axis({axis})"),
            Reduce::MeanAxis { axis, .. } => format!("mean_axis({axis})"),
        }
    }
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
    let y = f.forward(&x.value_ref());
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

/// `sum_axes(axes, keep_dim)` or `mean_axes(..)` (`mean`): reduces the axes where `kept` (the
/// output shape with the reduced axes as size 1) has size 1 and the input does not.
#[derive(Clone, Debug)]
pub(crate) struct ReduceAxes {
    // Boxed slices, not `Shape`s: every node is as large as the largest op (see `Op`).
    axes: Box<[usize]>,
    mean: bool,
    kept: Box<[usize]>,
}

impl Rule for ReduceAxes {
    fn name(&self) -> String {
        format!("{}_axes({:?})", if self.mean { "mean" } else { "sum" }, self.axes)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    /// As for one axis: every input element contributed with weight 1 (or `1/n`, `n` the
    /// number of elements reduced into each output), so `dx` is `g` (or `g/n`) copied back
    /// along the reduced axes: broadcasting `g` (with the axes kept) to the input's shape.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let (shape, g) = (cx.input_shape(0), cx.upstream());
            let mut dx = expand(g.data(), &self.kept, shape);
            if self.mean {
                let n = (numel(shape) / numel(&self.kept).max(1)) as f64;
                dx.iter_mut().for_each(|d| *d /= n);
            }
            Tensor::from_parts(dx, shape)
        });
    }

    /// The same broadcast, recorded: `g` reshaped to `kept` (the reduced axes as size 1),
    /// divided by `n` for a mean, broadcast to the input's shape.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let shape = cx.input_shape(0);
            let g = cx.upstream().reshape(&self.kept);
            let g = if self.mean { g / (numel(&shape) / numel(&self.kept).max(1)) as f64 } else { g };
            g.broadcast_to(&shape)
        });
    }
}

/// Sum or mean over `axes` (all of them when `axes` is empty, as PyTorch's `dim=[]`).
#[track_caller]
fn reduce_axes<'t>(x: Var<'t>, axes: &[impl Axis], keep_dim: bool, mean: bool) -> Var<'t> {
    let (y, axes, kept) = sum_over_axes(&x.value_ref(), axes, keep_dim, mean);
    x.tape.record(ReduceAxes { axes: axes.as_slice().into(), mean, kept: kept.as_slice().into() }, &[x], y)
}

/// The forward of `sum_axes` / `mean_axes` on a plain tensor: the value, the axes resolved
/// (`-1` is the last) and the shape with the reduced axes kept as size 1.
#[track_caller]
fn sum_over_axes(v: &Tensor, axes: &[impl Axis], keep_dim: bool, mean: bool) -> (Tensor, Shape, Shape) {
    let op = if mean { "mean_axes" } else { "sum_axes" };
    let shape = v.shape();
    let mut resolved = Shape::with_capacity(axes.len());
    for &axis in axes {
        let at = resolve_axis(op, axis, shape);
        assert!(!resolved.contains(&at), "{op}: axis {axis} appears twice in {axes:?} (input shape {shape:?})");
        resolved.push(at);
    }
    let reduced = |a: usize| resolved.is_empty() || resolved.contains(&a);
    let kept: Shape = shape.iter().enumerate().map(|(a, &n)| if reduced(a) { 1 } else { n }).collect();
    let mut y = sum_to(v.data(), shape, &kept);
    if mean {
        let n = (numel(shape) / numel(&kept).max(1)) as f64;
        y.iter_mut().for_each(|s| *s /= n);
    }
    let out: Shape = if keep_dim {
        kept.clone()
    } else {
        kept.iter().enumerate().filter(|&(a, _)| !reduced(a)).map(|(_, &n)| n).collect()
    };
    (Tensor::from_parts(y, &out), resolved, kept)
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

    /// Sums over `axis` (`-1`: the last); `keep_dim` keeps it as size 1 (handy for
    /// broadcasting back).
    #[track_caller]
    pub fn sum_axis(self, axis: impl Axis, keep_dim: bool) -> Var<'t> {
        let f = Reduce::over(false, axis, keep_dim, self.value_ref().shape());
        reduce(self, f)
    }

    /// Means over `axis` (`-1`: the last); `keep_dim` keeps it as size 1.
    #[track_caller]
    pub fn mean_axis(self, axis: impl Axis, keep_dim: bool) -> Var<'t> {
        let f = Reduce::over(true, axis, keep_dim, self.value_ref().shape());
        reduce(self, f)
    }

    /// Sums over several axes at once, as `torch.sum(x, dim=axes, keepdim)`; `keep_dim` keeps
    /// them as size 1. An empty `axes` sums over every axis (as PyTorch's `dim=[]`).
    ///
    /// Panics when an axis is out of range or appears twice.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::ones(&[2, 3, 4]));
    /// let y = x.sum_axes(&[0, 2], false);
    /// assert_eq!((y.shape(), y.value().data()), (vec![3], &[8.0, 8.0, 8.0][..]));
    /// assert_eq!(x.sum_axes(&[0, 2], true).shape(), [1, 3, 1]);
    /// ```
    #[track_caller]
    pub fn sum_axes(self, axes: &[impl Axis], keep_dim: bool) -> Var<'t> {
        reduce_axes(self, axes, keep_dim, false)
    }

    /// Means over several axes at once, as `torch.mean(x, dim=axes, keepdim)` (every axis when
    /// `axes` is empty). See [`Var::sum_axes`].
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::from_fn(&[2, 2], |ix| (2 * ix[0] + ix[1]) as f64));
    /// assert_eq!(x.mean_axes(&[0, 1], false).item(), 1.5);
    /// ```
    #[track_caller]
    pub fn mean_axes(self, axes: &[impl Axis], keep_dim: bool) -> Var<'t> {
        reduce_axes(self, axes, keep_dim, true)
    }
}

/// The same reductions on plain tensors, outside any tape: the `Var` ops' kernels, so the
/// values are the same to the bit. (`Tensor::sum` and `Tensor::mean`, over every element,
/// return an `f64`.)
impl Tensor {
    /// Sums over `axis` (`-1`: the last); `keep_dim` keeps it as size 1. See [`Var::sum_axis`].
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let t = Tensor::new(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(t.sum_axis(-1, false).data(), &[3.0, 7.0]);
    /// assert_eq!(t.sum_axis(0, true).shape(), &[1, 2]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn sum_axis(&self, axis: impl Axis, keep_dim: bool) -> Tensor {
        Reduce::over(false, axis, keep_dim, self.shape()).forward(self)
    }

    /// Means over `axis` (`-1`: the last); `keep_dim` keeps it as size 1.
    #[track_caller]
    pub fn mean_axis(&self, axis: impl Axis, keep_dim: bool) -> Tensor {
        Reduce::over(true, axis, keep_dim, self.shape()).forward(self)
    }

    /// Sums over several axes at once (every axis when `axes` is empty). See [`Var::sum_axes`].
    #[track_caller]
    pub fn sum_axes(&self, axes: &[impl Axis], keep_dim: bool) -> Tensor {
        sum_over_axes(self, axes, keep_dim, false).0
    }

    /// Means over several axes at once (every axis when `axes` is empty). See [`Var::mean_axes`].
    #[track_caller]
    pub fn mean_axes(&self, axes: &[impl Axis], keep_dim: bool) -> Tensor {
        sum_over_axes(self, axes, keep_dim, true).0
    }
}
