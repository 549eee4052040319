//! The fused softmax-cross-entropy kernels on `[rows, classes]` row-major logits, in the style
//! of llm.c's `crossentropy_softmax_backward`.
//!
//! Forward keeps two numbers per row, the row's max `m` and `ln(sum(exp(x - m)))`, the two
//! parts of its log-sum-exp KEPT APART ([`RowLse`]): `log P_c = (x_c - m) - ln(sum)`, as
//! PyTorch's `log_softmax`. Adding them first (`lse = m + ln(sum)`, then `x - lse`) would lose
//! every digit of `ln(sum)` below the ulp of `m`: at logits `[1e20, 1e20]` the loss would be 0,
//! not `ln 2`. Backward recomputes `P = exp(log P)` on the fly while writing the gradient, so
//! no probability matrix is ever stored. Large inputs are split by rows over the cores, and the
//! row loops are compiled for AVX-512 / AVX2 as well, picked at run time.

use multiversion::multiversion;

use crate::kernels::exp::exp;
use crate::kernels::rows;
use crate::tensor::parallel::{for_each_block, rows_per_block};

/// One row's log-sum-exp in two parts: `lse = max + log_sum`, never added up.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct RowLse {
    /// The row's largest logit (the shift).
    pub(crate) max: f64,
    /// `ln(sum_c exp(x_c - max))`, between 0 and `ln(classes)` for a finite row.
    pub(crate) log_sum: f64,
}

impl RowLse {
    /// The two parts of `row`'s log-sum-exp.
    #[inline(always)]
    fn of(row: &[f64]) -> RowLse {
        let max = rows::max(row);
        RowLse { max, log_sum: rows::sum_exp(row, max).ln() }
    }

    /// `log P = (x - max) - log_sum`: the shifted logit first, exact (Sterbenz) near the max.
    #[inline(always)]
    pub(crate) fn log_p(self, x: f64) -> f64 {
        (x - self.max) - self.log_sum
    }

    /// `-log P = log_sum - (x - max)`: never the log of an underflowed probability.
    #[inline(always)]
    pub(crate) fn nll(self, x: f64) -> f64 {
        self.log_sum - (x - self.max)
    }
}

/// Per-row log-sum-exp of the logits, and the summed loss `sum_r -log P[r, t_r]`.
pub(crate) fn forward(logits: &[f64], classes: usize, targets: &[usize]) -> (Vec<RowLse>, f64) {
    if targets.is_empty() {
        return (Vec::new(), 0.0);
    }
    let mut lse = vec![RowLse::default(); targets.len()];
    let per = rows_per_block(targets.len(), classes);
    let mut block_losses = vec![0.0; targets.len().div_ceil(per)];
    let blocks = lse.chunks_mut(per).zip(&mut block_losses).zip(logits.chunks(per * classes)).zip(targets.chunks(per));
    for_each_block(blocks, |(((lse, loss), logits), targets)| *loss = forward_rows(logits, classes, targets, lse));
    (lse, block_losses.iter().sum())
}

/// Rows shorter than this (a handful of classes) are exponentiated a tile of rows at a time:
/// the exponential's loop over one short row is all remainder, one scalar polynomial per
/// element, while a tile of rows is one long loop that vectorises (as in `softmax_rows`). The
/// values and the order of the additions are those of the row-by-row loop.
const SHORT_ROW: usize = 64;

/// Elements in a tile of short rows (a stack buffer of 4 KiB for the forward pass).
const SHORT_TILE: usize = 512;

/// Fills `lse` for a block of rows and returns the block's summed loss.
#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn forward_rows(logits: &[f64], classes: usize, targets: &[usize], lse: &mut [RowLse]) -> f64 {
    let mut loss = 0.0;
    if classes < SHORT_ROW {
        let per_tile = SHORT_TILE / classes.max(1);
        let mut buffer = [0.0; SHORT_TILE];
        let tiles = logits.chunks(per_tile * classes).zip(targets.chunks(per_tile)).zip(lse.chunks_mut(per_tile));
        for ((logits, targets), lse) in tiles {
            // exp(x - max) of the whole tile, each row shifted by its max.
            let exps = &mut buffer[..logits.len()];
            for ((row, out), row_lse) in logits.chunks_exact(classes).zip(exps.chunks_exact_mut(classes)).zip(&mut *lse)
            {
                let max = rows::max(row);
                row_lse.max = max;
                out.iter_mut().zip(row).for_each(|(o, &x)| *o = x - max);
            }
            exps.iter_mut().for_each(|e| *e = exp(*e));
            let per_row = logits.chunks_exact(classes).zip(exps.chunks_exact(classes)).zip(targets).zip(lse);
            for (((row, row_exps), &target), row_lse) in per_row {
                row_lse.log_sum = rows::sum(row_exps).ln();
                loss += row_lse.nll(row[target]);
            }
        }
        return loss;
    }
    for ((row, &target), row_lse) in logits.chunks_exact(classes).zip(targets).zip(lse) {
        *row_lse = RowLse::of(row);
        loss += row_lse.nll(row[target]);
    }
    loss
}

/// `dx[r, j] = (P[r, j] - [j == t_r]) * scale`, with `P = exp(log P)` recomputed per element.
pub(crate) fn backward(logits: &[f64], lse: &[RowLse], targets: &[usize], scale: f64, dx: &mut [f64]) {
    if lse.is_empty() {
        // No rows: nothing to write (and `classes` cannot be read off the lengths).
        return;
    }
    let classes = logits.len() / lse.len();
    let per = rows_per_block(lse.len(), classes);
    let blocks =
        dx.chunks_mut(per * classes).zip(logits.chunks(per * classes)).zip(lse.chunks(per)).zip(targets.chunks(per));
    for_each_block(blocks, |(((dx, logits), lse), targets)| backward_rows(logits, lse, targets, scale, dx));
}

#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn backward_rows(logits: &[f64], lse: &[RowLse], targets: &[usize], scale: f64, dx: &mut [f64]) {
    let classes = logits.len() / lse.len().max(1);
    if classes < SHORT_ROW {
        // A tile of short rows at a time (see `SHORT_ROW`), `dx` as the tile's buffer.
        let per_tile = SHORT_TILE / classes.max(1);
        let tiles = logits.chunks(per_tile * classes).zip(dx.chunks_mut(per_tile * classes));
        for (((logits, dx), lse), targets) in tiles.zip(lse.chunks(per_tile)).zip(targets.chunks(per_tile)) {
            for ((row, drow), &row_lse) in logits.chunks_exact(classes).zip(dx.chunks_exact_mut(classes)).zip(lse) {
                drow.iter_mut().zip(row).for_each(|(d, &x)| *d = row_lse.log_p(x));
            }
            dx.iter_mut().for_each(|d| *d = exp(*d) * scale);
            for (drow, &target) in dx.chunks_exact_mut(classes).zip(targets) {
                drow[target] -= scale;
            }
        }
        return;
    }
    let rows = logits.chunks_exact(classes).zip(dx.chunks_exact_mut(classes));
    for (((row, drow), &row_lse), &target) in rows.zip(lse).zip(targets) {
        for (d, &x) in drow.iter_mut().zip(row) {
            *d = exp(row_lse.log_p(x)) * scale;
        }
        drow[target] -= scale;
    }
}

/// The options of a cross-entropy beyond its targets: class weights `w` (one per class, or
/// none for all ones) and label smoothing `eps`. With them, row `r`'s target distribution is
/// `q_c = w_c ((1 - eps) y_c + eps / C)`, where `y` is the one-hot target (hard targets) or the
/// given probabilities (soft targets); its loss is `sum_c q_c (lse - x_c)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Smoothing<'a> {
    pub(crate) weight: Option<&'a [f64]>,
    pub(crate) eps: f64,
}

impl Smoothing<'_> {
    /// `w_c`, 1 without weights.
    #[inline(always)]
    fn w(&self, c: usize) -> f64 {
        self.weight.map_or(1.0, |w| w[c])
    }

    /// `sum_c w_c (lse - x_c)` for one row: the smoothing term's numerator. Skipped (0) when
    /// `eps = 0`, so that a `-inf` logit does not turn the loss into `0 * inf = NaN`.
    #[inline(always)]
    fn spread(&self, row: &[f64], lse: RowLse) -> f64 {
        if self.eps == 0.0 {
            return 0.0;
        }
        match self.weight {
            None => row.iter().map(|&x| lse.nll(x)).sum(),
            Some(w) => row.iter().zip(w).map(|(&x, &w)| w * lse.nll(x)).sum(),
        }
    }
}

/// Hard targets with options: fills `lse` and `losses` (one per row; 0 for a row whose target
/// is `ignore`). Row loss: `(1 - eps) w_t (lse - x_t) + eps / C sum_c w_c (lse - x_c)`.
pub(crate) fn forward_hard(
    logits: &[f64],
    targets: &[usize],
    ignore: Option<usize>,
    opts: Smoothing<'_>,
    lse: &mut [RowLse],
    losses: &mut [f64],
) {
    if logits.is_empty() {
        // No rows (or no classes): nothing to compute, and no chunk size to read off.
        return;
    }
    let classes = logits.len() / targets.len();
    let per = rows_per_block(targets.len(), classes);
    let blocks =
        lse.chunks_mut(per).zip(losses.chunks_mut(per)).zip(logits.chunks(per * classes)).zip(targets.chunks(per));
    for_each_block(blocks, |(((lse, losses), logits), targets)| {
        forward_hard_rows(logits, targets, ignore, opts, lse, losses)
    });
}

#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn forward_hard_rows(
    logits: &[f64],
    targets: &[usize],
    ignore: Option<usize>,
    opts: Smoothing<'_>,
    lse: &mut [RowLse],
    losses: &mut [f64],
) {
    let classes = logits.len() / targets.len().max(1);
    let spread_scale = opts.eps / classes as f64;
    let rows = logits.chunks_exact(classes).zip(targets).zip(lse).zip(losses);
    for (((row, &t), row_lse), loss) in rows {
        *row_lse = RowLse::of(row);
        *loss = if Some(t) == ignore {
            0.0
        } else {
            (1.0 - opts.eps) * opts.w(t) * row_lse.nll(row[t]) + spread_scale * opts.spread(row, *row_lse)
        };
    }
}

/// Hard targets with options, backward: per row `dx = scale_r (s P - q)` with
/// `q_c = w_c eps / C + [c = t] (1 - eps) w_t` and `s = sum_c q_c`; zero for ignored rows.
/// `scales[r]` is the upstream gradient of row `r` over the reduction's divisor.
pub(crate) fn backward_hard(
    logits: &[f64],
    lse: &[RowLse],
    targets: &[usize],
    ignore: Option<usize>,
    opts: Smoothing<'_>,
    scales: &[f64],
    dx: &mut [f64],
) {
    if logits.is_empty() {
        return;
    }
    let classes = logits.len() / lse.len();
    let per = rows_per_block(lse.len(), classes);
    let blocks = dx
        .chunks_mut(per * classes)
        .zip(logits.chunks(per * classes))
        .zip(lse.chunks(per))
        .zip(targets.chunks(per))
        .zip(scales.chunks(per));
    for_each_block(blocks, |((((dx, logits), lse), targets), scales)| {
        backward_hard_rows(logits, lse, targets, ignore, opts, scales, dx)
    });
}

#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn backward_hard_rows(
    logits: &[f64],
    lse: &[RowLse],
    targets: &[usize],
    ignore: Option<usize>,
    opts: Smoothing<'_>,
    scales: &[f64],
    dx: &mut [f64],
) {
    let classes = logits.len() / lse.len().max(1);
    let spread_scale = opts.eps / classes as f64;
    let weight_sum = opts.weight.map_or(classes as f64, rows::sum);
    let rows = logits.chunks_exact(classes).zip(dx.chunks_exact_mut(classes)).zip(lse).zip(targets).zip(scales);
    for ((((row, drow), &row_lse), &t), &scale) in rows {
        if Some(t) == ignore {
            drow.fill(0.0);
            continue;
        }
        let picked = (1.0 - opts.eps) * opts.w(t);
        let s = picked + spread_scale * weight_sum;
        match opts.weight {
            // Without weights the smoothing part of q is the constant eps / C.
            None => {
                for (d, &x) in drow.iter_mut().zip(row) {
                    *d = scale * (s * exp(row_lse.log_p(x)) - spread_scale);
                }
            }
            Some(w) => {
                for ((d, &x), &w) in drow.iter_mut().zip(row).zip(w) {
                    *d = scale * (s * exp(row_lse.log_p(x)) - spread_scale * w);
                }
            }
        }
        drow[t] -= scale * picked;
    }
}

/// Soft targets (class probabilities `y`, shaped like the logits): fills `lse` and the row
/// losses `sum_c q_c (lse - x_c)`, `q_c = w_c ((1 - eps) y_c + eps / C)`.
pub(crate) fn forward_soft(logits: &[f64], probs: &[f64], opts: Smoothing<'_>, lse: &mut [RowLse], losses: &mut [f64]) {
    if logits.is_empty() {
        return;
    }
    let classes = logits.len() / lse.len();
    let per = rows_per_block(lse.len(), classes);
    let blocks = lse
        .chunks_mut(per)
        .zip(losses.chunks_mut(per))
        .zip(logits.chunks(per * classes))
        .zip(probs.chunks(per * classes));
    for_each_block(blocks, |(((lse, losses), logits), probs)| forward_soft_rows(logits, probs, opts, lse, losses));
}

#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn forward_soft_rows(logits: &[f64], probs: &[f64], opts: Smoothing<'_>, lse: &mut [RowLse], losses: &mut [f64]) {
    let classes = logits.len() / lse.len().max(1);
    let rows = logits.chunks_exact(classes).zip(probs.chunks_exact(classes)).zip(lse).zip(losses);
    for (((row, y), row_lse), loss) in rows {
        *row_lse = RowLse::of(row);
        *loss = (0..classes).map(|c| soft_q(opts, y, c, classes) * row_lse.nll(row[c])).sum();
    }
}

/// `q_c = w_c ((1 - eps) y_c + eps / C)`, written so that `eps = 0` gives exactly `w_c y_c`.
#[inline(always)]
fn soft_q(opts: Smoothing<'_>, y: &[f64], c: usize, classes: usize) -> f64 {
    let smoothed = if opts.eps == 0.0 { y[c] } else { (1.0 - opts.eps) * y[c] + opts.eps / classes as f64 };
    opts.w(c) * smoothed
}

/// Soft targets, gradient to the logits: per row `dx = scale_r (s P - q)`, `s = sum_c q_c`.
pub(crate) fn backward_soft_logits(
    logits: &[f64],
    probs: &[f64],
    lse: &[RowLse],
    opts: Smoothing<'_>,
    scales: &[f64],
    dx: &mut [f64],
) {
    if logits.is_empty() {
        return;
    }
    let classes = logits.len() / lse.len();
    let per = rows_per_block(lse.len(), classes);
    let blocks = dx
        .chunks_mut(per * classes)
        .zip(logits.chunks(per * classes))
        .zip(probs.chunks(per * classes))
        .zip(lse.chunks(per))
        .zip(scales.chunks(per));
    for_each_block(blocks, |((((dx, logits), probs), lse), scales)| {
        backward_soft_logits_rows(logits, probs, lse, opts, scales, dx)
    });
}

#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn backward_soft_logits_rows(
    logits: &[f64],
    probs: &[f64],
    lse: &[RowLse],
    opts: Smoothing<'_>,
    scales: &[f64],
    dx: &mut [f64],
) {
    let classes = logits.len() / lse.len().max(1);
    let rows = logits.chunks_exact(classes).zip(probs.chunks_exact(classes)).zip(dx.chunks_exact_mut(classes)).zip(lse);
    for ((((row, y), drow), &row_lse), &scale) in rows.zip(scales) {
        let s: f64 = (0..classes).map(|c| soft_q(opts, y, c, classes)).sum();
        for (c, (d, &x)) in drow.iter_mut().zip(row).enumerate() {
            *d = scale * (s * exp(row_lse.log_p(x)) - soft_q(opts, y, c, classes));
        }
    }
}

/// Soft targets, gradient to the probabilities: `dy_c = scale_r w_c (1 - eps) (lse - x_c)`,
/// i.e. `-w_c (1 - eps) log P_c` per unit of upstream gradient.
pub(crate) fn backward_soft_targets(
    logits: &[f64],
    lse: &[RowLse],
    opts: Smoothing<'_>,
    scales: &[f64],
    dy: &mut [f64],
) {
    if logits.is_empty() {
        return;
    }
    let classes = logits.len() / lse.len();
    let keep = 1.0 - opts.eps;
    let rows = logits.chunks_exact(classes).zip(dy.chunks_exact_mut(classes)).zip(lse).zip(scales);
    for (((row, drow), &row_lse), &scale) in rows {
        for (c, (d, &x)) in drow.iter_mut().zip(row).enumerate() {
            *d = scale * opts.w(c) * keep * row_lse.nll(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits on a grid with ties and a wide range, so that the maxima and the exponentials matter.
    fn logits(rows: usize, classes: usize) -> Vec<f64> {
        (0..rows * classes).map(|i| ((i * 7919) % 211) as f64 / 9.0 - 11.0).collect()
    }

    /// Rows shorter than `SHORT_ROW` go a tile at a time, longer ones row by row; both must give
    /// the bits of the row-by-row formula, for row counts that leave a partial last tile.
    #[test]
    fn short_and_long_rows_give_the_bits_of_the_row_by_row_formula() {
        for classes in [1, 2, 6, 7, 63, 64, 100] {
            let row_count = 3 * SHORT_TILE / classes.min(SHORT_TILE) + 5;
            let x = logits(row_count, classes);
            let targets: Vec<usize> = (0..row_count).map(|r| (r * 5) % classes).collect();
            let expected_lse: Vec<RowLse> = x
                .chunks_exact(classes)
                .map(|row| {
                    let max = rows::max(row);
                    RowLse { max, log_sum: rows::sum_exp(row, max).ln() }
                })
                .collect();
            let (lse, loss) = forward(&x, classes, &targets);
            assert_eq!(lse, expected_lse, "{classes} classes");
            let expected_loss: f64 = expected_lse
                .iter()
                .zip(&targets)
                .enumerate()
                .map(|(r, (l, &t))| l.log_sum - (x[r * classes + t] - l.max))
                .sum();
            assert!(
                (loss - expected_loss).abs() <= 1e-12 * expected_loss.abs(),
                "{classes} classes: {loss} vs {expected_loss}"
            );

            let scale = 0.25;
            let mut dx = vec![f64::NAN; x.len()];
            backward(&x, &lse, &targets, scale, &mut dx);
            let mut expected_dx: Vec<f64> = x
                .iter()
                .enumerate()
                .map(|(i, &v)| exp((v - lse[i / classes].max) - lse[i / classes].log_sum) * scale)
                .collect();
            for (r, &t) in targets.iter().enumerate() {
                expected_dx[r * classes + t] -= scale;
            }
            assert_eq!(dx, expected_dx, "{classes} classes");
        }
    }
}
