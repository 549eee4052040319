//! `bce_with_logits`: sigmoid and binary cross-entropy fused, elementwise (the binary twin of
//! the softmax cross-entropy; its gradient is `sigmoid(x) - y`). The math is in
//! [`kernels::bce`](crate::kernels::bce).

use std::borrow::Cow;

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::kernels::bce::{self as kernel, Periodic, Weights};
use crate::ops::loss::{BceWithLogits, Reduced, Reduction};
use crate::tensor::Tensor;
use crate::tensor::buffer;
use crate::tensor::shape::{broadcast_shapes, for_each_binary};

/// `w` read over `shape`: in place when it repeats along the leading axes (its axes after the
/// leading 1s are the trailing axes of `shape`), expanded otherwise. Panics unless `w`
/// broadcasts to `shape`.
#[track_caller]
pub(crate) fn periodic<'a>(op: &str, name: &str, w: &'a Tensor, shape: &[usize]) -> Cow<'a, [f64]> {
    assert!(
        broadcast_shapes(w.shape(), shape).is_some_and(|s| s.as_slice() == shape),
        "{op}: {name} of shape {:?} does not broadcast to the input's shape {shape:?}",
        w.shape()
    );
    let significant = w.shape().iter().position(|&d| d != 1).map_or(&[][..], |first| &w.shape()[first..]);
    if shape.ends_with(significant) {
        return Cow::Borrowed(w.data());
    }
    let mut full = vec![0.0; shape.iter().product()];
    for_each_binary(w.shape(), shape, shape, |i, iw, _| full[i] = w.data()[iw]);
    Cow::Owned(full)
}

impl<'t> Var<'t> {
    /// Binary cross-entropy of logits against targets of the same shape, as PyTorch's
    /// `F.binary_cross_entropy_with_logits`: one fused node.
    ///
    /// `loss = w ((1 - y) x - (1 + (pw - 1) y) log sigmoid(x))` per element, with the weight
    /// `w` (broadcast against the input) and `pos_weight` `pw` (broadcast along the last axis).
    /// Stable at any `|x|`: `log sigmoid(x) = min(x, 0) - log1p(exp(-|x|))`. The mean divides
    /// by the number of elements, weighted or not. Gradients (times `g / D`):
    /// `dx = w ((pw y + 1 - y) sigmoid(x) - pw y)` and `dy = w (log sigmoid(-x) - pw log sigmoid(x))`.
    ///
    /// Panics, naming the shapes, when the targets' shape differs from the input's or a weight
    /// does not broadcast to it.
    ///
    /// ```
    /// use tapegrad::{BceWithLogits, Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![1e4, -1e4, 0.0], &[3])?);
    /// let y = tape.constant(Tensor::new(vec![0.0, 0.0, 1.0], &[3])?);
    /// let loss = x.bce_with_logits(y, &BceWithLogits::new());
    /// // (1e4 + 0 + ln 2) / 3: exact, no overflow.
    /// assert_eq!(loss.item(), (1e4 + std::f64::consts::LN_2) / 3.0);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn bce_with_logits(self, targets: Var<'t>, opts: &BceWithLogits) -> Var<'t> {
        const OP: &str = "bce_with_logits";
        let (value, node) = {
            let (x, y) = (self.value_ref(), targets.value_ref());
            let shape = x.shape();
            assert!(
                y.shape() == shape,
                "{OP}: targets of shape {:?} for input of shape {shape:?} (they must have the same shape)",
                y.shape()
            );
            let node = BceNode {
                weight: opts.weight.as_ref().map(|w| periodic(OP, "weight", w, shape).into_owned()),
                pos_weight: opts.pos_weight.as_ref().map(|w| periodic(OP, "pos_weight", w, shape).into_owned()),
                reduced: Reduced::new(opts.reduction, x.numel() as f64),
            };
            let value = if node.reduced.reduces() {
                // Summed block by block: no buffer of per-element losses.
                Tensor::scalar(kernel::forward_sum(x.data(), y.data(), node.weights()) / node.reduced.divisor)
            } else {
                let mut losses = vec![0.0; x.numel()];
                kernel::forward(x.data(), y.data(), node.weights(), &mut losses);
                Tensor::from_parts(losses, shape)
            };
            (value, node)
        };
        self.tape.record(node, &[self, targets], value)
    }
}

/// The fused BCE node (inputs: logits, targets); keeps the weights as given when they repeat
/// along the leading axes (expanded to the input's shape only otherwise).
#[derive(Clone, Debug)]
pub(crate) struct BceNode {
    weight: Option<Vec<f64>>,
    pos_weight: Option<Vec<f64>>,
    reduced: Reduced,
}

impl BceNode {
    fn weights(&self) -> Weights<'_> {
        Weights {
            weight: self.weight.as_deref().map(|data| Periodic { data }),
            pos_weight: self.pos_weight.as_deref().map(|data| Periodic { data }),
        }
    }
}

impl Rule for BceNode {
    fn name(&self) -> String {
        let mut parts = Vec::new();
        self.weight.is_some().then(|| parts.push("weight"));
        self.pos_weight.is_some().then(|| parts.push("pos_weight"));
        (self.reduced.reduction != Reduction::Mean).then(|| parts.push(self.reduced.reduction.name()));
        if parts.is_empty() { "bce_with_logits".into() } else { format!("bce_with_logits({})", parts.join(", ")) }
    }

    fn saved(&self, wants: Wants<'_>) -> Saved {
        let weights = self.weight.as_deref().map_or(0, bytes_of) + self.pos_weight.as_deref().map_or(0, bytes_of);
        Saved::nothing().input(0).input_if(wants.input(0), 1).extra("weights", weights)
    }

    /// With `s = sigmoid(x)`, `d log s/dx = 1 - s` and `d log s/dx = d/dx (x + log sigmoid(-x))`,
    /// so `dL/dx = w ((1 - y) - (1 + (pw - 1) y)(1 - s)) = w ((pw y + 1 - y) s - pw y)`: with
    /// `pw = 1` it is `w (s - y)`, prediction minus target. `dL/dy = w (-x - (pw - 1) log s)
    /// = w (log sigmoid(-x) - pw log s)` (`log sigmoid(-x) = log s - x`). Both times `g / D`.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let upstream = cx.upstream().clone();
        let scale = self.reduced.scale(&upstream);
        cx.add_with(0, |cx| {
            let (x, y) = (cx.input(0), cx.input(1));
            let mut dx = buffer::zeroed(x.numel());
            kernel::backward_logits(x.data(), y.data(), self.weights(), scale, &mut dx);
            Tensor::from_parts(dx, x.shape())
        });
        cx.add_with(1, |cx| {
            let x = cx.input(0);
            let mut dy = buffer::zeroed(x.numel());
            kernel::backward_targets(x.data(), self.weights(), scale, &mut dy);
            Tensor::from_parts(dy, x.shape())
        });
    }

    /// The same, recorded, with `s = sigmoid(x)`, the weights as constants repeated to the
    /// input's shape and `k = g / D`: `dx = w ((pw y + 1 - y) s - pw y) k` and
    /// `dy = w ((1 - pw) log s - x) k` (`log sigmoid(-x) = log s - x`). `log s` is recorded
    /// as `-logsumexp(0, -x)`, finite for any logit, so the second derivatives are too:
    /// `d2L/dx2 = w (pw y + 1 - y) s (1 - s) k`, `d2L/dx dy = w ((pw - 1) s - pw) k`.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        let (x, y, shape) = (cx.input(0), cx.input(1), cx.input_shape(0));
        let scale = self.reduced.graph_scale(cx.upstream(), &shape);
        let full = |w: &Option<Vec<f64>>| {
            let n = shape.iter().product::<usize>();
            w.as_ref()
                .map(|w| cx.constant(Tensor::from_parts((0..n).map(|i| w[i % w.len()]).collect::<Vec<f64>>(), &shape)))
        };
        let (w, pw) = (full(&self.weight), full(&self.pos_weight));
        let weighted = |v: Var<'t>| match w {
            Some(w) => v * w * scale,
            None => v * scale,
        };
        cx.add_with(0, |_| {
            let s = x.sigmoid();
            let d = match pw {
                None => s - y,
                Some(pw) => (pw * y + 1.0 - y) * s - pw * y,
            };
            weighted(d)
        });
        cx.add_with(1, |_| {
            // `log sigmoid(-x) - pw log s`, the fast form: `(1 - pw) log s - x` is
            // `inf - inf` at a logit of `-inf`.
            let d = match pw {
                None => -x,
                Some(pw) => log_sigmoid(-x, &shape) - pw * log_sigmoid(x, &shape),
            };
            weighted(d)
        });
    }
}

/// `log sigmoid(x) = -log(1 + e^{-x}) = -logsumexp(0, -x)` elementwise, recorded stably: `-x`
/// beside zeros on a new last axis, reduced by the log-sum-exp.
fn log_sigmoid<'t>(x: Var<'t>, shape: &[usize]) -> Var<'t> {
    let mut paired = shape.to_vec();
    paired.push(1);
    let zeros = x.tape.constant(Tensor::zeros(&paired));
    -Var::concat(&[zeros, (-x).reshape(&paired)], shape.len()).logsumexp(shape.len(), false)
}
