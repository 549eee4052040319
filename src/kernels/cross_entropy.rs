//! The fused softmax-cross-entropy kernels on `[rows, classes]` row-major logits, in the style
//! of llm.c's `crossentropy_softmax_backward`.
//!
//! Forward keeps only one number per row, the log-sum-exp `lse = max + ln(sum(exp(x - max)))`;
//! backward recomputes `P = exp(x - lse)` on the fly while writing the gradient, so no
//! probability matrix is ever stored. Large inputs are split by rows over the cores, and the
//! row loops are compiled for AVX-512 / AVX2 as well, picked at run time.

use multiversion::multiversion;

use crate::kernels::exp::exp;
use crate::kernels::parallel::{for_each_block, rows_per_block};
use crate::kernels::rows;

/// Per-row log-sum-exp of the logits, and the summed loss `sum_r (lse[r] - x[r, t_r])`.
pub(crate) fn forward(logits: &[f64], classes: usize, targets: &[usize]) -> (Vec<f64>, f64) {
    if targets.is_empty() {
        return (Vec::new(), 0.0);
    }
    let mut lse = vec![0.0; targets.len()];
    let per = rows_per_block(targets.len(), classes);
    let mut block_losses = vec![0.0; targets.len().div_ceil(per)];
    let blocks = lse.chunks_mut(per).zip(&mut block_losses).zip(logits.chunks(per * classes)).zip(targets.chunks(per));
    for_each_block(blocks, |(((lse, loss), logits), targets)| *loss = forward_rows(logits, classes, targets, lse));
    (lse, block_losses.iter().sum())
}

/// Fills `lse` for a block of rows and returns the block's summed loss.
#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn forward_rows(logits: &[f64], classes: usize, targets: &[usize], lse: &mut [f64]) -> f64 {
    let mut loss = 0.0;
    for ((row, &target), row_lse) in logits.chunks_exact(classes).zip(targets).zip(lse) {
        let max = rows::max(row);
        *row_lse = max + rows::sum_exp(row, max).ln();
        // -log P[target] = lse - x[t]: never takes the log of an underflowed probability.
        loss += *row_lse - row[target];
    }
    loss
}

/// `dx[r, j] = (P[r, j] - [j == t_r]) * scale`, with `P = exp(x - lse)` recomputed per element.
pub(crate) fn backward(logits: &[f64], lse: &[f64], targets: &[usize], scale: f64, dx: &mut [f64]) {
    if lse.is_empty() {
        // No rows: nothing to write (and `classes` cannot be read off the lengths).
        return;
    }
    let classes = logits.len() / lse.len().max(1);
    let per = rows_per_block(lse.len(), classes);
    let blocks =
        dx.chunks_mut(per * classes).zip(logits.chunks(per * classes)).zip(lse.chunks(per)).zip(targets.chunks(per));
    for_each_block(blocks, |(((dx, logits), lse), targets)| backward_rows(logits, lse, targets, scale, dx));
}

#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn backward_rows(logits: &[f64], lse: &[f64], targets: &[usize], scale: f64, dx: &mut [f64]) {
    let classes = logits.len() / lse.len().max(1);
    let rows = logits.chunks_exact(classes).zip(dx.chunks_exact_mut(classes));
    for (((row, drow), &row_lse), &target) in rows.zip(lse).zip(targets) {
        for (d, &x) in drow.iter_mut().zip(row) {
            *d = exp(x - row_lse) * scale;
        }
        drow[target] -= scale;
    }
}
