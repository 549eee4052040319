//! `kl_div`: the Kullback-Leibler divergence of a target distribution from the input's, as
//! PyTorch's `F.kl_div`: the input is log-probabilities, the target probabilities (or
//! log-probabilities with `log_target`). Fused: one node.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::ops::loss::{KlDiv, KlReduction, Reduced, Reduction};
use crate::tensor::Tensor;
use crate::tensor::buffer;

/// `t ln t` with `0 ln 0 = 0` (PyTorch's `xlogy(t, t)`).
fn t_log_t(t: f64) -> f64 {
    if t == 0.0 { 0.0 } else { t * t.ln() }
}

/// `d/dt (t ln t) = ln t + t / t`, as PyTorch's `xlogy` backward computes it: at `t = 0` (and
/// `t = inf`) the quotient `t / t` is NaN, so the gradient there is NaN, as PyTorch's.
fn xlogy_derivative(t: f64) -> f64 {
    if t == 0.0 || t.is_infinite() { f64::NAN } else { t.ln() + 1.0 }
}

impl<'t> Var<'t> {
    /// `KL(target || input)` pointwise, as PyTorch's `F.kl_div(input, target)`, with `self`
    /// the log-probabilities `x`: `t (ln t - x)` (`0` where `t = 0`), or with
    /// `log_target(true)` `e^t (t - x)`; reduced as [`KlDiv`] says (`batchmean` is the sum
    /// over the first axis' size, the true KL divergence per sample; the default mean over
    /// all elements is PyTorch's default, kept for parity). One fused node.
    ///
    /// Gradients, times `g / D`: to `x`, `-t` (or `-e^t`); to the target, `ln t + 1 - x` (or
    /// `e^t (t - x + 1)`). Where a probability target is exactly 0 its gradient is NaN, as
    /// PyTorch's (the derivative of `t ln t` is `-inf` there).
    ///
    /// Panics, naming both shapes, unless the target has the input's shape.
    ///
    /// ```
    /// use tapegrad::{KlDiv, Tape, Tensor};
    /// let tape = Tape::new();
    /// let logp = tape.var(Tensor::new(vec![0.25f64.ln(), 0.75f64.ln()], &[1, 2])?);
    /// let t = tape.constant(Tensor::new(vec![0.5, 0.5], &[1, 2])?);
    /// let kl = logp.kl_div(t, &KlDiv::new().batchmean());
    /// let expected = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
    /// assert!((kl.item() - expected).abs() < 1e-15);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn kl_div(self, target: Var<'t>, opts: &KlDiv) -> Var<'t> {
        let (value, node) = {
            let (x, t) = (self.value_ref(), target.value_ref());
            assert!(
                x.shape() == t.shape(),
                "kl_div: target of shape {:?} for input of shape {:?} (they must have the same shape)",
                t.shape(),
                x.shape()
            );
            let pointwise =
                |(&x, &t): (&f64, &f64)| if opts.log_target { t.exp() * (t - x) } else { t_log_t(t) - t * x };
            let losses = x.data().iter().zip(t.data()).map(pointwise).collect();
            let (reduction, divisor) = match opts.reduction {
                KlReduction::Mean => (Reduction::Mean, x.numel() as f64),
                KlReduction::Sum => (Reduction::Sum, 1.0),
                KlReduction::None => (Reduction::None, 1.0),
                // PyTorch: the sum over the batch size, or the plain sum for a 0-d input.
                KlReduction::BatchMean => (Reduction::Mean, x.shape().first().map_or(1.0, |&b| b as f64)),
            };
            let reduced = Reduced::new(reduction, divisor);
            (reduced.output(losses, x.shape()), KlDivLoss { opts: *opts, reduced })
        };
        self.tape.record(node, &[self, target], value)
    }
}

/// The fused KL divergence node (inputs: log-probabilities, target).
#[derive(Clone, Debug)]
pub(crate) struct KlDivLoss {
    opts: KlDiv,
    reduced: Reduced,
}

impl Rule for KlDivLoss {
    fn name(&self) -> String {
        let reduction = match self.opts.reduction {
            KlReduction::BatchMean => "batchmean",
            _ => self.reduced.reduction.name(),
        };
        if self.opts.log_target { format!("kl_div({reduction}, log_target)") } else { format!("kl_div({reduction})") }
    }

    fn saved(&self, wants: Wants<'_>) -> Saved {
        // dx reads only the target; dt reads both.
        Saved::nothing().input(1).input_if(wants.input(1), 0)
    }

    /// Pointwise `l = t ln t - t x`: `dl/dx = -t`, `dl/dt = ln t + 1 - x`. With log targets
    /// `l = e^t (t - x)`: `dl/dx = -e^t`, `dl/dt = e^t (t - x) + e^t`. Both times `g / D`.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let log_target = self.opts.log_target;
        cx.add_with(0, |cx| {
            let t = cx.input(1);
            let scale = self.reduced.scale(cx.upstream());
            let values = t.data().iter().enumerate();
            let dx = values.map(|(i, &t)| -scale.at(i) * if log_target { t.exp() } else { t });
            Tensor::from_parts(buffer::collect(t.numel(), dx), t.shape())
        });
        cx.add_with(1, |cx| {
            let (x, t) = (cx.input(0), cx.input(1));
            let scale = self.reduced.scale(cx.upstream());
            let values = x.data().iter().zip(t.data()).enumerate();
            let dt = values.map(|(i, (&x, &t))| {
                scale.at(i) * if log_target { t.exp() * (t - x + 1.0) } else { xlogy_derivative(t) - x }
            });
            Tensor::from_parts(buffer::collect(t.numel(), dt), t.shape())
        });
    }

    /// The same, recorded: `dx = -t s` (`-e^t s` with log targets) and
    /// `dt = (ln t + 1 - x) s` (`e^t (t - x + 1) s`), `s` the upstream share `g / D`. Where
    /// `t` is 0 or infinite the fast backward's `dt` is NaN (PyTorch's xlogy derivative there);
    /// the recorded one is filled with NaN at the same places.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        let log_target = self.opts.log_target;
        let t = cx.input(1);
        let scale = self.reduced.graph_scale(cx.upstream(), &cx.input_shape(1));
        cx.add_with(0, |_| -(if log_target { t.exp() } else { t }) * scale);
        cx.add_with(1, |cx| {
            let x = cx.input(0);
            if log_target {
                let e = t.exp();
                e * (t - x + 1.0) * scale
            } else {
                let dt = (t.log() + 1.0 - x) * scale;
                let tv = t.value();
                if tv.data().iter().any(|&e| e == 0.0 || e.is_infinite()) {
                    dt.masked_fill(&tv.map(|e| if e == 0.0 || e.is_infinite() { 1.0 } else { 0.0 }), f64::NAN)
                } else {
                    dt
                }
            }
        });
    }
}
