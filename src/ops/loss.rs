//! Losses over logits / log-probabilities whose LAST axis is the class axis, one target per
//! row (a row is one position of all the other axes), averaged over rows.
//!
//! - `cross_entropy`: the fused node. Forward by log-sum-exp; backward writes
//!   `(softmax(x) - onehot) / rows` in one pass.
//! - `nll_loss`: `-mean x[row, target]`. The unfused paths are `softmax -> log -> nll_loss` and
//!   `log_softmax -> nll_loss`.

use crate::buffer;
use crate::kernels::cross_entropy as kernel;
use crate::ops::Op;
use crate::tape::{GradSink, Var};
use crate::tensor::Tensor;

/// Checks the targets against the logits' shape and returns `(rows, classes)`.
#[track_caller]
fn rows_and_classes(op: &str, shape: &[usize], targets: &[usize]) -> (usize, usize) {
    let Some(&classes) = shape.last() else {
        panic!("{op}: input of shape {shape:?} has no class axis; it needs at least one axis");
    };
    let rows: usize = shape[..shape.len() - 1].iter().product();
    assert!(
        targets.len() == rows,
        "{op}: {} targets for input of shape {shape:?}, which has {rows} rows (one target per row)",
        targets.len()
    );
    if let Some((row, &target)) = targets.iter().enumerate().find(|&(_, &t)| t >= classes) {
        panic!("{op}: target {target} at row {row} is outside 0..{classes} for input of shape {shape:?}");
    }
    (rows, classes)
}

impl<'t> Var<'t> {
    /// Softmax cross-entropy of logits against class indices, averaged over rows: the FUSED
    /// node.
    ///
    /// `loss = mean_r (logsumexp(x[r]) - x[r, t_r])`. Stable for any logit magnitude, and it
    /// keeps only one number per row for backward.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let logits = tape.var(Tensor::new(vec![2.0, 0.0, 0.0, 0.0, 2.0, 0.0], &[2, 3])?);
    /// let loss = logits.cross_entropy(&[0, 1]);
    /// let grads = loss.backward();
    /// // The gradient of each row is (softmax - onehot) / rows.
    /// let p = logits.softmax(1).value();
    /// assert!((grads.wrt(logits).unwrap().get(&[0, 0]) - (p.get(&[0, 0]) - 1.0) / 2.0).abs() < 1e-15);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn cross_entropy(self, targets: &[usize]) -> Var<'t> {
        let (y, logsumexp) = {
            let v = self.value_ref();
            let (rows, classes) = rows_and_classes("cross_entropy", v.shape(), targets);
            let (logsumexp, loss_sum) = kernel::forward(v.data(), classes, targets);
            (Tensor::scalar(loss_sum / rows as f64), logsumexp)
        };
        self.tape.record(Op::CrossEntropy { x: self.id, targets: targets.to_vec(), logsumexp }, y)
    }

    /// Negative log-likelihood of log-probabilities, averaged over rows: `-mean_r x[r, t_r]`.
    #[track_caller]
    pub fn nll_loss(self, targets: &[usize]) -> Var<'t> {
        let y = {
            let v = self.value_ref();
            let (rows, classes) = rows_and_classes("nll_loss", v.shape(), targets);
            let picked: f64 = targets.iter().enumerate().map(|(r, &t)| v.data()[r * classes + t]).sum();
            Tensor::scalar(-picked / rows as f64)
        };
        self.tape.record(Op::NllLoss { x: self.id, targets: targets.to_vec() }, y)
    }
}

/// Fused cross-entropy backward. Per row, with `p = softmax(x)` and `L = lse(x) - x_t`:
/// `dL/dx_j = d lse/dx_j - [j=t] = exp(x_j - lse) - [j=t] = p_j - [j=t]`, because the
/// derivative of log-sum-exp is the softmax. The mean over rows divides by `rows`; the
/// upstream gradient `g` (a scalar) multiplies. So `dx = (P - onehot) * g / rows`, written in
/// one pass with `P` recomputed from the saved `lse` (see `docs/derivation.md` for the
/// longer route through the softmax Jacobian, and why the two agree).
pub(crate) fn cross_entropy_backward(
    x_id: usize,
    x: &Tensor,
    targets: &[usize],
    logsumexp: &[f64],
    g: &Tensor,
    sink: &mut GradSink,
) {
    if !sink.wants(x_id) {
        return;
    }
    let mut dx = buffer::zeroed(x.numel());
    kernel::backward(x.data(), logsumexp, targets, g.item() / targets.len() as f64, &mut dx);
    sink.add(x_id, Tensor::from_parts(dx, x.shape()));
}

/// NLL backward: only the picked entries get a gradient, `dx[r, t_r] = -g / rows`.
pub(crate) fn nll_backward(x_id: usize, x: &Tensor, targets: &[usize], g: &Tensor, sink: &mut GradSink) {
    if !sink.wants(x_id) {
        return;
    }
    let classes = *x.shape().last().expect("checked in forward");
    let mut dx = buffer::zeroed(x.numel());
    let scale = -g.item() / targets.len() as f64;
    for (r, &t) in targets.iter().enumerate() {
        dx[r * classes + t] = scale;
    }
    sink.add(x_id, Tensor::from_parts(dx, x.shape()));
}
