//! Regression losses on a prediction and a target of the same shape, fused: `mse_loss` and
//! `huber_loss`. Both are functions of `d = x - y` per element, and their gradients are the
//! residual (`2 d`) and the clipped residual (`clamp(d, -delta, delta)`).

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::ops::loss::{Reduced, Reduction};
use crate::tensor::Tensor;
use crate::tensor::buffer;

/// Which regression loss, with its parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Regression {
    /// `d^2`.
    Mse,
    /// `d^2 / 2` for `|d| <= delta`, `delta (|d| - delta / 2)` beyond.
    Huber(f64),
}

impl Regression {
    fn loss(self, d: f64) -> f64 {
        match self {
            Regression::Mse => d * d,
            Regression::Huber(delta) if d.abs() <= delta => 0.5 * d * d,
            Regression::Huber(delta) => delta * (d.abs() - 0.5 * delta),
        }
    }

    /// `dloss/dd`: `2 d`, or `d` clamped to `[-delta, delta]` (at `|d| = delta` both pieces
    /// give `d`; NaN stays NaN).
    fn derivative(self, d: f64) -> f64 {
        match self {
            Regression::Mse => 2.0 * d,
            Regression::Huber(delta) => d.clamp(-delta, delta),
        }
    }

    fn op(self) -> &'static str {
        match self {
            Regression::Mse => "mse_loss",
            Regression::Huber(_) => "huber_loss",
        }
    }
}

impl<'t> Var<'t> {
    /// Mean squared error, as PyTorch's `F.mse_loss`: `reduce((x - y)^2)` over all elements.
    /// One fused node; gradients `2 (x - y) g / D` to `x` and its negative to `y`.
    ///
    /// Panics, naming both shapes, unless the target has the input's shape (PyTorch broadcasts
    /// them with a warning that the result is likely wrong; tapegrad refuses).
    ///
    /// ```
    /// use tapegrad::{Reduction, Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![1.0, 2.0, 3.0], &[3])?);
    /// let y = tape.constant(Tensor::new(vec![1.0, 0.0, 0.0], &[3])?);
    /// assert_eq!(x.mse_loss(y, Reduction::Mean).item(), 13.0 / 3.0);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn mse_loss(self, target: Var<'t>, reduction: Reduction) -> Var<'t> {
        regression(self, target, Regression::Mse, reduction)
    }

    /// Huber loss, as PyTorch's `F.huber_loss` / `nn.HuberLoss`: per element, with
    /// `d = x - y`, `d^2 / 2` where `|d| <= delta` and `delta (|d| - delta / 2)` beyond. One
    /// fused node; the gradient to `x` is `clamp(d, -delta, delta) g / D`, to `y` its negative.
    ///
    /// Panics unless `delta > 0` (as PyTorch) and the target has the input's shape.
    ///
    /// ```
    /// use tapegrad::{Reduction, Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![0.5, 3.0], &[2])?);
    /// let y = tape.constant(Tensor::zeros(&[2]));
    /// let loss = x.huber_loss(y, 1.0, Reduction::Sum);
    /// assert_eq!(loss.item(), 0.125 + 2.5);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn huber_loss(self, target: Var<'t>, delta: f64, reduction: Reduction) -> Var<'t> {
        let shown = crate::error::Number(delta);
        assert!(delta > 0.0, "huber_loss: delta {shown} is not positive (input shape {:?})", self.shape());
        regression(self, target, Regression::Huber(delta), reduction)
    }
}

#[track_caller]
fn regression<'t>(x: Var<'t>, target: Var<'t>, kind: Regression, reduction: Reduction) -> Var<'t> {
    let (value, node) = {
        let (xv, yv) = (x.value_ref(), target.value_ref());
        assert!(
            xv.shape() == yv.shape(),
            "{}: target of shape {:?} for input of shape {:?} (they must have the same shape)",
            kind.op(),
            yv.shape(),
            xv.shape()
        );
        let losses = xv.data().iter().zip(yv.data()).map(|(a, b)| kind.loss(a - b)).collect();
        let reduced = Reduced::new(reduction, xv.numel() as f64);
        (reduced.output(losses, xv.shape()), RegressionLoss { kind, reduced })
    };
    x.tape.record(node, &[x, target], value)
}

/// A fused regression loss (inputs: prediction, target).
#[derive(Clone, Debug)]
pub(crate) struct RegressionLoss {
    kind: Regression,
    reduced: Reduced,
}

impl Rule for RegressionLoss {
    fn name(&self) -> String {
        let reduction = self.reduced.reduction.name();
        match self.kind {
            Regression::Mse => format!("mse_loss({reduction})"),
            Regression::Huber(delta) => format!("huber_loss({}, {reduction})", crate::autograd::short(delta)),
        }
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().input(0).input(1)
    }

    /// `L = reduce(f(x - y))`: `dL/dx = f'(d) g / D` and `dL/dy = -f'(d) g / D`, with
    /// `f' = 2 d` (MSE) or `clamp(d, -delta, delta)` (Huber). MSE's is formed as PyTorch's,
    /// `(2 / D) d g`: the 2 is divided first, so that `2 d` never overflows where the
    /// gradient does not (`d = 1e308`, `D = 3`: `6.7e307`, not `inf`).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let dx = {
            let (x, y, g) = (cx.input(0), cx.input(1), cx.upstream());
            let values = x.data().iter().zip(y.data()).enumerate();
            let dx = match self.kind {
                Regression::Mse => {
                    let (norm, each) = (2.0 / self.reduced.divisor, self.reduced.reduces());
                    let g = |i: usize| if each { g.item() } else { g.data()[i] };
                    buffer::collect(x.numel(), values.map(|(i, (a, b))| norm * (a - b) * g(i)))
                }
                Regression::Huber(_) => {
                    let scale = self.reduced.scale(g);
                    buffer::collect(x.numel(), values.map(|(i, (a, b))| scale.at(i) * self.kind.derivative(a - b)))
                }
            };
            Tensor::from_parts(dx, x.shape())
        };
        if cx.wants(1) {
            cx.add(1, dx.map(|d| -d));
        }
        cx.add(0, dx);
    }

    /// The same, recorded with `d = x - y`: MSE's `(2 / D) d g`, in the fast form's order; for
    /// Huber `f'(d) = d m + delta sign(d) (1 - m)` with the constant mask `m = [|d| < delta]`,
    /// `d m` written as `d` filled with 0 off the mask (so that an infinite `d` gives
    /// `+-delta`, not `inf * 0`), so the second derivative is `m` (0 on the linear arms; at
    /// the kink `|d| = delta` and at a NaN `d` it is 0 too, as PyTorch's `[|d| < delta]`).
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        let (x, y) = (cx.input(0), cx.input(1));
        let d = x - y;
        let dx = match self.kind {
            Regression::Mse => d * (2.0 / self.reduced.divisor) * cx.upstream(),
            Regression::Huber(delta) => {
                let dv = d.value();
                // PyTorch's double backward is `[|d| < delta]`: off it (at the kink and at a
                // NaN `d` too) the slope is the constant `clamp(d, -delta, delta)`, so NaN
                // stays NaN as the fast clamp leaves it and the second derivative is 0.
                let outside = dv.map(|e| if e.abs() < delta { 0.0 } else { 1.0 });
                let arms = cx.constant(dv.map(|e| if e.abs() < delta { 0.0 } else { e.clamp(-delta, delta) }));
                let slope = d.masked_fill(&outside, 0.0) + arms;
                slope * self.reduced.graph_scale(cx.upstream(), &cx.input_shape(0))
            }
        };
        if cx.wants(1) {
            cx.add(1, -dx);
        }
        cx.add(0, dx);
    }
}
