//! Reductions over one contiguous row, written with `LANES` independent accumulators so that
//! they vectorise: a single accumulator is a chain of dependent additions, which the compiler
//! may not reorder (floating-point addition is not associative). The order of additions is
//! fixed, so results are deterministic.

use crate::kernels::exp::exp;

/// Independent accumulators: enough to fill an AVX-512 register of f64.
const LANES: usize = 8;

/// Folds `f(i)` for `i in 0..len` into `LANES` interleaved accumulators with `op`, then folds
/// the accumulators and the tail.
#[inline(always)]
fn fold_lanes(len: usize, init: f64, f: impl Fn(usize) -> f64, op: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [init; LANES];
    let full = len - len % LANES;
    for base in (0..full).step_by(LANES) {
        for (j, a) in acc.iter_mut().enumerate() {
            *a = op(*a, f(base + j));
        }
    }
    let lanes = acc.iter().fold(init, |m, &a| op(m, a));
    (full..len).fold(lanes, |m, i| op(m, f(i)))
}

/// The largest element (`-inf` for an empty row; NaNs are skipped, as by `f64::max`).
#[inline(always)]
pub(crate) fn max(row: &[f64]) -> f64 {
    fold_lanes(row.len(), f64::NEG_INFINITY, |i| row[i], f64::max)
}

/// `sum_j row[j]`.
#[inline(always)]
pub(crate) fn sum(row: &[f64]) -> f64 {
    fold_lanes(row.len(), 0.0, |i| row[i], |a, b| a + b)
}

/// `sum_j a[j] * b[j]` (`b` at least as long as `a`).
#[inline(always)]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let b = &b[..a.len()];
    fold_lanes(a.len(), 0.0, |i| a[i] * b[i], |x, y| x + y)
}

/// `sum_j exp(row[j] - shift)`.
#[inline(always)]
pub(crate) fn sum_exp(row: &[f64], shift: f64) -> f64 {
    fold_lanes(row.len(), 0.0, |i| exp(row[i] - shift), |a, b| a + b)
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
        let expected: f64 = row.iter().map(|x| (x - 1.0).exp()).sum();
        assert!((sum_exp(&row, 1.0) - expected).abs() < 1e-13 * expected);
    }
}
