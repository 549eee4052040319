//! A finite-difference gradcheck for every op of the contract, with its broadcasting cases.
//! Inputs avoid the points where an op is not differentiable (relu at 0, ties of max).

use crate::common::{check, randn, uniform};
use tapegrad::{Gradcheck, GradcheckError, Tensor, gradcheck};

#[test]
fn arithmetic_same_shape() {
    let (a, b) = (randn(&[2, 3], 1), uniform(&[2, 3], 0.5, 2.0, 2));
    check([a.clone(), b.clone()], |v| v[0] + v[1]);
    check([a.clone(), b.clone()], |v| v[0] - v[1]);
    check([a.clone(), b.clone()], |v| v[0] * v[1]);
    check([a.clone(), b.clone()], |v| v[0] / v[1]);
    check([a], |v| -v[0]);
}

/// The broadcasting cases of the issue, each op, both operand orders.
#[test]
fn arithmetic_broadcasting() {
    let cases: [(&[usize], &[usize]); 4] = [(&[2, 3], &[3]), (&[2, 3], &[2, 1]), (&[2, 1, 4], &[3, 1]), (&[], &[2, 3])];
    for (i, (sa, sb)) in cases.into_iter().enumerate() {
        let seed = 10 * i as u64;
        // Denominators kept away from zero.
        let (a, b) = (randn(sa, seed), uniform(sb, 0.5, 2.0, seed + 1));
        for (x, y) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
            check([x.clone(), y.clone()], |v| v[0] + v[1]);
            check([x.clone(), y.clone()], |v| v[0] - v[1]);
            check([x.clone(), y.clone()], |v| v[0] * v[1]);
        }
        check([a.clone(), b.clone()], |v| v[0] / v[1]);
        check([uniform(sb, 0.5, 2.0, seed + 2), uniform(sa, 0.5, 2.0, seed + 3)], |v| v[0] / v[1]);
    }
}

#[test]
fn arithmetic_with_f64_on_either_side() {
    let x = [uniform(&[2, 3], 0.5, 2.0, 3)];
    check(x.clone(), |v| v[0] + 1.5);
    check(x.clone(), |v| 1.5 + v[0]);
    check(x.clone(), |v| v[0] - 1.5);
    check(x.clone(), |v| 1.5 - v[0]);
    check(x.clone(), |v| v[0] * 2.5);
    check(x.clone(), |v| 2.5 * v[0]);
    check(x.clone(), |v| v[0] / 4.0);
    check(x.clone(), |v| 10.0 / v[0]);
}

#[test]
fn elementwise_functions() {
    let x = randn(&[3, 4], 4);
    let positive = uniform(&[3, 4], 0.2, 3.0, 5);
    check([positive.clone()], |v| v[0].powf(2.5));
    check([x.clone()], |v| v[0].powf(3.0));
    check([x.clone()], |v| v[0].exp());
    check([positive.clone()], |v| v[0].log());
    check([positive], |v| v[0].sqrt());
    check([x.clone()], |v| v[0].tanh());
    check([x.clone()], |v| v[0].sigmoid());
    check([x.clone()], |v| v[0].gelu());
    // Away from the kink at 0.
    let away_from_zero = x.map(|e| if e.abs() < 0.1 { e + 0.3 } else { e });
    check([away_from_zero.clone()], |v| v[0].relu());
    check([away_from_zero], |v| v[0].abs());
}

#[test]
fn abs_at_its_kink_has_gradient_zero_as_pytorch() {
    let tape = tapegrad::Tape::new();
    let x = tape.var(Tensor::new(vec![-2.0, 0.0, -0.0, 3.0], &[4]).unwrap());
    let y = x.abs();
    assert_eq!(y.value().data(), &[2.0, 0.0, 0.0, 3.0]);
    assert_eq!(y.sum().backward().wrt(x).unwrap().data(), &[-1.0, 0.0, 0.0, 1.0]);
}

#[test]
fn reductions() {
    let x = randn(&[2, 3, 4], 6);
    check([x.clone()], |v| v[0].sum());
    check([x.clone()], |v| v[0].mean());
    for axis in 0..3 {
        for keep_dim in [false, true] {
            check([x.clone()], |v| v[0].sum_axis(axis, keep_dim));
            check([x.clone()], |v| v[0].mean_axis(axis, keep_dim));
            // randn has no ties, so the arg-max is unique.
            check([x.clone()], |v| v[0].max_axis(axis, keep_dim));
        }
    }
}

#[test]
fn matmul_2d_and_batched() {
    check([randn(&[3, 4], 7), randn(&[4, 2], 8)], |v| v[0].matmul(v[1]));
    check([randn(&[2, 3, 4], 9), randn(&[2, 4, 5], 10)], |v| v[0].matmul(v[1]));
    // Leading axes broadcast: a shared right operand, and [2, 1] x [3] batch axes.
    check([randn(&[2, 3, 4], 11), randn(&[4, 5], 12)], |v| v[0].matmul(v[1]));
    check([randn(&[3, 4], 13), randn(&[2, 4, 5], 14)], |v| v[0].matmul(v[1]));
    check([randn(&[2, 1, 2, 3], 15), randn(&[3, 3, 2], 16)], |v| v[0].matmul(v[1]));
}

#[test]
fn transpose_and_reshape() {
    let x = randn(&[2, 3, 4], 17);
    check([x.clone()], |v| v[0].transpose(0, 2));
    check([x.clone()], |v| v[0].transpose(1, 2) * v[0].transpose(1, 2));
    check([x.clone()], |v| v[0].reshape(&[6, 4]).transpose(0, 1));
    check([x], |v| v[0].reshape(&[24]));
}

#[test]
fn softmax_family_on_every_axis() {
    let x = randn(&[2, 3, 4], 18);
    for axis in 0..3 {
        check([x.clone()], |v| v[0].softmax(axis));
        check([x.clone()], |v| v[0].log_softmax(axis));
    }
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

#[test]
fn losses() {
    let x = randn(&[4, 5], 19);
    let targets = [0, 4, 2, 2];
    check([x.clone()], |v| v[0].cross_entropy(&targets));
    check([x.clone()], |v| v[0].nll_loss(&targets));
    check([x.clone()], |v| v[0].log_softmax(1).nll_loss(&targets));
    check([x.clone()], |v| v[0].softmax(1).log().nll_loss(&targets));
    // An upstream gradient other than 1 reaches the fused node.
    check([x], |v| v[0].cross_entropy(&targets).powf(2.0) * 3.0);
}

#[test]
fn a_gradient_reaching_a_node_twice_is_summed() {
    let x = randn(&[3], 20);
    check([x.clone()], |v| v[0] * v[0] + v[0].exp() * v[0]);
    check([x], |v| (v[0] + v[0]).sum() * v[0]);
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
