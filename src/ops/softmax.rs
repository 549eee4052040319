//! `softmax(axis)` and `log_softmax(axis)`, both stable (the lane's max is subtracted; see
//! [`kernels::softmax`](crate::kernels::softmax)). Both backward rules use the saved output.

use crate::autograd::slip::zip_with;
use crate::autograd::{BackwardCx, GraphCx, OpSlip, Rule, Saved, SlipCx, SlipKind, Var, Wants};
use crate::kernels::softmax as kernel;
use crate::ops::resolve_axis;
use crate::tensor::Tensor;
use crate::tensor::axis::Axis;
use crate::tensor::buffer;
use crate::tensor::shape::{AxisSplit as Split, split_at_axis};

impl<'t> Var<'t> {
    /// `exp(x_i) / sum_j exp(x_j)` along `axis` (`-1`: the last).
    #[track_caller]
    pub fn softmax(self, axis: impl Axis) -> Var<'t> {
        let v = self.value_ref();
        let axis = resolve_axis("softmax", axis, v.shape());
        let y = v.softmax(axis);
        drop(v);
        self.tape.record(Softmax { axis }, &[self], y)
    }

    /// `x_i - log(sum_j exp(x_j))` along `axis`: the log of the softmax, computed without ever
    /// forming the softmax, so it stays finite where `softmax(..).log()` underflows to `-inf`.
    #[track_caller]
    pub fn log_softmax(self, axis: impl Axis) -> Var<'t> {
        let v = self.value_ref();
        let axis = resolve_axis("log_softmax", axis, v.shape());
        let y = v.log_softmax(axis);
        drop(v);
        self.tape.record(LogSoftmax { axis }, &[self], y)
    }
}

impl Tensor {
    /// `exp(x_i) / sum_j exp(x_j)` along `axis` (`-1`: the last), outside any tape: the same
    /// kernel as [`Var::softmax`], the same values to the bit.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let p = Tensor::new(vec![0.0, 0.0, 1.0, 1.0], &[2, 2])?.softmax(-1);
    /// assert_eq!(p.data(), &[0.5, 0.5, 0.5, 0.5]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn softmax(&self, axis: impl Axis) -> Tensor {
        lane_map(self, "softmax", axis, kernel::softmax)
    }

    /// `x_i - log(sum_j exp(x_j))` along `axis`, outside any tape (see [`Var::log_softmax`]).
    #[track_caller]
    pub fn log_softmax(&self, axis: impl Axis) -> Tensor {
        lane_map(self, "log_softmax", axis, kernel::log_softmax)
    }
}

/// Applies a lane kernel to `v` along `axis`.
#[track_caller]
fn lane_map(v: &Tensor, op: &str, axis: impl Axis, kernel: fn(&[f64], &mut [f64], Split)) -> Tensor {
    let axis = resolve_axis(op, axis, v.shape());
    // Every lane's every element is written.
    let mut y = buffer::scratch(v.numel());
    kernel(v.data(), &mut y, split_at_axis(v.shape(), axis));
    Tensor::from_parts(y, v.shape())
}

/// `softmax(axis)`: backward reads the saved output.
#[derive(Clone, Debug)]
pub(crate) struct Softmax {
    axis: usize,
}

impl Rule for Softmax {
    fn name(&self) -> String {
        format!("softmax({})", self.axis)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().output()
    }

    /// With `y = softmax(x)`, the Jacobian is `dy_i/dx_j = y_i ([i=j] - y_j)`, i.e.
    /// `diag(y) - y y^T`. It is symmetric, so
    /// `dx_j = sum_i g_i y_i ([i=j] - y_j) = y_j (g_j - sum_i g_i y_i)`: one dot product per
    /// lane, never the full Jacobian.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| lane_backward(cx, self.axis, kernel::softmax_backward));
    }

    /// `dx = y (g - sum(g y))`, recorded (`y` is the node itself, a function of `x`).
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let (y, g) = (cx.output(), cx.upstream());
            y * (g - (g * y).sum_axis(self.axis, true))
        });
    }

    /// Softmax's Jacobian `diag(p) - p p^T` without its off-diagonal part: the whole
    /// `-p p^T` term dropped (`dx = p g`), or every `-p_i p_j` with `i != j` dropped and the
    /// diagonal `p_j (1 - p_j)` kept.
    fn slips(&self, cx: &SlipCx<'_>) -> Vec<OpSlip> {
        let (p, g, y) = (cx.output(), cx.upstream(), cx.out_name());
        [
            cx.slip(
                0,
                SlipKind::DroppedTerm,
                format!("p dL/d{y} instead of p (dL/d{y} - sum(p dL/d{y})): the -p p^T term of softmax's Jacobian dropped"),
                || zip_with(p, g, |p, g| p * g),
            ),
            cx.slip(
                0,
                SlipKind::DroppedTerm,
                format!("p (1 - p) dL/d{y}, the Jacobian's diagonal alone, instead of the whole Jacobian diag(p) - p p^T: its off-diagonal terms -p_i p_j dropped"),
                || zip_with(p, g, |p, g| p * (1.0 - p) * g),
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// `log_softmax(axis)`: backward reads the saved output.
#[derive(Clone, Debug)]
pub(crate) struct LogSoftmax {
    axis: usize,
}

impl Rule for LogSoftmax {
    fn name(&self) -> String {
        format!("log_softmax({})", self.axis)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().output()
    }

    /// With `y = x - lse(x)`, `dy_i/dx_j = [i=j] - p_j` where `p = softmax(x) = exp(y)`; so
    /// `dx_j = g_j - p_j sum_i g_i`.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| lane_backward(cx, self.axis, kernel::log_softmax_backward));
    }

    /// `dx = g - exp(y) sum(g)`, recorded.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let (y, g) = (cx.output(), cx.upstream());
            g - y.exp() * g.sum_axis(self.axis, true)
        });
    }

    /// Log-softmax's Jacobian `I - 1 p^T` without its off-diagonal part: the whole `-1 p^T`
    /// term dropped (`dx = g`), or the entries with `i != j` dropped and the diagonal
    /// `1 - p_j` kept.
    fn slips(&self, cx: &SlipCx<'_>) -> Vec<OpSlip> {
        let (logp, g, y) = (cx.output(), cx.upstream(), cx.out_name());
        [
            cx.slip(
                0,
                SlipKind::DroppedTerm,
                format!("dL/d{y} passed on unchanged instead of dL/d{y} - p sum(dL/d{y}): the -1 p^T term of log_softmax's Jacobian dropped"),
                || g.clone(),
            ),
            cx.slip(
                0,
                SlipKind::DroppedTerm,
                format!("(1 - p) dL/d{y}, the Jacobian's diagonal alone, instead of the whole Jacobian I - 1 p^T: its off-diagonal terms -p_j dropped"),
                || zip_with(logp, g, |lp, g| (1.0 - lp.exp()) * g),
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Runs a lane kernel's backward on the saved output and the upstream gradient.
fn lane_backward(cx: &BackwardCx<'_>, axis: usize, kernel: fn(&[f64], &[f64], &mut [f64], Split)) -> Tensor {
    let (y, g) = (cx.output(), cx.upstream());
    // Every lane's every element is written.
    let mut dx = buffer::scratch(y.numel());
    kernel(y.data(), g.data(), &mut dx, split_at_axis(y.shape(), axis));
    Tensor::from_parts(dx, y.shape())
}
