//! A finite-difference gradcheck for every op, with its broadcasting cases: every row of the
//! op table (`tests/suite/op_table.rs`) away from kinks (the large ones, views, in a test of
//! their own). Inputs there avoid the points where an op is not differentiable (relu at 0,
//! ties of max); the one-off checks at a kink are here.

use crate::common::randn;
use crate::op_table::{OpCase, smooth_cases};
use tapegrad::{Gradcheck, GradcheckError, Tensor, gradcheck};

/// Every smooth row of the table but the large ones, with PyTorch's tolerances.
#[test]
fn every_op_case_passes_gradcheck() {
    assert_rows_pass_gradcheck(smooth_cases().into_iter().filter(|c| !c.large).collect());
}

/// The large rows: operands that are strided views (seconds of finite differences each).
#[test]
fn views_gradcheck() {
    assert_rows_pass_gradcheck(smooth_cases().into_iter().filter(|c| c.large).collect());
}

/// Gradchecks every row and reports every failing one.
fn assert_rows_pass_gradcheck(rows: Vec<OpCase>) {
    assert!(!rows.is_empty());
    let failures: Vec<String> = rows
        .into_iter()
        .filter_map(|c| gradcheck(&c.inputs, &*c.f).err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    assert!(failures.is_empty(), "{} failing rows:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn abs_at_its_kink_has_gradient_zero_as_pytorch() {
    let tape = tapegrad::Tape::new();
    let x = tape.var(Tensor::new(vec![-2.0, 0.0, -0.0, 3.0], &[4]).unwrap());
    let y = x.abs();
    assert_eq!(y.value().data(), &[2.0, 0.0, 0.0, 3.0]);
    assert_eq!(y.sum().backward().wrt(x).unwrap().data(), &[-1.0, 0.0, 0.0, 1.0]);
}

/// Softmax over the last axis against `exp(x - max) / sum` written out per row, at row lengths
/// around the kernel's tiles of 4096 elements (several rows per tile, one row per tile, a row
/// longer than a tile) and on inputs large enough to be split over the cores.
#[test]
fn softmax_over_rows_of_any_length_matches_the_formula() {
    for (rows, len) in [(3, 1), (5, 7), (70, 64), (9, 3000), (3, 4096), (20, 4097), (2, 9000)] {
        let x = randn(&[rows, len], 21);
        let y = tapegrad::Tape::new().var(x.clone()).softmax(1).value();
        for (row, out) in x.data().chunks(len).zip(y.data().chunks(len)) {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
            for (v, o) in row.iter().zip(out) {
                let expected = (v - max).exp() / sum;
                assert!((o - expected).abs() <= 1e-13 * expected, "[{rows}, {len}]: {o} vs {expected}");
            }
        }
    }
}

/// The check itself must be able to fail: relu at its kink has a one-sided derivative (PyTorch
/// and tapegrad say 0) but the central difference sees the average slope, 0.5.
#[test]
fn gradcheck_reports_the_worst_mismatching_element() {
    let x = Tensor::new(vec![1.0, 0.0, -1.0], &[3]).unwrap();
    let err = gradcheck(&[x], |v| v[0].relu()).unwrap_err();
    match err {
        GradcheckError::Mismatch { input, element, output, analytic, numeric, failures, checked } => {
            assert_eq!((input, element.as_slice(), output, failures, checked), (0, &[1][..], 1, 1, 9));
            assert_eq!(analytic, 0.0);
            approx::assert_abs_diff_eq!(numeric, 0.5, epsilon = 1e-9);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn gradcheck_tolerances_can_be_set() {
    // A loose tolerance accepts the kink; a tiny eps with zero tolerance rejects smooth ones.
    let kink = Tensor::new(vec![0.0], &[1]).unwrap();
    assert!(Gradcheck::new().atol(0.6).run(&[kink], |v| v[0].relu()).is_ok());
    let x = Tensor::new(vec![1.3], &[1]).unwrap();
    assert!(Gradcheck::new().atol(0.0).rtol(0.0).run(&[x], |v| v[0].exp()).is_err());
}
