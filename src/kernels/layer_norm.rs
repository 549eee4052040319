//! Layer norm over the last axis of `[rows, d]` row-major data, in the style of llm.c's
//! `layernorm_forward` / `layernorm_backward`.
//!
//! Forward keeps three numbers per row: the mean in two parts, `shift + offset`, and the
//! reciprocal standard deviation `rstd = 1 / sqrt(var + eps)`; backward recomputes the
//! normalised `xhat = ((x - shift) - offset) rstd` from them instead of storing it.
//!
//! The two parts keep `x - mean` exact on rows far from 0: `shift` is the rounded mean, and
//! `x - shift` is exact there, but the mean itself is not a double (at `1e9 + 0.1k` its
//! rounding, up to `ulp(1e9) / 2 = 6e-8`, was in the 8th digit of every deviation). `offset`,
//! the mean of `x - shift`, is what the rounding left out, and is subtracted from the small
//! deviations, not from `x` (the corrected two-pass variance: `var = mean(e^2) - offset^2`
//! with `e = x - shift`). It takes a third pass over the row, so it is taken only where the
//! mean is larger than the spread (`shift^2 > mean(e^2)`): elsewhere the mean's rounding, a
//! few ulps of a number smaller than the deviations, is a last-bit matter, and `offset` is 0
//! (and the usual row's loops are those of a single mean). Summing `e` in the squares' pass
//! instead would cost no pass, but the compiler then pairs each lane's two sums rather than
//! vectorising either: the forward pass took 1.7x as long.
//!
//! Rows are independent, so large inputs are split into blocks of rows over the cores. The
//! sums over rows (`dgamma`, `dbeta`) are taken per block and then added in block order; the
//! blocks are fixed by the input's size alone (`parallel::rows_per_sum_block`), not by the
//! machine's core count, so every machine gets the same bits.

use multiversion::multiversion;

use crate::kernels::rows;
use crate::tensor::parallel::{Partials, for_each_block, rows_per_sum_block, zip_options};

/// Per row: the mean in two parts (`shift + offset`, see the module's comment), every row's
/// shift then every row's offset in one buffer, and `rstd`.
pub(crate) struct Moments {
    pub(crate) mean: Vec<f64>,
    pub(crate) rstd: Vec<f64>,
}

impl Moments {
    /// `rows` rows of zeros.
    pub(crate) fn zeros(rows: usize) -> Moments {
        Moments { mean: vec![0.0; 2 * rows], rstd: vec![0.0; rows] }
    }

    /// Every row's `(shift, offset, rstd)`, from a [`Moments::mean`] and `rstd`.
    pub(crate) fn split<'a>(mean: &'a [f64], rstd: &'a [f64]) -> (&'a [f64], &'a [f64], &'a [f64]) {
        let (shift, offset) = mean.split_at(rstd.len());
        (shift, offset, rstd)
    }
}

/// `y = (x - mean) / sqrt(var + eps) * gamma + beta` per row, with the biased variance
/// (divide by `d`). Writes `y` and returns the rows' [`Moments`].
pub(crate) fn forward(x: &[f64], gamma: &[f64], beta: &[f64], eps: f64, y: &mut [f64]) -> Moments {
    let d = gamma.len();
    let rows = x.len() / d.max(1);
    let mut m = Moments::zeros(rows);
    if d == 0 {
        return m;
    }
    let per = rows_per_sum_block(rows, d);
    let (shift, offset) = m.mean.split_at_mut(rows);
    let moments = shift.chunks_mut(per).zip(offset.chunks_mut(per)).zip(m.rstd.chunks_mut(per));
    let blocks = x.chunks(per * d).zip(y.chunks_mut(per * d)).zip(moments);
    for_each_block(blocks, |((x, y), ((shift, offset), rstd))| {
        forward_rows(x, gamma, beta, eps, y, shift, offset, rstd)
    });
    m
}

/// [`forward`] over one block of rows. The sums over a row are lane sums (`rows`): a single
/// accumulator is a chain of dependent additions, which made this loop latency-bound.
#[allow(clippy::too_many_arguments)]
#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn forward_rows(
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    eps: f64,
    y: &mut [f64],
    shifts: &mut [f64],
    offsets: &mut [f64],
    rstds: &mut [f64],
) {
    let d = gamma.len();
    let moments = shifts.iter_mut().zip(offsets).zip(rstds);
    for ((row, out), ((shift_out, offset_out), rstd_out)) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)).zip(moments) {
        let shift = rows::sum(row) / d as f64;
        let mut var = rows::sum_squared_deviations(row, shift) / d as f64;
        let mut offset = 0.0;
        if shift * shift > var {
            offset = rows::sum_deviations(row, shift) / d as f64;
            // `mean(e^2) - offset^2` is `mean((e - offset)^2) >= 0`; rounding may take a
            // constant row's below 0.
            var = (var - offset * offset).max(0.0);
        }
        let rstd = rstd_of(var, eps);
        // Two loops, so that the usual row (offset 0) pays for no second subtraction.
        let outputs = out.iter_mut().zip(row).zip(gamma).zip(beta);
        if offset == 0.0 {
            outputs.for_each(|(((o, v), g), b)| *o = (v - shift) * rstd * g + b);
        } else {
            outputs.for_each(|(((o, v), g), b)| *o = ((v - shift) - offset) * rstd * g + b);
        }
        *shift_out = shift;
        *offset_out = offset;
        *rstd_out = rstd;
    }
}

/// `1 / sqrt(var + eps)`, and NaN where the variance overflowed (`inf`, from finite
/// elements): not the `0` that would normalise the row to finite zeros, as PyTorch gives NaN
/// there too.
#[inline(always)]
pub(crate) fn rstd_of(var: f64, eps: f64) -> f64 {
    if var == f64::INFINITY { f64::NAN } else { 1.0 / (var + eps).sqrt() }
}

/// The gradients requested (`Some`) of layer norm's three inputs; `dgamma` and `dbeta` are
/// summed over rows. `gamma` is read only for `dx` (it may be empty otherwise). The formula is
/// derived on the layer-norm op's backward rule (`ops/layer_norm.rs`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    x: &[f64],
    gamma: &[f64],
    (shift, offset, rstd): (&[f64], &[f64], &[f64]),
    g: &[f64],
    dx: Option<&mut [f64]>,
    dgamma: Option<&mut [f64]>,
    dbeta: Option<&mut [f64]>,
) {
    // No rows, or rows of no features: no gradient to write, and `dgamma` and `dbeta` stay 0.
    let Some(d) = x.len().checked_div(rstd.len()).filter(|&d| d > 0) else { return };
    let per = rows_per_sum_block(rstd.len(), d);
    let moments = shift.chunks(per).zip(offset.chunks(per)).zip(rstd.chunks(per));
    let blocks = x.chunks(per * d).zip(g.chunks(per * d)).zip(moments);
    let dx_blocks = dx.map(|dx| dx.chunks_mut(per * d));
    // Each block sums its rows' `dgamma` and `dbeta` into its own row of these.
    let blocks_count = rstd.len().div_ceil(per);
    let mut partial_gamma = dgamma.as_ref().map(|_| Partials::zeros(blocks_count, d));
    let mut partial_beta = dbeta.as_ref().map(|_| Partials::zeros(blocks_count, d));
    let sums =
        zip_options(partial_gamma.as_mut().map(Partials::rows_mut), partial_beta.as_mut().map(Partials::rows_mut));
    let blocks = blocks.zip(zip_options(dx_blocks, Some(sums)));
    for_each_block(blocks, |(((x, g), ((shift, offset), rstd)), (dx, sums))| {
        let (dgamma, dbeta) = sums.expect("one pair of sums per block");
        backward_rows(x, gamma, (shift, offset, rstd), g, dx, dgamma, dbeta);
    });
    // The blocks' sums, in block order.
    for (total, partial) in [(dgamma, partial_gamma), (dbeta, partial_beta)] {
        if let (Some(total), Some(partial)) = (total, partial) {
            partial.add_into(total);
        }
    }
}

/// [`backward`] over one block of rows, adding into `dgamma` and `dbeta`.
#[allow(clippy::too_many_arguments)]
#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
fn backward_rows(
    x: &[f64],
    gamma: &[f64],
    (shift, offset, rstd): (&[f64], &[f64], &[f64]),
    g: &[f64],
    mut dx: Option<&mut [f64]>,
    mut dgamma: Option<&mut [f64]>,
    mut dbeta: Option<&mut [f64]>,
) {
    let d = x.len() / rstd.len();
    // Scratch rows: xhat, and dxhat = g * gamma.
    let (mut xhat, mut dxhat) = (vec![0.0; d], vec![0.0; d]);
    if let (Some(dx), Some(dgamma), Some(dbeta)) = (dx.as_deref_mut(), dgamma.as_deref_mut(), dbeta.as_deref_mut()) {
        // All three wanted (a training step): the four per-element terms in one loop, the
        // same values as the loops below. A loop per term cost more than the terms on rows of
        // 16-128 elements: about twice the time per row at d = 16, 1.1x at d = 128
        // (`docs/perf.md`).
        let per_row = x.chunks_exact(d).zip(g.chunks_exact(d)).zip(dx.chunks_exact_mut(d));
        for (((row, grow), drow), ((&shift, &offset), &rstd)) in per_row.zip(shift.iter().zip(offset).zip(rstd)) {
            // The rare rows (a mean in two parts, an infinite rstd) take the loop per term.
            if offset != 0.0 || rstd.is_infinite() {
                let sums = (Some(&mut *dgamma), Some(&mut *dbeta));
                let moments = (shift, offset, rstd);
                row_by_terms(row, grow, gamma, moments, Some(drow), sums, (&mut xhat, &mut dxhat));
                continue;
            }
            let outputs = xhat.iter_mut().zip(dxhat.iter_mut()).zip(dgamma.iter_mut().zip(dbeta.iter_mut()));
            for (((h, dh), (dg, db)), ((v, gi), ga)) in outputs.zip(row.iter().zip(grow).zip(gamma)) {
                *h = (v - shift) * rstd;
                *dg += gi * *h;
                *db += gi;
                *dh = gi * ga;
            }
            write_dx(&xhat, &dxhat, rstd, drow);
        }
        return;
    }
    for (r, (row, grow)) in x.chunks_exact(d).zip(g.chunks_exact(d)).enumerate() {
        let dx = dx.as_deref_mut().map(|dx| &mut dx[r * d..(r + 1) * d]);
        let sums = (dgamma.as_deref_mut(), dbeta.as_deref_mut());
        let moments = (shift[r], offset[r], rstd[r]);
        row_by_terms(row, grow, gamma, moments, dx, sums, (&mut xhat, &mut dxhat));
    }
}

/// One row of [`backward_rows`], a loop per term, adding into `dgamma` and `dbeta`
/// (`sums`); the last pair is scratch for the row's `xhat` and `dxhat`.
///
/// Where `rstd` is infinite (a variance of 0 at `eps = 0`), `dgamma`'s `xhat` is formed as
/// PyTorch's backward forms it, `rstd x - rstd mean`: `inf - inf = NaN` where `x` has the
/// mean's sign or is 0, where `(x - mean) rstd` would give `+-inf`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn row_by_terms(
    row: &[f64],
    grow: &[f64],
    gamma: &[f64],
    (shift, offset, rstd): (f64, f64, f64),
    dx: Option<&mut [f64]>,
    (dgamma, dbeta): (Option<&mut [f64]>, Option<&mut [f64]>),
    (xhat, dxhat): (&mut [f64], &mut [f64]),
) {
    for (h, v) in xhat.iter_mut().zip(row) {
        *h = ((v - shift) - offset) * rstd;
    }
    if let Some(dgamma) = dgamma {
        if rstd.is_infinite() {
            let mean = shift + offset;
            for ((dg, gi), v) in dgamma.iter_mut().zip(grow).zip(row) {
                *dg += gi * (rstd * v + -rstd * mean);
            }
        } else {
            for ((dg, gi), h) in dgamma.iter_mut().zip(grow).zip(&*xhat) {
                *dg += gi * h;
            }
        }
    }
    if let Some(dbeta) = dbeta {
        for (db, gi) in dbeta.iter_mut().zip(grow) {
            *db += gi;
        }
    }
    if let Some(dx) = dx {
        for ((dh, gi), ga) in dxhat.iter_mut().zip(grow).zip(gamma) {
            *dh = gi * ga;
        }
        write_dx(xhat, dxhat, rstd, dx);
    }
}

/// One row of `dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))` from its `xhat` and
/// `dxhat`; the two means are lane sums.
#[inline(always)]
fn write_dx(xhat: &[f64], dxhat: &[f64], rstd: f64, dx: &mut [f64]) {
    let d = xhat.len() as f64;
    let (dxhat_mean, dxhat_xhat_mean) = (rows::sum(dxhat) / d, rows::dot(dxhat, xhat) / d);
    for ((o, dh), h) in dx.iter_mut().zip(dxhat).zip(xhat) {
        *o = (dh - dxhat_mean - h * dxhat_xhat_mean) * rstd;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backward pass against its formula written term by term (`xhat` and `dxhat`
    /// materialised, the two means by `rows::sum` and `rows::dot`): the same bits, for row
    /// lengths below, at and above the lane count, and for each set of gradients asked for.
    #[test]
    fn backward_gives_the_bits_of_the_term_by_term_formula() {
        for d in [1, 5, 8, 16, 19, 128] {
            let rows = 7;
            let x: Vec<f64> = (0..rows * d).map(|i| ((i * 7919) % 101) as f64 / 13.0 - 3.0).collect();
            let g: Vec<f64> = (0..rows * d).map(|i| ((i * 104_729) % 89) as f64 / 17.0 - 2.5).collect();
            let gamma: Vec<f64> = (0..d).map(|j| 0.5 + j as f64 / 7.0).collect();
            let beta = vec![0.1; d];
            let mut y = vec![0.0; rows * d];
            let m = forward(&x, &gamma, &beta, 1e-5, &mut y);

            // Every subset of the three gradients: all three take the one-loop path, the
            // others the loop per term.
            let mut results = vec![];
            for wanted in 1..8u8 {
                let (mut dx, mut dgamma, mut dbeta) = (vec![f64::NAN; rows * d], vec![0.0; d], vec![0.0; d]);
                let (want_dx, want_dgamma, want_dbeta) = (wanted & 1 != 0, wanted & 2 != 0, wanted & 4 != 0);
                backward(
                    &x,
                    &gamma,
                    Moments::split(&m.mean, &m.rstd),
                    &g,
                    want_dx.then_some(&mut dx[..]),
                    want_dgamma.then_some(&mut dgamma[..]),
                    want_dbeta.then_some(&mut dbeta[..]),
                );
                results.push((wanted, dx, dgamma, dbeta));
            }
            let (mut expected_dx, mut expected_dgamma, mut expected_dbeta) =
                (vec![0.0; rows * d], vec![0.0; d], vec![0.0; d]);
            for r in 0..rows {
                let (row, grow) = (&x[r * d..(r + 1) * d], &g[r * d..(r + 1) * d]);
                let (shift, offset, rstd) = Moments::split(&m.mean, &m.rstd);
                let xhat: Vec<f64> = row.iter().map(|v| ((v - shift[r]) - offset[r]) * rstd[r]).collect();
                let dxhat: Vec<f64> = grow.iter().zip(&gamma).map(|(gi, ga)| gi * ga).collect();
                for j in 0..d {
                    expected_dgamma[j] += grow[j] * xhat[j];
                    expected_dbeta[j] += grow[j];
                }
                let (dxhat_mean, dxhat_xhat_mean) = (rows::sum(&dxhat) / d as f64, rows::dot(&dxhat, &xhat) / d as f64);
                for j in 0..d {
                    expected_dx[r * d + j] = (dxhat[j] - dxhat_mean - xhat[j] * dxhat_xhat_mean) * m.rstd[r];
                }
            }
            for (wanted, dx, dgamma, dbeta) in results {
                if wanted & 1 != 0 {
                    assert_eq!(dx, expected_dx, "d = {d}, gradients {wanted:03b}");
                }
                if wanted & 2 != 0 {
                    assert_eq!(dgamma, expected_dgamma, "d = {d}, gradients {wanted:03b}");
                }
                if wanted & 4 != 0 {
                    assert_eq!(dbeta, expected_dbeta, "d = {d}, gradients {wanted:03b}");
                }
            }
        }
    }
}
