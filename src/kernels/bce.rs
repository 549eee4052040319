//! Binary cross-entropy on logits, elementwise, in the stable form
//! `loss = w ((1 - y) x - (1 + (pw - 1) y) log sigmoid(x))` with
//! `log sigmoid(x) = min(x, 0) - ln(1 + e^-|x|)`: `e^-|x|` never overflows, so the loss stays
//! finite and exact at any `|x|` (at `x = 1e4` the exponential is 0, not `inf`).
//!
//! The weights `w` and `pos_weight` arrive as [`Periodic`] slices: a broadcast operand that
//! repeats along the leading axes is read in place, never expanded.

use crate::kernels::Scale;
use crate::kernels::exp::exp;
use crate::tensor::parallel::{for_each_block, rows_per_block};

/// A broadcast operand read as one block of `data.len()` values repeated over the output.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Periodic<'a> {
    pub(crate) data: &'a [f64],
}

/// The per-element weights of a BCE: absent ones are 1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Weights<'a> {
    pub(crate) weight: Option<Periodic<'a>>,
    pub(crate) pos_weight: Option<Periodic<'a>>,
}

impl Weights<'_> {
    /// The length of the blocks within which both weights are read contiguously: the shorter
    /// period (the periods are products of trailing axes, so one divides the other).
    fn span(&self, n: usize) -> usize {
        [self.weight, self.pos_weight].iter().flatten().map(|p| p.data.len()).min().unwrap_or(n).max(1)
    }
}

/// `ln sigmoid(x) = min(x, 0) - ln(1 + e^-|x|)`, finite for every finite `x`.
#[inline(always)]
pub(crate) fn log_sigmoid(x: f64) -> f64 {
    x.min(0.0) - exp(-x.abs()).ln_1p()
}

/// `sigmoid(x)`, from `e^-|x|` so that nothing overflows.
#[inline(always)]
fn sigmoid(x: f64) -> f64 {
    let e = exp(-x.abs());
    if x >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) }
}

/// Runs `f(start, out_block)` over blocks of `out` that hold whole spans of `span` elements,
/// one block per core for large inputs.
fn in_spans(out: &mut [f64], span: usize, f: impl Fn(usize, &mut [f64]) + Sync) {
    let spans = out.len().div_ceil(span);
    let block = rows_per_block(spans, span) * span;
    for_each_block(out.chunks_mut(block).enumerate(), |(b, out)| f(b * block, out));
}

/// Calls `f(i, w_i, pw_i)` for the elements `start..start + len` (`pw_i` is `None` without a
/// `pos_weight`), reading both weights span by span.
#[inline(always)]
fn walk(start: usize, len: usize, weights: Weights<'_>, span: usize, mut f: impl FnMut(usize, f64, Option<f64>)) {
    let mut at = start;
    while at < start + len {
        let end = (at - at % span + span).min(start + len);
        let w = weights.weight.map(|p| &p.data[at % p.data.len()..]);
        let pw = weights.pos_weight.map(|p| &p.data[at % p.data.len()..]);
        for (k, i) in (at..end).enumerate() {
            f(i, w.map_or(1.0, |w| w[k]), pw.map(|pw| pw[k]));
        }
        at = end;
    }
}

/// One element's loss.
#[inline(always)]
fn loss(x: f64, y: f64, w: f64, pw: Option<f64>) -> f64 {
    let log_weight = pw.map_or(1.0, |pw| 1.0 + (pw - 1.0) * y);
    w * ((1.0 - y) * x - log_weight * log_sigmoid(x))
}

/// The losses of every element into `out`.
pub(crate) fn forward(x: &[f64], y: &[f64], weights: Weights<'_>, out: &mut [f64]) {
    let span = weights.span(x.len());
    in_spans(out, span, |start, out| {
        walk(start, out.len(), weights, span, |i, w, pw| out[i - start] = loss(x[i], y[i], w, pw));
    });
}

/// The sum of the losses, without a buffer for them (for a reduced output).
pub(crate) fn forward_sum(x: &[f64], y: &[f64], weights: Weights<'_>) -> f64 {
    let span = weights.span(x.len());
    let block = rows_per_block(x.len().div_ceil(span), span) * span;
    let mut sums = vec![0.0; x.len().div_ceil(block)];
    for_each_block(sums.iter_mut().enumerate(), |(b, sum)| {
        let start = b * block;
        let mut acc = 0.0;
        walk(start, block.min(x.len() - start), weights, span, |i, w, pw| acc += loss(x[i], y[i], w, pw));
        *sum = acc;
    });
    // A fold from +0.0: `Sum` of no f64 is -0.0, and the sum of an empty input is 0.
    sums.iter().fold(0.0, |total, s| total + s)
}

/// The gradient to the logits: `dx = scale w ((pw y + 1 - y) sigmoid(x) - pw y)`.
pub(crate) fn backward_logits(x: &[f64], y: &[f64], weights: Weights<'_>, scale: Scale<'_>, dx: &mut [f64]) {
    let span = weights.span(x.len());
    in_spans(dx, span, |start, dx| {
        walk(start, dx.len(), weights, span, |i, w, pw| {
            let g = scale.at(i);
            let (x, y) = (x[i], y[i]);
            let d = match pw {
                None => sigmoid(x) - y,
                Some(pw) => (pw * y + 1.0 - y) * sigmoid(x) - pw * y,
            };
            dx[i - start] = g * w * d;
        });
    });
}

/// The gradient to the targets: `dy = scale w (ln sigmoid(-x) - pw ln sigmoid(x))`, which is
/// `-x` without a `pos_weight`.
pub(crate) fn backward_targets(x: &[f64], weights: Weights<'_>, scale: Scale<'_>, dy: &mut [f64]) {
    let span = weights.span(x.len());
    in_spans(dy, span, |start, dy| {
        walk(start, dy.len(), weights, span, |i, w, pw| {
            let g = scale.at(i);
            let x = x[i];
            let d = match pw {
                None => -x,
                Some(pw) => log_sigmoid(-x) - pw * log_sigmoid(x),
            };
            dy[i - start] = g * w * d;
        });
    });
}
