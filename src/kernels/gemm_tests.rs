//! The GEMM kernel against a plain triple loop, in every layout matmul uses, on sizes that take
//! each of the crate's paths (tiny, skinny, blocked, threaded). Inputs are small integers, so
//! every sum is exact whatever the order of the additions: results compare bit for bit.

use super::gemm::{MIN_PARALLEL_MULADDS, MatRef, gemm, gemm_pair};

/// Small integers in [-4, 4], different for each `seed`.
fn ints(len: usize, seed: usize) -> Vec<f64> {
    (0..len).map(|i| ((i * 31 + seed * 17 + i / 7) % 9) as f64 - 4.0).collect()
}

fn reference(a: MatRef, b: MatRef, beta: f64, c: &[f64]) -> Vec<f64> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let at = |x: MatRef, r: usize, col: usize| x.data[r * x.row_stride + col * x.col_stride];
    (0..m * n)
        .map(|i| {
            let (r, col) = (i / n, i % n);
            let sum: f64 = (0..k).map(|l| at(a, r, l) * at(b, l, col)).sum();
            if beta == 0.0 { sum } else { beta * c[i] + sum }
        })
        .collect()
}

/// `a` is stored `[m, k]` (or `[k, m]` and read transposed when `a_t`); likewise `b`.
fn check(m: usize, k: usize, n: usize, a_t: bool, b_t: bool, beta: f64) {
    let (a_data, b_data) = (ints(m * k, 1), ints(k * n, 2));
    let a = if a_t { MatRef::row_major(&a_data, k, m).t() } else { MatRef::row_major(&a_data, m, k) };
    let b = if b_t { MatRef::row_major(&b_data, n, k).t() } else { MatRef::row_major(&b_data, k, n) };
    let c0 = ints(m * n, 3);
    let want = reference(a, b, beta, &c0);
    let mut c = c0.clone();
    gemm(a, b, beta, &mut c);
    assert_eq!(c, want, "{m}x{k}x{n} a_t={a_t} b_t={b_t} beta={beta}");
}

const LAYOUTS: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

#[test]
fn matches_the_triple_loop_in_every_layout() {
    let sizes = [(1, 1, 1), (1, 5, 1), (3, 1, 4), (7, 3, 5), (17, 33, 9), (64, 32, 64), (65, 31, 47), (1, 64, 300)];
    for (m, k, n) in sizes {
        for (a_t, b_t) in LAYOUTS {
            for beta in [0.0, 1.0, -2.0] {
                check(m, k, n, a_t, b_t, beta);
            }
        }
    }
}

#[test]
fn products_large_enough_to_use_both_cores_match_too() {
    let (m, k, n) = (160, 130, 110);
    assert!(m * k * n >= MIN_PARALLEL_MULADDS);
    for (a_t, b_t) in LAYOUTS {
        check(m, k, n, a_t, b_t, 1.0);
    }
}

/// Products with few rows and enough work for two threads go to two one-thread GEMMs on the
/// halves of `c`'s columns (an even and an odd number of columns, one row, every layout).
#[test]
fn products_split_by_columns_match_too() {
    for (m, k, n) in [(64, 200, 180), (33, 300, 255), (1, 2100, 1001)] {
        assert!(m * k * n >= MIN_PARALLEL_MULADDS);
        for (a_t, b_t) in LAYOUTS {
            for beta in [0.0, 1.0] {
                check(m, k, n, a_t, b_t, beta);
            }
        }
    }
}

#[test]
fn beta_zero_overwrites_without_reading() {
    let (a, b) = (vec![1.0, 2.0], vec![3.0, 4.0]);
    let mut c = vec![f64::NAN];
    gemm(MatRef::row_major(&a, 1, 2), MatRef::row_major(&b, 2, 1), 0.0, &mut c);
    assert_eq!(c, [11.0]);
}

#[test]
fn an_empty_inner_dimension_scales_c_by_beta() {
    let mut c = vec![1.0, f64::NAN, 3.0, 4.0];
    gemm(MatRef::row_major(&[], 2, 0), MatRef::row_major(&[], 0, 2), 2.0, &mut c);
    assert!(c[1].is_nan());
    assert_eq!([c[0], c[2], c[3]], [2.0, 6.0, 8.0]);
    gemm(MatRef::row_major(&[], 2, 0), MatRef::row_major(&[], 0, 2), 0.0, &mut c);
    assert_eq!(c, [0.0; 4]);
}

#[test]
#[should_panic(expected = "gemm: inconsistent operands")]
fn strides_reaching_past_the_slice_panic() {
    let a = MatRef { data: &[1.0; 5], rows: 2, cols: 3, row_stride: 3, col_stride: 1 };
    let mut c = vec![0.0; 2];
    gemm(a, MatRef::row_major(&[1.0; 3], 3, 1), 0.0, &mut c);
}

#[test]
fn bounds_that_would_wrap_are_out_of_bounds() {
    let data = [0.0; 8];
    // (2 - 1) * 2^63 + (2 - 1) * 2^63 wraps to 0 < 8: the check must not be fooled.
    let m = MatRef { data: &data, rows: 2, cols: 2, row_stride: 1 << 63, col_stride: 1 << 63 };
    assert!(!m.in_bounds());
    let m = MatRef { data: &data, rows: usize::MAX, cols: 1, row_stride: 2, col_stride: 1 };
    assert!(!m.in_bounds());
    assert!(MatRef::row_major(&data, 2, 4).in_bounds() && MatRef::row_major(&data, 2, 4).t().in_bounds());
    assert!(!MatRef::row_major(&data, 3, 3).in_bounds());
}

#[test]
#[should_panic(expected = "gemm: inconsistent operands")]
fn an_output_whose_size_wraps_is_refused() {
    let a = [0.0; 1];
    let mut c = [0.0; 0];
    // m * n = 2^64 wraps to 0 = c.len().
    let am = MatRef { data: &a, rows: 1 << 32, cols: 0, row_stride: 0, col_stride: 1 };
    let bm = MatRef { data: &a, rows: 0, cols: 1 << 32, row_stride: 1 << 32, col_stride: 1 };
    gemm(am, bm, 0.0, &mut c);
}

/// Two products side by side (large: one core each) or one after the other (small) give the
/// bits [`gemm`] gives for each alone. Fractions, not integers: the order of the additions
/// shows in the bits.
#[test]
fn a_pair_of_products_gives_the_bits_of_each_alone() {
    let fractions = |len: usize, seed: usize| -> Vec<f64> {
        (0..len).map(|i| ((i * 7919 + seed * 104_729) % 1000) as f64 / 317.0 - 1.5).collect()
    };
    for (m, k, n) in [(256, 128, 96), (9, 7, 5)] {
        let large = m * k * n >= MIN_PARALLEL_MULADDS;
        assert_eq!(large, m > 9, "the cases take both paths");
        // dx = g w^T and dw = x^T g, as a Linear layer's backward asks.
        let (x, w, g) = (fractions(m * k, 1), fractions(k * n, 2), fractions(m * n, 3));
        let (x, w, g) = (MatRef::row_major(&x, m, k), MatRef::row_major(&w, k, n), MatRef::row_major(&g, m, n));
        let (mut dx_alone, mut dw_alone) = (vec![0.0; m * k], vec![0.0; k * n]);
        gemm(g, w.t(), 0.0, &mut dx_alone);
        gemm(x.t(), g, 0.0, &mut dw_alone);
        let (mut dx, mut dw) = (vec![f64::NAN; m * k], vec![f64::NAN; k * n]);
        gemm_pair((g, w.t(), &mut dx), (x.t(), g, &mut dw));
        assert!(dx == dx_alone && dw == dw_alone, "{m}x{k}x{n}: the pair's products differ from each alone");
    }
}
