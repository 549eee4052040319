//! `logsumexp(axis, keep_dim)`: `ln(sum(exp(x)))` along one axis, fused and stable (see
//! [`kernels::logsumexp`](crate::kernels::logsumexp)); its gradient is the softmax.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::kernels::logsumexp as kernel;
use crate::ops::resolve_axis;
use crate::tensor::Tensor;
use crate::tensor::axis::Axis;
use crate::tensor::buffer;
use crate::tensor::shape::reduced_shape;
use crate::tensor::shape::split_at_axis;

impl<'t> Var<'t> {
    /// `ln(sum_i exp(x_i))` along `axis`, as PyTorch's `torch.logsumexp`: stable for any
    /// magnitude (the max is subtracted; a lane of `-inf` gives `-inf`). `keep_dim` keeps the
    /// axis with size 1. One node; its gradient is `g * softmax(x)` along the axis.
    ///
    /// Panics, naming the shape, when `axis` is out of range.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![1000.0, 1000.0, 0.0, 0.0], &[2, 2])?);
    /// let lse = x.logsumexp(1, false);
    /// assert_eq!(lse.value().data(), &[1000.0 + 2f64.ln(), 2f64.ln()]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn logsumexp(self, axis: impl Axis, keep_dim: bool) -> Var<'t> {
        let v = self.value_ref();
        let axis = resolve_axis("logsumexp", axis, v.shape());
        let y = v.logsumexp(axis, keep_dim);
        drop(v);
        self.tape.record(LogSumExp { axis, keep_dim }, &[self], y)
    }
}

impl Tensor {
    /// `ln(sum_i exp(x_i))` along `axis` (`-1`: the last), outside any tape: the kernel of
    /// [`Var::logsumexp`], the same values to the bit.
    #[track_caller]
    pub fn logsumexp(&self, axis: impl Axis, keep_dim: bool) -> Tensor {
        let axis = resolve_axis("logsumexp", axis, self.shape());
        let split = split_at_axis(self.shape(), axis);
        let mut y = buffer::zeroed(split.outer * split.inner);
        kernel::forward(self.data(), &mut y, split);
        Tensor::from_parts(y, &reduced_shape(self.shape(), axis, keep_dim))
    }
}

/// `logsumexp(axis)`: backward reads the input and the output.
#[derive(Clone, Debug)]
pub(crate) struct LogSumExp {
    axis: usize,
    keep_dim: bool,
}

impl Rule for LogSumExp {
    fn name(&self) -> String {
        if self.keep_dim { format!("logsumexp({}, keep_dim)", self.axis) } else { format!("logsumexp({})", self.axis) }
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().input(0).output()
    }

    /// `d/dx_i ln sum_j e^{x_j} = e^{x_i} / sum_j e^{x_j} = exp(x_i - lse)`: the softmax, each
    /// lane times its own upstream gradient.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let x = cx.input(0);
            let split = split_at_axis(x.shape(), self.axis);
            let mut dx = buffer::zeroed(x.numel());
            kernel::backward(x.data(), cx.output().data(), cx.upstream().data(), &mut dx, split);
            Tensor::from_parts(dx, x.shape())
        });
    }

    /// `dx = exp(x - lse) * g`, recorded, with `lse` (the output, itself a function of `x`)
    /// and `g` given back their reduced axis (size 1) so that they broadcast along it: the
    /// fast backward's (and PyTorch's) formula, so both agree where it is not the softmax
    /// (NaN beside `inf`, not NaN everywhere; 1 and 1 at `[-1e20, -1e20]`, whose `lse` absorbs
    /// `ln 2`). Through `lse` the second derivative is the softmax's Jacobian
    /// `diag(p) - p p^T` along the axis.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let (x, shape) = (cx.input(0), cx.input_shape(0));
            let mut kept = shape;
            kept[self.axis] = 1;
            cx.upstream().reshape(&kept) * (x - cx.output().reshape(&kept)).exp()
        });
    }
}
