//! `var_axis` and `std_axis`: the variance and standard deviation along an axis, with
//! PyTorch's `correction` (the divisor is `max(n - correction, 0)`: 1 gives the unbiased
//! sample variance, PyTorch's default; 0 the population variance).

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::ops::resolve_axis;
use crate::tensor::Tensor;
use crate::tensor::axis::Axis;
use crate::tensor::buffer::{self, Data};
use crate::tensor::shape::{AxisSplit, reduced_shape, split_at_axis};

/// `var_axis(axis, correction)` or, with `std`, `std_axis(..)`.
#[derive(Clone, Debug)]
pub(crate) struct Moments {
    axis: usize,
    correction: usize,
    std: bool,
}

impl Moments {
    fn label(&self) -> &'static str {
        if self.std { "std_axis" } else { "var_axis" }
    }
}

/// The mean of each lane along the middle axis of `[outer, len, inner]`.
fn lane_means(x: &[f64], AxisSplit { outer, len, inner }: AxisSplit) -> Data {
    let mut mean = buffer::zeroed(outer * inner);
    for o in 0..outer {
        for i in 0..len {
            for k in 0..inner {
                mean[o * inner + k] += x[(o * len + i) * inner + k];
            }
        }
    }
    mean.iter_mut().for_each(|m| *m /= len as f64);
    mean
}

impl Rule for Moments {
    fn name(&self) -> String {
        format!("{}({}, correction={})", self.label(), self.axis, self.correction)
    }

    /// The input (for `x - mean`), and for `std` its own output.
    fn saved(&self, _: Wants<'_>) -> Saved {
        let saved = Saved::nothing().input(0);
        if self.std { saved.output() } else { saved }
    }

    /// `var = sum_i (x_i - m)^2 / d` with `m` the lane's mean and `d = max(n - correction, 0)`:
    /// `dvar/dx_j = 2 (x_j - m) / d` (the terms through `m` cancel, since
    /// `sum_i (x_i - m) = 0`). `std = sqrt(var)`: `dstd/dx_j = (x_j - m) / (d std)`, and 0
    /// where `std = 0` (a constant lane), as PyTorch masks it.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let (x, g) = (cx.input(0), cx.upstream());
            let split = split_at_axis(x.shape(), self.axis);
            let AxisSplit { outer, len, inner } = split;
            let divisor = (len as f64 - self.correction as f64).max(0.0);
            let mean = lane_means(x.data(), split);
            // The factor of (x_j - m) per lane.
            let factor: Vec<f64> = if self.std {
                let s = cx.output().data();
                g.data().iter().zip(s).map(|(&gk, &sk)| if sk == 0.0 { 0.0 } else { gk / (divisor * sk) }).collect()
            } else {
                g.data().iter().map(|&gk| 2.0 * gk / divisor).collect()
            };
            let mut dx = buffer::zeroed(x.numel());
            for o in 0..outer {
                for i in 0..len {
                    for k in 0..inner {
                        let at = (o * len + i) * inner + k;
                        dx[at] = factor[o * inner + k] * (x.data()[at] - mean[o * inner + k]);
                    }
                }
            }
            Tensor::from_parts(dx, x.shape())
        });
    }

    /// The same formula in ops: `dx = f * (x - mean_axis(x))` with the per-lane factor
    /// `f = 2 g / d` (var) or `g / (d std)` (std, the output, differentiated through too).
    /// For std the lanes where `std = 0` are a constant mask: their factor is filled with 0,
    /// and their denominator with 1 first, so that no `0 * inf` reaches the second derivative.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let (x, shape) = (cx.input(0), cx.input_shape(0));
            let kept = reduced_shape(&shape, self.axis, true);
            let divisor = (shape[self.axis] as f64 - self.correction as f64).max(0.0);
            let g = cx.upstream().reshape(&kept);
            let factor = if self.std {
                let s = cx.output().reshape(&kept);
                let flat = s.value_ref().map(|sk| if sk == 0.0 { 1.0 } else { 0.0 });
                (g / (s * divisor).masked_fill(&flat, 1.0)).masked_fill(&flat, 0.0)
            } else {
                g * 2.0 / divisor
            };
            factor * (x - x.mean_axis(self.axis, true))
        });
    }
}

#[track_caller]
fn moments<'t>(x: Var<'t>, axis: impl Axis, correction: usize, keep_dim: bool, std: bool) -> Var<'t> {
    let (op, y) = moments_forward(&x.value_ref(), axis, correction, keep_dim, std);
    x.tape.record(op, &[x], y)
}

/// The forward of `var_axis` / `std_axis` on a plain tensor (the `Var` op and the `Tensor`
/// method share it), with the node it records (the axis resolved: `-1` is the last).
#[track_caller]
fn moments_forward(v: &Tensor, axis: impl Axis, correction: usize, keep_dim: bool, std: bool) -> (Moments, Tensor) {
    let axis = resolve_axis(if std { "std_axis" } else { "var_axis" }, axis, v.shape());
    let op = Moments { axis, correction, std };
    let y = {
        let split = split_at_axis(v.shape(), axis);
        let AxisSplit { outer, len, inner } = split;
        // Two passes (mean, then squared deviations): exact for constant lanes, unlike
        // `E[x^2] - E[x]^2`.
        let mean = lane_means(v.data(), split);
        let mut out = buffer::zeroed(outer * inner);
        for o in 0..outer {
            for i in 0..len {
                for k in 0..inner {
                    let d = v.data()[(o * len + i) * inner + k] - mean[o * inner + k];
                    out[o * inner + k] += d * d;
                }
            }
        }
        let divisor = (len as f64 - correction as f64).max(0.0);
        out.iter_mut().for_each(|s| *s = if std { (*s / divisor).sqrt() } else { *s / divisor });
        Tensor::from_parts(out, &reduced_shape(v.shape(), axis, keep_dim))
    };
    (op, y)
}

impl<'t> Var<'t> {
    /// The variance along `axis`, as `torch.var(x, dim, correction=correction, keepdim)`:
    /// `sum (x - mean)^2 / max(n - correction, 0)`. `correction = 1` is PyTorch's default (the
    /// unbiased sample variance), 0 the population variance. A divisor of 0 gives `inf` (or
    /// NaN for a constant lane), as PyTorch.
    ///
    /// Panics when the axis is out of range.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![1.0, 2.0, 3.0], &[3])?);
    /// assert_eq!(x.var_axis(0, 1, false).item(), 1.0); // (1 + 0 + 1) / (3 - 1)
    /// assert_eq!(x.var_axis(0, 0, false).item(), 2.0 / 3.0);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn var_axis(self, axis: impl Axis, correction: usize, keep_dim: bool) -> Var<'t> {
        moments(self, axis, correction, keep_dim, false)
    }

    /// The standard deviation along `axis`, as `torch.std(x, dim, correction=correction,
    /// keepdim)`: the square root of [`Var::var_axis`]. Its gradient is 0 on a constant lane
    /// (where the square root is not differentiable), as PyTorch.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![2.0, 4.0], &[2])?);
    /// assert_eq!(x.std_axis(0, 0, false).item(), 1.0);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn std_axis(self, axis: impl Axis, correction: usize, keep_dim: bool) -> Var<'t> {
        moments(self, axis, correction, keep_dim, true)
    }
}

impl Tensor {
    /// The variance along `axis` (`-1`: the last) with PyTorch's `correction`, outside any
    /// tape: [`Var::var_axis`]'s kernel, the same values to the bit.
    #[track_caller]
    pub fn var_axis(&self, axis: impl Axis, correction: usize, keep_dim: bool) -> Tensor {
        moments_forward(self, axis, correction, keep_dim, false).1
    }

    /// The standard deviation along `axis` (`-1`: the last), outside any tape (see
    /// [`Var::std_axis`]).
    #[track_caller]
    pub fn std_axis(&self, axis: impl Axis, correction: usize, keep_dim: bool) -> Tensor {
        moments_forward(self, axis, correction, keep_dim, true).1
    }
}
