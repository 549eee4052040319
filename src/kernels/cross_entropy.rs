//! The fused softmax-cross-entropy kernels on `[rows, classes]` row-major logits, in the style
//! of llm.c's `crossentropy_softmax_backward`.
//!
//! Forward keeps only one number per row, the log-sum-exp `lse = max + ln(sum(exp(x - max)))`;
//! backward recomputes `P = exp(x - lse)` on the fly while writing the gradient, so no
//! probability matrix is ever stored.

/// Per-row log-sum-exp of the logits, and the summed loss `sum_r (lse[r] - x[r, t_r])`.
pub(crate) fn forward(logits: &[f64], classes: usize, targets: &[usize]) -> (Vec<f64>, f64) {
    let mut lse = Vec::with_capacity(targets.len());
    let mut loss = 0.0;
    for (row, &target) in logits.chunks_exact(classes).zip(targets) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let row_lse = max + row.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
        // -log P[target] = -(x[t] - lse) = lse - x[t]: never takes log of an underflowed 0.
        loss += row_lse - row[target];
        lse.push(row_lse);
    }
    (lse, loss)
}

/// `dx[r, j] = (P[r, j] - [j == t_r]) * scale`, with `P = exp(x - lse)` recomputed per element.
pub(crate) fn backward(logits: &[f64], lse: &[f64], targets: &[usize], scale: f64, dx: &mut [f64]) {
    let classes = logits.len() / lse.len().max(1);
    let rows = logits.chunks_exact(classes).zip(dx.chunks_exact_mut(classes));
    for (((row, drow), &row_lse), &target) in rows.zip(lse).zip(targets) {
        for (d, x) in drow.iter_mut().zip(row) {
            *d = (x - row_lse).exp() * scale;
        }
        drow[target] -= scale;
    }
}
