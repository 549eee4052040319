//! Layer norm over the last axis of `[rows, d]` row-major data, in the style of llm.c's
//! `layernorm_forward` / `layernorm_backward`.
//!
//! Forward keeps two numbers per row, the mean and the reciprocal standard deviation
//! `rstd = 1 / sqrt(var + eps)`; backward recomputes the normalised `xhat` from them instead of
//! storing it.

/// `y = (x - mean) / sqrt(var + eps) * gamma + beta` per row, with the biased variance
/// (divide by `d`). Writes `y` and returns the per-row `(mean, rstd)`.
pub(crate) fn forward(x: &[f64], gamma: &[f64], beta: &[f64], eps: f64, y: &mut [f64]) -> (Vec<f64>, Vec<f64>) {
    let d = gamma.len();
    let rows = x.len() / d.max(1);
    let (mut means, mut rstds) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for (row, out) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let mean = row.iter().sum::<f64>() / d as f64;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / d as f64;
        let std = (var + eps).sqrt();
        for (((o, v), g), b) in out.iter_mut().zip(row).zip(gamma).zip(beta) {
            *o = (v - mean) / std * g + b;
        }
        means.push(mean);
        rstds.push(1.0 / std);
    }
    (means, rstds)
}

/// The gradients requested (`Some`) of layer norm's three inputs; `dgamma` and `dbeta` are
/// summed over rows. `gamma` is read only for `dx` (it may be empty otherwise). The formula is
/// derived on the layer-norm op's backward rule (`ops/layer_norm.rs`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    x: &[f64],
    gamma: &[f64],
    mean: &[f64],
    rstd: &[f64],
    g: &[f64],
    mut dx: Option<&mut [f64]>,
    mut dgamma: Option<&mut [f64]>,
    mut dbeta: Option<&mut [f64]>,
) {
    let Some(d) = x.len().checked_div(mean.len()) else { return };
    let mut xhat = vec![0.0; d];
    for (r, (row, grow)) in x.chunks_exact(d).zip(g.chunks_exact(d)).enumerate() {
        for (h, v) in xhat.iter_mut().zip(row) {
            *h = (v - mean[r]) * rstd[r];
        }
        if let Some(dgamma) = dgamma.as_deref_mut() {
            for ((dg, gi), h) in dgamma.iter_mut().zip(grow).zip(&xhat) {
                *dg += gi * h;
            }
        }
        if let Some(dbeta) = dbeta.as_deref_mut() {
            for (db, gi) in dbeta.iter_mut().zip(grow) {
                *db += gi;
            }
        }
        if let Some(dx) = dx.as_deref_mut() {
            // The two reductions: mean(dxhat) and mean(dxhat * xhat), with dxhat = g * gamma.
            let (mut dxhat_mean, mut dxhat_xhat_mean) = (0.0, 0.0);
            for ((gi, ga), h) in grow.iter().zip(gamma).zip(&xhat) {
                dxhat_mean += gi * ga;
                dxhat_xhat_mean += gi * ga * h;
            }
            dxhat_mean /= d as f64;
            dxhat_xhat_mean /= d as f64;
            for (((o, gi), ga), h) in dx[r * d..(r + 1) * d].iter_mut().zip(grow).zip(gamma).zip(&xhat) {
                *o = (gi * ga - dxhat_mean - h * dxhat_xhat_mean) * rstd[r];
            }
        }
    }
}
