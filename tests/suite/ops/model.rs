//! The ops the seed transformer needs: embedding (row gather), the fused layer norm,
//! masked_fill, concat and narrow: values, and each shape error panics naming the op and the
//! shapes. Their gradchecks (with the broadcasting or repeated-index cases) are rows of the op
//! table; the tight-tolerance check of layer norm is here.

use crate::common::randn;
use approx::assert_abs_diff_eq;
use tapegrad::{Gradcheck, Tape, Tensor, Var, causal_mask};

#[test]
fn embedding_gathers_rows_and_its_gradient_scatter_adds() {
    let table = randn(&[5, 3], 1);
    let tape = Tape::new();
    let t = tape.var(table.clone());
    let y = t.embedding(&[4, 0, 4, 4]);
    assert_eq!(y.shape(), [4, 3]);
    assert_eq!(&y.value().data()[..3], &table.data()[12..15]);
    assert_eq!(&y.value().data()[3..6], &table.data()[..3]);
    // Weighted sum so each output row has its own gradient: row i gets weight i + 1.
    let w = tape.constant(Tensor::from_fn(&[4, 3], |ix| (ix[0] + 1) as f64));
    let grads = (y * w).sum().backward();
    let expected = Tensor::from_fn(&[5, 3], |ix| match ix[0] {
        0 => 2.0,
        4 => 1.0 + 3.0 + 4.0, // id 4 read three times: the gradients accumulate
        _ => 0.0,
    });
    assert_eq!(grads.wrt(t).unwrap(), &expected);
}

/// A lookup large enough to be split over the cores gathers the same rows.
#[test]
fn a_large_embedding_gathers_every_row() {
    let table = randn(&[50, 128], 4);
    let ids: Vec<usize> = (0..1024).map(|i| (i * 7) % 50).collect();
    let y = Tape::new().var(table.clone()).embedding(&ids).value();
    assert_eq!(y.shape(), [1024, 128]);
    for (row, &id) in y.data().chunks(128).zip(&ids) {
        assert_eq!(row, &table.data()[id * 128..(id + 1) * 128]);
    }
}

#[test]
#[should_panic(expected = "embedding: id 5 at position 1 is outside 0..5 for table of shape [5, 3]")]
fn embedding_id_out_of_range_panics() {
    let tape = Tape::new();
    let _ = tape.var(Tensor::zeros(&[5, 3])).embedding(&[0, 5]);
}

#[test]
#[should_panic(expected = "embedding: table of shape [] has no row axis")]
fn embedding_of_scalar_panics() {
    let tape = Tape::new();
    let _ = tape.var(Tensor::scalar(1.0)).embedding(&[0]);
}

/// Layer norm composed from the core ops, the reference for the fused node.
fn composed_layer_norm<'t>(x: Var<'t>, gamma: Var<'t>, beta: Var<'t>, eps: f64) -> Var<'t> {
    let axis = x.shape().len() - 1;
    let centred = x - x.mean_axis(axis, true);
    let var = centred.powf(2.0).mean_axis(axis, true);
    centred / (var + eps).sqrt() * gamma + beta
}

/// At widths below, at and past the kernel's 8 lanes (tails included), and on an input large
/// enough to be split over the cores.
#[test]
fn layer_norm_equals_composition_in_value_and_gradient() {
    for (seed, [rows, d]) in [[4, 16], [3, 5], [300, 37], [600, 131]].into_iter().enumerate() {
        let seed = 9 + 4 * seed as u64;
        let (x, gamma, beta) = (randn(&[rows, d], seed), randn(&[d], seed + 1), randn(&[d], seed + 2));
        let w = randn(&[rows, d], seed + 3);
        let run = |fused: bool| {
            let tape = Tape::new();
            let (xv, gv, bv) = (tape.var(x.clone()), tape.var(gamma.clone()), tape.var(beta.clone()));
            let y = if fused { xv.layer_norm(gv, bv, 1e-5) } else { composed_layer_norm(xv, gv, bv, 1e-5) };
            let grads = (y * tape.constant(w.clone())).sum().backward();
            let g = |v| grads.wrt(v).unwrap().clone();
            (y.value(), g(xv), g(gv), g(bv), tape.len())
        };
        let (fused, composed) = (run(true), run(false));
        // The sums over 600 rows (dgamma, dbeta) reach ~50: an absolute bound a few ulps of that.
        assert_abs_diff_eq!(fused.0, composed.0, epsilon = 1e-12);
        assert_abs_diff_eq!(fused.1, composed.1, epsilon = 1e-12);
        assert_abs_diff_eq!(fused.2, composed.2, epsilon = 1e-11);
        assert_abs_diff_eq!(fused.3, composed.3, epsilon = 1e-11);
        // One node instead of nine: mean_axis, sub, powf, mean_axis, add, sqrt, div, mul, add.
        assert_eq!(composed.4 - fused.4, 8);
    }
}

/// Layer norm of rows far from 0 (around 1e9, offsets of tenths): `x - mean` must not carry the
/// mean's rounding (`ulp(1e9) / 2 = 6e-8`, in the 8th digit of a deviation of ~0.3). The
/// reference is exact: every element is an integer multiple of `2^-23` (the ulp at 1e9), so
/// with `X = x 2^23` the deviations are `(d X_i - sum X) / (d 2^23)`, integers over a power of
/// two; `xhat_i = N_i / sqrt(sum N^2 / d)` with `N_i = d X_i - sum X` (exact in `i128`) is
/// one rounding of a square root and a division away. Value and gamma's gradient (`xhat`
/// again, for an upstream gradient of 1), fast and recorded.
#[test]
fn layer_norm_of_rows_far_from_zero_is_exact() {
    let rows: [&[f64]; 3] = [
        &[1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.4, 1e9 - 0.3],
        &[-1e9 + 0.7, -1e9 - 0.25, -1e9 + 0.05],
        &[999999998.83, 1000000001.25, 1000000001.11, 999999999.5, 1000000000.3],
    ];
    for row in rows {
        let d = row.len();
        let scaled: Vec<i128> = row.iter().map(|&x| (x * 8388608.0) as i128).collect();
        assert!(row.iter().zip(&scaled).all(|(&x, &s)| s as f64 == x * 8388608.0), "exact multiples of 2^-23");
        let total: i128 = scaled.iter().sum();
        let n: Vec<i128> = scaled.iter().map(|&s| d as i128 * s - total).collect();
        let norm = ((n.iter().map(|&v| v * v).sum::<i128>() as f64) / d as f64).sqrt();
        let reference: Vec<f64> = n.iter().map(|&v| v as f64 / norm).collect();

        let tape = Tape::new();
        let x = tape.var(Tensor::new(row.to_vec(), &[1, d]).unwrap());
        let (gamma, beta) = (tape.var(Tensor::ones(&[d])), tape.var(Tensor::zeros(&[d])));
        let y = x.layer_norm(gamma, beta, 0.0);
        let fast = y.sum().backward().wrt(gamma).unwrap().clone();
        let recorded = y.sum().backward_graph().wrt(gamma).unwrap().value();
        for (what, got) in [("value", y.value()), ("dgamma", fast), ("dgamma recorded", recorded)] {
            for (g, r) in got.data().iter().zip(&reference) {
                assert!((g - r).abs() <= 4e-16 * r.abs(), "{row:?}: {what} {:?}, exact {reference:?}", got.data());
            }
        }
    }
}

#[test]
fn layer_norm_of_a_constant_row_is_beta_and_stays_finite() {
    let tape = Tape::new();
    let x = tape.var(Tensor::full(&[1, 4], 3.0));
    let (gamma, beta) = (tape.var(Tensor::ones(&[4])), tape.var(Tensor::full(&[4], 0.5)));
    let y = x.layer_norm(gamma, beta, 1e-5);
    assert_eq!(y.value().data(), &[0.5; 4]);
    let grads = (y * y).sum().backward();
    assert!(grads.wrt(x).unwrap().data().iter().all(|g| g.is_finite()));
}

#[test]
#[should_panic(
    expected = "layer_norm: gamma of shape [4] and beta of shape [5] must both be [5] for input of shape [2, 5]"
)]
fn layer_norm_wrong_gamma_panics() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[2, 5]));
    let _ = x.layer_norm(tape.var(Tensor::ones(&[4])), tape.var(Tensor::zeros(&[5])), 1e-5);
}

#[test]
#[should_panic(expected = "layer_norm: input of shape [] has no feature axis")]
fn layer_norm_of_scalar_panics() {
    let tape = Tape::new();
    let x = tape.var(Tensor::scalar(1.0));
    let _ = x.layer_norm(tape.var(Tensor::ones(&[1])), tape.var(Tensor::zeros(&[1])), 1e-5);
}

#[test]
fn masked_fill_with_broadcast_mask() {
    let tape = Tape::new();
    let x = tape.var(Tensor::from_fn(&[2, 3, 3], |ix| (ix[0] * 9 + ix[1] * 3 + ix[2]) as f64));
    let y = x.masked_fill(&causal_mask(3), -7.0);
    let expected =
        Tensor::from_fn(&[2, 3, 3], |ix| if ix[2] > ix[1] { -7.0 } else { (ix[0] * 9 + ix[1] * 3 + ix[2]) as f64 });
    assert_eq!(y.value(), expected);
    let grads = (y * y).sum().backward();
    let dx = Tensor::from_fn(&[2, 3, 3], |ix| if ix[2] > ix[1] { 0.0 } else { 2.0 * expected.get(ix) });
    assert_eq!(grads.wrt(x).unwrap(), &dx);
}

/// Large enough to be split over the cores (64 repetitions of a 32 x 32 mask): the same
/// elements filled, and the same gradient, as the definition.
#[test]
fn masked_fill_split_over_the_cores_matches_the_definition() {
    let tape = Tape::new();
    let value = |ix: &[usize]| (ix[0] * 1024 + ix[1] * 32 + ix[2]) as f64;
    let x = tape.var(Tensor::from_fn(&[64, 32, 32], value));
    let y = x.masked_fill(&causal_mask(32), f64::NEG_INFINITY);
    let expected = Tensor::from_fn(&[64, 32, 32], |ix| if ix[2] > ix[1] { f64::NEG_INFINITY } else { value(ix) });
    assert_eq!(y.value(), expected);
    let g = Tensor::from_fn(&[64, 32, 32], |ix| 1.0 + value(ix));
    let grads = y.backward_with(g.clone());
    let dx = Tensor::from_fn(&[64, 32, 32], |ix| if ix[2] > ix[1] { 0.0 } else { g.get(ix) });
    assert_eq!(grads.wrt(x).unwrap(), &dx);
}

#[test]
#[should_panic(expected = "masked_fill: mask of shape [4, 4] does not broadcast to input of shape [2, 3, 3]")]
fn masked_fill_wrong_mask_panics() {
    let tape = Tape::new();
    let _ = tape.var(Tensor::zeros(&[2, 3, 3])).masked_fill(&causal_mask(4), 0.0);
}

#[test]
#[should_panic(expected = "masked_fill: mask of shape [2, 3] does not broadcast to input of shape [3]")]
fn masked_fill_mask_larger_than_input_panics() {
    let tape = Tape::new();
    let _ = tape.var(Tensor::zeros(&[3])).masked_fill(&Tensor::zeros(&[2, 3]), 0.0);
}

#[test]
fn concat_and_narrow_are_inverse() {
    let tape = Tape::new();
    let a = tape.var(randn(&[2, 3, 4], 16));
    let b = tape.var(randn(&[2, 1, 4], 17));
    let c = Var::concat(&[a, b, a], 1);
    assert_eq!(c.shape(), [2, 7, 4]);
    assert_eq!(c.narrow(1, 0, 3).value(), a.value());
    assert_eq!(c.narrow(1, 3, 1).value(), b.value());
    assert_eq!(c.narrow(1, 4, 3).value(), a.value());
}

/// Narrows add their slice into the gradient summed so far, in place: three slices that tile
/// a tensor (as attention's q, k, v of one fused projection), an overlapping one, and a path
/// that reaches the input whole, in either order; on 2 rows, and on 12,000 (split over the
/// cores).
#[test]
fn narrows_sum_their_slices_into_one_gradient() {
    for rows in [2, 12_000] {
        let x = Tensor::from_fn(&[rows, 6], |ix| (ix[0] * 6 + ix[1]) as f64);
        let tape = Tape::new();
        let v = tape.var(x);
        let weights = |len: usize, scale: f64| {
            tape.constant(Tensor::from_fn(&[rows, len], |ix| scale * (1 + (ix[0] * len + ix[1]) % 97) as f64))
        };
        let parts = [(0, 2, 1.0), (2, 2, 10.0), (4, 2, 100.0), (1, 3, 1000.0)];
        let mut loss = (v * 0.5).sum();
        for (start, len, scale) in parts {
            loss += (v.narrow(1, start, len) * weights(len, scale)).sum();
        }
        let grads = loss.backward();
        let mut expected = vec![0.5; rows * 6];
        for (start, len, scale) in parts {
            for row in 0..rows {
                for j in 0..len {
                    expected[row * 6 + start + j] += scale * (1 + (row * len + j) % 97) as f64;
                }
            }
        }
        assert_eq!(grads.wrt(v).unwrap().data(), expected.as_slice(), "{rows} rows");
    }
}

#[test]
#[should_panic(expected = "concat: shapes [[2, 3], [3, 2]] differ outside axis 1")]
fn concat_mismatched_shapes_panic() {
    let tape = Tape::new();
    let _ = Var::concat(&[tape.var(Tensor::zeros(&[2, 3])), tape.var(Tensor::zeros(&[3, 2]))], 1);
}

#[test]
#[should_panic(expected = "concat: axis 2 is out of range for shape [2, 3] (2 axes)")]
fn concat_axis_out_of_range_panics() {
    let tape = Tape::new();
    let _ = Var::concat(&[tape.var(Tensor::zeros(&[2, 3]))], 2);
}

#[test]
#[should_panic(expected = "concat: no tensors to join")]
fn concat_of_nothing_panics() {
    let _ = Var::concat(&[], 0);
}

#[test]
#[should_panic(expected = "narrow: slice 2..5 of axis 1 is out of range for shape [2, 4]")]
fn narrow_out_of_range_panics() {
    let tape = Tape::new();
    let _ = tape.var(Tensor::zeros(&[2, 4])).narrow(1, 2, 3);
}

#[test]
#[should_panic(expected = "narrow: axis 2 is out of range for shape [2, 4] (2 axes)")]
fn narrow_axis_out_of_range_panics() {
    let tape = Tape::new();
    let _ = tape.var(Tensor::zeros(&[2, 4])).narrow(2, 0, 1);
}

/// The tight-tolerance check of the fused layer norm (eps 1e-5 on a [2, 8] input): the two-
/// reduction formula agrees with central differences to 1e-8.
#[test]
fn layer_norm_gradcheck_tight() {
    let run = Gradcheck::new().eps(1e-5).atol(1e-8).rtol(1e-6);
    if let Err(e) = run.run(&[randn(&[2, 8], 27), randn(&[8], 28), randn(&[8], 29)], |v| {
        v[0].layer_norm(v[1], v[2], 1e-5).powf(2.0).sum()
    }) {
        panic!("{e}");
    }
}
