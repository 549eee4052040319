//! `max_axis` and `min_axis`: the extremum along an axis, whose gradient goes to where it was.
//! The search (first on ties, the first NaN wins) is `kernels::extrema::arg_extreme`, shared
//! with `Tensor::argmax_axis` / `argmin_axis`.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::kernels::extrema::arg_extreme;
use crate::ops::resolve_axis;
use crate::tensor::Tensor;
use crate::tensor::axis::Axis;
use crate::tensor::buffer;
use crate::tensor::shape::{AxisSplit, reduced_shape, split_at_axis};

/// Which extremum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Extremum {
    Max,
    Min,
}

impl Extremum {
    fn name(self) -> &'static str {
        match self {
            Extremum::Max => "max",
            Extremum::Min => "min",
        }
    }
}

/// `max_axis(axis)` or `min_axis(axis)`: remembers where each extremum was (its position along
/// the axis).
#[derive(Clone, Debug)]
pub(crate) struct ExtremumAxis {
    axis: usize,
    which: Extremum,
    arg: Vec<usize>,
}

impl Rule for ExtremumAxis {
    fn name(&self) -> String {
        format!("{}_axis({})", self.which.name(), self.axis)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra(if self.which == Extremum::Max { "argmax" } else { "argmin" }, bytes_of(&self.arg))
    }

    /// The gradient goes to the arg-extremum only (the first one on ties, as PyTorch's
    /// `max(dim)` / `min(dim)`), because the extremum is locally equal to that one input:
    /// `dx[o, arg[o, k], k] = g[o, k]`, zero elsewhere.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let (shape, g) = (cx.input_shape(0), cx.upstream());
            let AxisSplit { outer, len, inner } = split_at_axis(shape, self.axis);
            let mut dx = buffer::zeroed(outer * len * inner);
            for o in 0..outer {
                for k in 0..inner {
                    dx[(o * len + self.arg[o * inner + k]) * inner + k] += g.data()[o * inner + k];
                }
            }
            Tensor::from_parts(dx, shape)
        });
    }

    /// `g` broadcast back along the axis, with every element but the arg-extremum filled with
    /// 0 (the arg-extremum positions are a constant mask: they do not move under small
    /// changes; ties and NaN go where the fast rule sends them, the recorded `arg`).
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let shape = cx.input_shape(0);
            let AxisSplit { outer, len, inner } = split_at_axis(&shape, self.axis);
            let mut others = Tensor::ones(&shape);
            for o in 0..outer {
                for k in 0..inner {
                    others.data_mut()[(o * len + self.arg[o * inner + k]) * inner + k] = 0.0;
                }
            }
            let g = cx.upstream().reshape(&reduced_shape(&shape, self.axis, true));
            g.broadcast_to(&shape).masked_fill(&others, 0.0)
        });
    }
}

/// Forward of `max_axis` / `min_axis`.
#[track_caller]
fn extremum_axis(x: Var<'_>, axis: impl Axis, keep_dim: bool, which: Extremum) -> Var<'_> {
    let (y, axis, arg) = extremum_forward(&x.value_ref(), axis, keep_dim, which);
    x.tape.record(ExtremumAxis { axis, which, arg }, &[x], y)
}

/// The extrema along `axis` of a plain tensor (the `Var` op and the `Tensor` method share
/// it), the axis resolved (`-1` is the last), and where each extremum was along it.
#[track_caller]
fn extremum_forward(v: &Tensor, axis: impl Axis, keep_dim: bool, which: Extremum) -> (Tensor, usize, Vec<usize>) {
    let op = match which {
        Extremum::Max => "max_axis",
        Extremum::Min => "min_axis",
    };
    let axis = resolve_axis(op, axis, v.shape());
    let AxisSplit { outer, len, inner } = split_at_axis(v.shape(), axis);
    assert!(len > 0, "{op}: axis {axis} of shape {:?} is empty", v.shape());
    let (data, mut arg) = (v.data(), Vec::with_capacity(outer * inner));
    let mut best = buffer::with_capacity(outer * inner);
    for o in 0..outer {
        for k in 0..inner {
            let start = o * len * inner + k;
            let i = match which {
                Extremum::Max => arg_extreme(data, start, len, inner, |x, b| x > b),
                Extremum::Min => arg_extreme(data, start, len, inner, |x, b| x < b),
            };
            arg.push(i);
            best.push(data[start + i * inner]);
        }
    }
    (Tensor::from_parts(best, &reduced_shape(v.shape(), axis, keep_dim)), axis, arg)
}

impl<'t> Var<'t> {
    /// The maximum over `axis`. Its gradient goes to the arg-max (the first, on ties). A NaN
    /// along the axis makes the maximum NaN, and the gradient goes to the first NaN (as
    /// PyTorch).
    #[track_caller]
    pub fn max_axis(self, axis: impl Axis, keep_dim: bool) -> Var<'t> {
        extremum_axis(self, axis, keep_dim, Extremum::Max)
    }

    /// The minimum over `axis`, as `torch.min(x, dim, keepdim).values`. Its gradient goes to
    /// the arg-min (the first, on ties). A NaN along the axis makes the minimum NaN, and the
    /// gradient goes to the first NaN (as PyTorch).
    ///
    /// Panics when the axis is out of range or empty.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![3.0, 1.0, 1.0, 2.0], &[2, 2])?);
    /// let m = x.min_axis(1, false);
    /// assert_eq!(m.value().data(), &[1.0, 1.0]);
    /// assert_eq!(m.sum().backward().wrt(x).unwrap().data(), &[0.0, 1.0, 1.0, 0.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn min_axis(self, axis: impl Axis, keep_dim: bool) -> Var<'t> {
        extremum_axis(self, axis, keep_dim, Extremum::Min)
    }
}

impl Tensor {
    /// The maximum over `axis` (`-1`: the last), outside any tape: [`Var::max_axis`]'s
    /// kernel (NaN wins, as PyTorch). Panics when the axis is out of range or empty.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let t = Tensor::new(vec![3.0, 1.0, 1.0, 2.0], &[2, 2])?;
    /// assert_eq!(t.max_axis(-1, false).data(), &[3.0, 2.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn max_axis(&self, axis: impl Axis, keep_dim: bool) -> Tensor {
        extremum_forward(self, axis, keep_dim, Extremum::Max).0
    }

    /// The minimum over `axis` (`-1`: the last), outside any tape (see [`Var::min_axis`]).
    #[track_caller]
    pub fn min_axis(&self, axis: impl Axis, keep_dim: bool) -> Tensor {
        extremum_forward(self, axis, keep_dim, Extremum::Min).0
    }
}
