//! Losses over logits / log-probabilities whose LAST axis is the class axis, one target per
//! row (a row is one position of all the other axes), averaged over rows.
//!
//! - `cross_entropy`: the fused node. Forward by log-sum-exp; backward writes
//!   `(softmax(x) - onehot) / rows` in one pass.
//! - `nll_loss`: `-mean x[row, target]`. The unfused paths are `softmax -> log -> nll_loss` and
//!   `log_softmax -> nll_loss`.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::kernels::cross_entropy as kernel;
use crate::tensor::Tensor;
use crate::tensor::buffer;

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
        self.tape.record(FusedCrossEntropy { targets: targets.to_vec(), logsumexp }, &[self], y)
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
        self.tape.record(NllLoss { targets: targets.to_vec() }, &[self], y)
    }
}

/// The fused softmax + cross-entropy node; keeps one log-sum-exp per row, not the
/// probabilities.
#[derive(Clone, Debug)]
pub(crate) struct FusedCrossEntropy {
    targets: Vec<usize>,
    logsumexp: Vec<f64>,
}

impl Rule for FusedCrossEntropy {
    fn name(&self) -> String {
        "cross_entropy".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().input(0).extra("targets", bytes_of(&self.targets)).extra("lse", bytes_of(&self.logsumexp))
    }

    /// Per row, with `p = softmax(x)` and `L = lse(x) - x_t`:
    /// `dL/dx_j = d lse/dx_j - [j=t] = exp(x_j - lse) - [j=t] = p_j - [j=t]`, because the
    /// derivative of log-sum-exp is the softmax. The mean over rows divides by `rows`; the
    /// upstream gradient `g` (a scalar) multiplies. So `dx = (P - onehot) * g / rows`, written
    /// in one pass with `P` recomputed from the saved `lse` (see `docs/derivation.md` for the
    /// longer route through the softmax Jacobian, and why the two agree).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let x = cx.input(0);
            let mut dx = buffer::zeroed(x.numel());
            let scale = cx.upstream().item() / self.targets.len() as f64;
            kernel::backward(x.data(), &self.logsumexp, &self.targets, scale, &mut dx);
            Tensor::from_parts(dx, x.shape())
        });
    }

    /// `dx = (softmax(x) - onehot) * (g / rows)`, recorded: the softmax is recomputed from `x`
    /// (so the second derivative is the softmax Jacobian) and the one-hot of the targets is a
    /// constant (so it drops out of every higher derivative).
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let (x, g, shape) = (cx.input(0), cx.upstream(), cx.input_shape(0));
            let onehot = cx.constant(onehot(&shape, &self.targets, 1.0));
            (x.softmax(shape.len() - 1) - onehot) * (g / self.targets.len() as f64)
        });
    }
}

/// Mean negative log-likelihood of the targets over the last axis.
#[derive(Clone, Debug)]
pub(crate) struct NllLoss {
    targets: Vec<usize>,
}

impl Rule for NllLoss {
    fn name(&self) -> String {
        "nll_loss".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("targets", bytes_of(&self.targets))
    }

    /// Only the picked entries get a gradient, `dx[r, t_r] = -g / rows`.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let shape = cx.input_shape(0);
            let classes = *shape.last().expect("checked in forward");
            let mut dx = buffer::zeroed(shape.iter().product());
            let scale = -cx.upstream().item() / self.targets.len() as f64;
            for (r, &t) in self.targets.iter().enumerate() {
                dx[r * classes + t] = scale;
            }
            Tensor::from_parts(dx, shape)
        });
    }

    /// `dx = onehot * (-g / rows)`, recorded, with the one-hot a constant.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let onehot = cx.constant(onehot(&cx.input_shape(0), &self.targets, 1.0));
            onehot * (-cx.upstream() / self.targets.len() as f64)
        });
    }
}

/// A tensor of `shape` (class axis last) holding `value` at each row's target, 0 elsewhere.
fn onehot(shape: &[usize], targets: &[usize], value: f64) -> Tensor {
    let classes = *shape.last().expect("checked in forward");
    let mut t = Tensor::zeros(shape);
    for (r, &target) in targets.iter().enumerate() {
        t.data_mut()[r * classes + target] = value;
    }
    t
}
