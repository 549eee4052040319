//! Reductions over one contiguous row, written with `LANES` independent accumulators so that
//! they vectorise: a single accumulator is a chain of dependent additions, which the compiler
//! may not reorder (floating-point addition is not associative). The order of additions is
//! fixed, so results are deterministic.

use crate::kernels::exp::exp;

/// Independent accumulators: enough to fill an AVX-512 register of f64.
const LANES: usize = 8;

/// Folds `row` into `LANES` interleaved accumulators with `step(acc, x)`, then folds the
/// accumulators (with `merge`) and the tail (with `step`). Written over `chunks_exact` so that
/// the compiler sees fixed-size, independent lanes and vectorises the loop.
#[inline(always)]
fn fold_lanes(row: &[f64], init: f64, step: impl Fn(f64, f64) -> f64, merge: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [init; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = step(*a, x);
        }
    }
    let lanes = acc.iter().fold(init, |m, &a| merge(m, a));
    tail.iter().fold(lanes, |m, &x| step(m, x))
}

/// The largest element (`-inf` for an empty row; NaNs are skipped, as by `f64::max`).
#[inline(always)]
pub(crate) fn max(row: &[f64]) -> f64 {
    fold_lanes(row, f64::NEG_INFINITY, f64::max, f64::max)
}

/// `sum_j row[j]`.
#[inline(always)]
pub(crate) fn sum(row: &[f64]) -> f64 {
    fold_lanes(row, 0.0, |a, x| a + x, |a, b| a + b)
}

/// `sum_j (row[j] - shift)`.
#[inline(always)]
pub(crate) fn sum_deviations(row: &[f64], shift: f64) -> f64 {
    fold_lanes(row, 0.0, |a, x| a + (x - shift), |a, b| a + b)
}

/// `sum_j (row[j] - shift)^2`.
#[inline(always)]
pub(crate) fn sum_squared_deviations(row: &[f64], shift: f64) -> f64 {
    fold_lanes(row, 0.0, |a, x| a + (x - shift) * (x - shift), |a, b| a + b)
}

/// `sum_j a[j] * b[j]` (`b` at least as long as `a`).
#[inline(always)]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let b = &b[..a.len()];
    let mut acc = [0.0; LANES];
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| x * y).sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for ((s, &x), &y) in acc.iter_mut().zip(ca).zip(cb) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// `sum_j exp(row[j] - shift)`.
#[inline(always)]
pub(crate) fn sum_exp(row: &[f64], shift: f64) -> f64 {
    fold_lanes(row, 0.0, |a, x| a + exp(x - shift), |a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_match_the_plain_loops() {
        let row: Vec<f64> = (0..29).map(|i| ((i * 37) % 11) as f64 - 4.5).collect();
        assert_eq!(max(&row), 5.5);
        assert_eq!(max(&[]), f64::NEG_INFINITY);
        assert_eq!(sum(&row), row.iter().sum::<f64>());
        assert_eq!(dot(&row, &row), row.iter().map(|x| x * x).sum::<f64>());
        let squares: f64 = row.iter().map(|x| (x - 0.25) * (x - 0.25)).sum();
        assert!((sum_deviations(&row, 0.25) - row.iter().map(|x| x - 0.25).sum::<f64>()).abs() < 1e-13);
        assert!((sum_squared_deviations(&row, 0.25) - squares).abs() < 1e-13 * squares);
        let expected: f64 = row.iter().map(|x| (x - 1.0).exp()).sum();
        assert!((sum_exp(&row, 1.0) - expected).abs() < 1e-13 * expected);
    }
}
