//! `softmax(axis)` and `log_softmax(axis)`, both stable (the lane's max is subtracted; see
//! [`kernels::softmax`](crate::kernels::softmax)). Both backward rules use the saved output.

use crate::buffer;
use crate::kernels::softmax as kernel;
use crate::ops::{Op, check_axis};
use crate::shape::split_at_axis;
use crate::tape::{GradSink, Var};
use crate::tensor::Tensor;

/// A lane kernel's view of the data: `[outer, len, inner]` around the axis.
type Split = (usize, usize, usize);

impl<'t> Var<'t> {
    /// `exp(x_i) / sum_j exp(x_j)` along `axis`.
    #[track_caller]
    pub fn softmax(self, axis: usize) -> Var<'t> {
        let y = lane_map(self, "softmax", axis, kernel::softmax);
        self.tape.record(Op::Softmax { x: self.id, axis }, y)
    }

    /// `x_i - log(sum_j exp(x_j))` along `axis`: the log of the softmax, computed without ever
    /// forming the softmax, so it stays finite where `softmax(..).log()` underflows to `-inf`.
    #[track_caller]
    pub fn log_softmax(self, axis: usize) -> Var<'t> {
        let y = lane_map(self, "log_softmax", axis, kernel::log_softmax);
        self.tape.record(Op::LogSoftmax { x: self.id, axis }, y)
    }
}

/// Applies a lane kernel to `x` along `axis`.
#[track_caller]
fn lane_map(x: Var<'_>, op: &str, axis: usize, kernel: fn(&[f64], &mut [f64], Split)) -> Tensor {
    let v = x.value_ref();
    check_axis(op, axis, v.shape());
    let mut y = buffer::zeroed(v.numel());
    kernel(v.data(), &mut y, split_at_axis(v.shape(), axis));
    Tensor::from_parts(y, v.shape())
}

/// Softmax backward. With `y = softmax(x)`, the Jacobian is `dy_i/dx_j = y_i ([i=j] - y_j)`,
/// i.e. `diag(y) - y y^T`. It is symmetric, so
/// `dx_j = sum_i g_i y_i ([i=j] - y_j) = y_j (g_j - sum_i g_i y_i)`: one dot product per lane,
/// never the full Jacobian.
pub(crate) fn softmax_backward(x_id: usize, axis: usize, y: &Tensor, g: &Tensor, sink: &mut GradSink) {
    lane_backward(x_id, axis, y, g, sink, kernel::softmax_backward);
}

/// Log-softmax backward. With `y = x - lse(x)`, `dy_i/dx_j = [i=j] - p_j` where
/// `p = softmax(x) = exp(y)`; so `dx_j = g_j - p_j sum_i g_i`.
pub(crate) fn log_softmax_backward(x_id: usize, axis: usize, y: &Tensor, g: &Tensor, sink: &mut GradSink) {
    lane_backward(x_id, axis, y, g, sink, kernel::log_softmax_backward);
}

fn lane_backward(
    x_id: usize,
    axis: usize,
    y: &Tensor,
    g: &Tensor,
    sink: &mut GradSink,
    kernel: fn(&[f64], &[f64], &mut [f64], Split),
) {
    if !sink.wants(x_id) {
        return;
    }
    let mut dx = buffer::zeroed(y.numel());
    kernel(y.data(), g.data(), &mut dx, split_at_axis(y.shape(), axis));
    sink.add(x_id, Tensor::from_parts(dx, y.shape()));
}
