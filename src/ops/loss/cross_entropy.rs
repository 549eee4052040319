//! Softmax cross-entropy, fused: one node from logits to loss, forward by a stable log-sum-exp
//! per row, backward writing `scale * (s P - q)` per row in one pass, where `q` is the row's
//! (weighted, smoothed) target distribution and `s = sum(q)`. Only two numbers per row (the
//! log-sum-exp's two parts, the max and the log of the shifted sum, kept apart so that no digit
//! is lost at large logits: [`RowLse`]) are kept for backward besides the logits: the
//! probabilities are recomputed.
//!
//! - [`Var::cross_entropy`]: class indices, mean over rows (the plain case, its own fast loop).
//! - [`Var::cross_entropy_with`]: class indices with [`CrossEntropy`] options.
//! - [`Var::cross_entropy_probs`]: class probabilities, with a gradient to them too.

use crate::autograd::{BackwardCx, GraphCx, OpSlip, Rule, Saved, SlipCx, SlipKind, Var, Wants, bytes_of};
use crate::kernels::cross_entropy::{self as kernel, RowLse, Smoothing};
use crate::ops::loss::{CrossEntropy, Reduced, Reduction, onehot, row_shape, rows_and_classes, rows_of};
use crate::tensor::Tensor;
use crate::tensor::buffer;
use crate::tensor::indices::{AsIndices, Indices};

/// The options checked against logits of `shape`: the weights as a slice of `classes`.
#[track_caller]
fn class_weights<'a>(op: &str, opts: &'a CrossEntropy, shape: &[usize], classes: usize) -> Option<&'a [f64]> {
    let w = opts.weight.as_ref()?;
    assert!(
        w.shape() == [classes],
        "{op}: weight of shape {:?} for input of shape {shape:?}: it needs one weight per class, shape [{classes}]",
        w.shape()
    );
    Some(w.data())
}

/// Whether `opts` are PyTorch's defaults, for which the plain loops run.
fn is_plain(opts: &CrossEntropy) -> bool {
    opts.weight.is_none()
        && opts.ignore_index.is_none()
        && opts.label_smoothing == 0.0
        && opts.reduction == Reduction::Mean
}

impl<'t> Var<'t> {
    /// Softmax cross-entropy of logits against class indices, averaged over rows: the FUSED
    /// node. The same as [`Var::cross_entropy_with`] with [`CrossEntropy::new`].
    ///
    /// `loss = mean_r (logsumexp(x[r]) - x[r, t_r])`, computed as PyTorch's `log_softmax`,
    /// `-((x - max) - ln(sum(exp(x - max))))`: exact for any logit magnitude (at `[1e20, 1e20]`
    /// the loss is `ln 2`). It keeps two numbers per row for backward.
    ///
    /// The targets are class indices shaped like the logits without their last axis (logits
    /// `[B, T, C]`, targets [`Indices`] `[B, T]`), or one flat list of a target per row
    /// (`&[usize]`). Panics, naming the shapes, for any other shape or a target outside
    /// `0..classes`.
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
    pub fn cross_entropy(self, targets: impl AsIndices) -> Var<'t> {
        self.cross_entropy_named("cross_entropy", &targets.as_indices(), &CrossEntropy::new())
    }

    /// Softmax cross-entropy of logits against class indices with PyTorch's options
    /// (`F.cross_entropy`): class weights, an ignored class, label smoothing and the reduction.
    /// One fused node.
    ///
    /// Row `r`'s loss is `sum_c q_c (lse(x_r) - x_rc)` with the target distribution
    /// `q_c = w_c eps / C + [c = t_r] (1 - eps) w_{t_r}`, and 0 for an ignored row. The mean
    /// divides by the sum of the targets' weights over the rows not ignored (the number of
    /// such rows without weights): with all rows ignored it is NaN (0 / 0) and the gradient
    /// is zero, as in PyTorch. `Reduction::None` gives the logits' shape without its last axis.
    ///
    /// Panics, naming the shapes, when a target is outside `0..classes` (and is not the
    /// ignored class) or the weight is not of shape `[classes]`.
    ///
    /// ```
    /// use tapegrad::{CrossEntropy, Tape, Tensor};
    /// let tape = Tape::new();
    /// let logits = tape.var(Tensor::new(vec![2.0, 0.0, 1.0, 0.0, 2.0, 0.5], &[2, 3])?);
    /// let weight = Tensor::new(vec![1.0, 3.0, 1.0], &[3])?;
    /// let loss = logits.cross_entropy_with(&[0, 1], &CrossEntropy::new().weight(weight));
    /// // One weight each: the weighted mean divides by 1 + 3.
    /// let per_row = logits.cross_entropy_with(&[0, 1], &CrossEntropy::new().reduction(tapegrad::Reduction::None));
    /// let (a, b) = (per_row.value().get(&[0]), per_row.value().get(&[1]));
    /// assert!((loss.item() - (1.0 * a + 3.0 * b) / 4.0).abs() < 1e-15);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn cross_entropy_with(self, targets: impl AsIndices, opts: &CrossEntropy) -> Var<'t> {
        self.cross_entropy_named("cross_entropy_with", &targets.as_indices(), opts)
    }

    #[track_caller]
    fn cross_entropy_named(self, op: &str, targets: &Indices, opts: &CrossEntropy) -> Var<'t> {
        let (y, node) = {
            let v = self.value_ref();
            let shape = v.shape();
            let ignore = opts.ignore_index;
            let (rows, classes) = rows_and_classes(op, shape, targets, ignore);
            let targets = targets.data();
            let weight = class_weights(op, opts, shape, classes);
            if is_plain(opts) {
                let (logsumexp, loss_sum) = kernel::forward(v.data(), classes, targets);
                let node = FusedCrossEntropy {
                    targets: targets.to_vec(),
                    logsumexp,
                    weight: None,
                    ignore,
                    eps: 0.0,
                    reduced: Reduced::new(Reduction::Mean, rows as f64),
                };
                (Tensor::scalar(loss_sum / rows as f64), node)
            } else {
                let smoothing = Smoothing { weight, eps: opts.label_smoothing };
                let (mut logsumexp, mut losses) = (vec![RowLse::default(); rows], vec![0.0; rows]);
                kernel::forward_hard(v.data(), targets, ignore, smoothing, &mut logsumexp, &mut losses);
                // PyTorch's divisor of the mean: the targets' weights over the rows kept.
                let mut kept = targets.iter().filter(|&&t| Some(t) != ignore).peekable();
                let divisor = match weight {
                    None => kept.count() as f64,
                    // Rows kept whose weights are all 0: PyTorch's mean adds its nll part,
                    // `0 / 0 = NaN`, to the smoothing part (finite over 0), so the value and
                    // the kept rows' gradients are NaN, not inf; a NaN divisor gives both.
                    Some(w) if kept.peek().is_some() && kept.clone().all(|&t| w[t] == 0.0) => f64::NAN,
                    Some(w) => kept.map(|&t| w[t]).sum(),
                };
                let reduced = Reduced::new(opts.reduction, divisor);
                let node = FusedCrossEntropy {
                    targets: targets.to_vec(),
                    logsumexp,
                    weight: weight.map(<[f64]>::to_vec),
                    ignore,
                    eps: opts.label_smoothing,
                    reduced,
                };
                (reduced.output(losses, row_shape(shape)), node)
            }
        };
        self.tape.record(node, &[self], y)
    }

    /// Softmax cross-entropy of logits against class probabilities (soft targets, shaped like
    /// the logits), as PyTorch's `F.cross_entropy` with a floating-point target. One fused node,
    /// with a gradient to the targets too.
    ///
    /// Row `r`'s loss is `-sum_c w_c q_rc log P_rc` with `q = (1 - eps) y + eps / C`. The mean
    /// divides by the number of rows (with or without weights). Gradients:
    /// `dx = (s P - w q) / D` per row (`s = sum_c w_c q_c`) and `dy = -(1 - eps) w log P / D`.
    ///
    /// Panics when the targets' shape differs from the logits', when `ignore_index` is set
    /// (PyTorch refuses it for probabilities too) or the weight is not of shape `[classes]`.
    ///
    /// ```
    /// use tapegrad::{CrossEntropy, Tape, Tensor};
    /// let tape = Tape::new();
    /// let logits = tape.var(Tensor::new(vec![2.0, 0.0, 1.0, 0.0, 2.0, 0.5], &[2, 3])?);
    /// let soft = tape.var(Tensor::new(vec![0.7, 0.2, 0.1, 0.0, 1.0, 0.0], &[2, 3])?);
    /// let loss = logits.cross_entropy_probs(soft, &CrossEntropy::new());
    /// let grads = loss.backward();
    /// assert_eq!(grads.wrt(soft).unwrap().shape(), &[2, 3]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn cross_entropy_probs(self, targets: Var<'t>, opts: &CrossEntropy) -> Var<'t> {
        const OP: &str = "cross_entropy_probs";
        let (y, node) = {
            let (v, t) = (self.value_ref(), targets.value_ref());
            let shape = v.shape();
            let (rows, classes) = rows_of(OP, shape);
            assert!(
                t.shape() == shape,
                "{OP}: targets of shape {:?} for input of shape {shape:?} (class probabilities have the input's shape)",
                t.shape()
            );
            if let Some(class) = opts.ignore_index {
                panic!(
                    "{OP}: ignore_index ({class}) is not supported with class probabilities as targets (PyTorch refuses it too); input shape {shape:?}"
                );
            }
            let weight = class_weights(OP, opts, shape, classes);
            let smoothing = Smoothing { weight, eps: opts.label_smoothing };
            let (mut logsumexp, mut losses) = (vec![RowLse::default(); rows], vec![0.0; rows]);
            kernel::forward_soft(v.data(), t.data(), smoothing, &mut logsumexp, &mut losses);
            let reduced = Reduced::new(opts.reduction, rows as f64);
            let node = CrossEntropyProbs {
                logsumexp,
                weight: weight.map(<[f64]>::to_vec),
                eps: opts.label_smoothing,
                reduced,
            };
            (reduced.output(losses, row_shape(shape)), node)
        };
        self.tape.record(node, &[self, targets], y)
    }
}

/// The options' part of a node's name: `", weight, ignore_index=0, label_smoothing=0.1, sum"`.
fn option_label(weight: bool, ignore: Option<usize>, eps: f64, reduced: Reduced) -> String {
    let mut parts = Vec::new();
    if weight {
        parts.push("weight".to_string());
    }
    if let Some(class) = ignore {
        parts.push(format!("ignore_index={class}"));
    }
    if eps != 0.0 {
        parts.push(format!("label_smoothing={eps}"));
    }
    if reduced.reduction != Reduction::Mean {
        parts.push(reduced.reduction.name().into());
    }
    if parts.is_empty() { String::new() } else { format!("({})", parts.join(", ")) }
}

/// The fused softmax + cross-entropy node on class indices; keeps one log-sum-exp per row (in
/// its two parts), not the probabilities.
#[derive(Clone, Debug)]
pub(crate) struct FusedCrossEntropy {
    targets: Vec<usize>,
    logsumexp: Vec<RowLse>,
    weight: Option<Vec<f64>>,
    ignore: Option<usize>,
    eps: f64,
    reduced: Reduced,
}

impl FusedCrossEntropy {
    fn is_plain(&self) -> bool {
        self.weight.is_none() && self.ignore.is_none() && self.eps == 0.0 && self.reduced.reduction == Reduction::Mean
    }

    /// The rows' target distributions `q` (in the logits' `shape`) and their sums `s` (one
    /// per row, in `per_row`), both 0 on an ignored row:
    /// `q_c = w_c eps / C + [c = t] (1 - eps) w_t`, `s = (1 - eps) w_t + eps / C sum_c w_c`.
    fn target_distribution(&self, shape: &[usize], per_row: &[usize]) -> (Tensor, Tensor) {
        let classes = *shape.last().expect("checked in forward");
        let w = |c: usize| self.weight.as_ref().map_or(1.0, |w| w[c]);
        let spread = self.eps / classes as f64;
        let weight_sum: f64 = (0..classes).map(w).sum();
        let (mut q, mut s) = (Tensor::zeros(shape), Tensor::zeros(per_row));
        for (r, &t) in self.targets.iter().enumerate() {
            if Some(t) == self.ignore {
                continue;
            }
            let picked = (1.0 - self.eps) * w(t);
            let row = &mut q.data_mut()[r * classes..(r + 1) * classes];
            for (c, e) in row.iter_mut().enumerate() {
                *e = spread * w(c);
            }
            row[t] += picked;
            s.data_mut()[r] = picked + spread * weight_sum;
        }
        (q, s)
    }
}

impl Rule for FusedCrossEntropy {
    fn name(&self) -> String {
        format!("cross_entropy{}", option_label(self.weight.is_some(), self.ignore, self.eps, self.reduced))
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        let saved =
            Saved::nothing().input(0).extra("targets", bytes_of(&self.targets)).extra("lse", bytes_of(&self.logsumexp));
        match &self.weight {
            Some(w) => saved.extra("weight", bytes_of(w)),
            None => saved,
        }
    }

    /// Per row, with `p = softmax(x)` and `L = sum_c q_c (lse(x) - x_c)`:
    /// `dL/dx_j = sum_c q_c (p_j - [j=c]) = s p_j - q_j`, `s = sum_c q_c`, because the
    /// derivative of log-sum-exp is the softmax. Plain targets have `q = onehot`, `s = 1`:
    /// `P - onehot`. The reduction divides by `D` and the upstream gradient `g` multiplies;
    /// ignored rows get nothing. So `dx = g m (s P - q) / D`, written in one pass with `P`
    /// recomputed from the saved `lse` (see `docs/derivation.md` for the longer route through
    /// the softmax Jacobian, and why the two agree).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let x = cx.input(0);
            // Both kernels write every element (an ignored row gets zeros).
            let mut dx = buffer::scratch(x.numel());
            if self.is_plain() {
                let scale = cx.upstream().item() / self.reduced.divisor;
                kernel::backward(x.data(), &self.logsumexp, &self.targets, scale, &mut dx);
            } else {
                let scales = self.reduced.scales(cx.upstream(), self.targets.len());
                let smoothing = Smoothing { weight: self.weight.as_deref(), eps: self.eps };
                kernel::backward_hard(
                    x.data(),
                    &self.logsumexp,
                    &self.targets,
                    self.ignore,
                    smoothing,
                    &scales,
                    &mut dx,
                );
            }
            Tensor::from_parts(dx, x.shape())
        });
    }

    /// `dx = (s softmax(x) - q) k`, recorded: the softmax is recomputed from `x` (so the
    /// second derivative is `s` times the softmax Jacobian), the target distribution `q`
    /// and its row sums `s` are constants, and `k` is the upstream share (`g / D`, or each
    /// row's `g`). Plain targets: `(softmax(x) - onehot) (g / rows)`. On ignored rows both
    /// `k` and the gradient are filled with 0, as the fast backward writes them: `k` so that
    /// no infinite share (the mean's divisor is 0 when every row is ignored) meets the
    /// softmax's derivative in a second derivative (`0 * inf`), the gradient so that a NaN
    /// logit on an ignored row does not reach it either.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let (x, shape) = (cx.input(0), cx.input_shape(0));
            let last = shape.len() - 1;
            let mut per_row = shape.clone();
            per_row[last] = 1;
            let scale = self.reduced.graph_scale(cx.upstream(), &per_row);
            if self.is_plain() {
                let onehot = cx.constant(onehot(&shape, &self.targets, 1.0));
                return (x.softmax(last) - onehot) * scale;
            }
            let (q, s) = self.target_distribution(&shape, &per_row);
            let Some(ignore) = self.ignore else {
                return (x.softmax(last) * cx.constant(s) - cx.constant(q)) * scale;
            };
            let ignored = Tensor::from_fn(&per_row, |ix| {
                let r = ix[..last].iter().zip(&per_row).fold(0, |acc, (&i, &n)| acc * n + i);
                if self.targets[r] == ignore { 1.0 } else { 0.0 }
            });
            let scale = (scale * cx.constant(Tensor::ones(&per_row))).masked_fill(&ignored, 0.0);
            ((x.softmax(last) * cx.constant(s) - cx.constant(q)) * scale).masked_fill(&ignored, 0.0)
        });
    }

    /// With `dx = g m (s P - q) / D` (see `backward`): the target distribution left out, `P`
    /// for `P - onehot` (`dx + g q / D`); and, for a mean, the mean's `1/D` forgotten (`D dx`,
    /// the gradient of the sum).
    fn slips(&self, cx: &SlipCx<'_>) -> Vec<OpSlip> {
        if !cx.wants(0) {
            return Vec::new();
        }
        let (x, dx) = (cx.input(0), cx.grad(0));
        let shape = x.shape();
        let last = shape.len() - 1;
        let mut per_row = shape.to_vec();
        per_row[last] = 1;
        let (q, _) = self.target_distribution(shape, &per_row);
        let scales = self.reduced.scales(cx.upstream(), self.targets.len());
        let classes = shape[last];
        let no_onehot = cx.slip(
            0,
            SlipKind::DroppedTerm,
            "P instead of P - onehot: the onehot (the target's -1) left out of the loss gradient".into(),
            || {
                let mut slipped = dx.clone();
                let rows = slipped.data_mut().chunks_exact_mut(classes).zip(q.data().chunks_exact(classes));
                for ((row, q), scale) in rows.zip(&scales) {
                    row.iter_mut().zip(q).for_each(|(d, q)| *d += scale * q);
                }
                slipped
            },
        );
        let divisor = self.reduced.divisor;
        let no_mean = (self.reduced.reduction == Reduction::Mean && divisor != 0.0 && divisor != 1.0).then(|| {
            let n = crate::autograd::short(divisor);
            let what = format!("P - onehot instead of (P - onehot) / {n}: the mean's 1/{n} forgotten");
            cx.slip(0, SlipKind::Scale(divisor), what, || dx.map(|d| d * divisor))
        });
        [no_onehot, no_mean.flatten()].into_iter().flatten().collect()
    }
}

/// The fused softmax + cross-entropy node on class probabilities (inputs: logits, targets).
#[derive(Clone, Debug)]
pub(crate) struct CrossEntropyProbs {
    logsumexp: Vec<RowLse>,
    weight: Option<Vec<f64>>,
    eps: f64,
    reduced: Reduced,
}

impl Rule for CrossEntropyProbs {
    fn name(&self) -> String {
        format!("cross_entropy_probs{}", option_label(self.weight.is_some(), None, self.eps, self.reduced))
    }

    fn saved(&self, wants: Wants<'_>) -> Saved {
        let saved = Saved::nothing().input(0).input_if(wants.input(0), 1).extra("lse", bytes_of(&self.logsumexp));
        match &self.weight {
            Some(w) => saved.extra("weight", bytes_of(w)),
            None => saved,
        }
    }

    /// With `q_c = w_c ((1 - eps) y_c + eps / C)` and `L = sum_c q_c (lse(x) - x_c)`:
    /// `dL/dx_j = s p_j - q_j` (as for class indices, `s = sum_c q_c`) and
    /// `dL/dy_c = (1 - eps) w_c (lse - x_c) = -(1 - eps) w_c log p_c`; both times `g / D`.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let rows = self.logsumexp.len();
        let scales = self.reduced.scales(cx.upstream(), rows);
        let smoothing = Smoothing { weight: self.weight.as_deref(), eps: self.eps };
        cx.add_with(0, |cx| {
            let (x, y) = (cx.input(0), cx.input(1));
            let mut dx = buffer::zeroed(x.numel());
            kernel::backward_soft_logits(x.data(), y.data(), &self.logsumexp, smoothing, &scales, &mut dx);
            Tensor::from_parts(dx, x.shape())
        });
        cx.add_with(1, |cx| {
            let x = cx.input(0);
            let mut dy = buffer::zeroed(x.numel());
            kernel::backward_soft_targets(x.data(), &self.logsumexp, smoothing, &scales, &mut dy);
            Tensor::from_parts(dy, x.shape())
        });
    }

    /// The same, recorded, with `k` the upstream share: `q = w ((1 - eps) y + eps / C)` is
    /// now a function of the targets `y`, `dx = (sum_c q_c softmax(x) - q) k` and
    /// `dy = -(1 - eps) w log_softmax(x) k`. Both are linear in `y` or in `log_softmax(x)`,
    /// so the mixed second derivative is `(1 - eps) w (softmax(x) - onehot)`-shaped, as it
    /// should be.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        let (x, y, shape) = (cx.input(0), cx.input(1), cx.input_shape(0));
        let last = shape.len() - 1;
        let mut per_row = shape.clone();
        per_row[last] = 1;
        let scale = self.reduced.graph_scale(cx.upstream(), &per_row);
        let classes = shape[last] as f64;
        let weight = self.weight.as_ref().map(|w| cx.constant(Tensor::from_parts(w.clone(), &[w.len()])));
        let weighted = |v: Var<'t>| match weight {
            Some(w) => v * w,
            None => v,
        };
        let eps = self.eps;
        cx.add_with(0, |_| {
            let smoothed = if eps == 0.0 { y } else { y * (1.0 - eps) + eps / classes };
            let q = weighted(smoothed);
            (x.softmax(last) * q.sum_axis(last, true) - q) * scale
        });
        cx.add_with(1, |_| weighted(x.log_softmax(last) * -(1.0 - eps)) * scale);
    }
}
