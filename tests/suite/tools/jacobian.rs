//! `jacobian` of the softmax family on the seed chapter's first row: `diag(p) - p p^T` and
//! `I - 1 p^T`, to 1e-14.

use tapegrad::{Tensor, jacobian, jacobians};

/// The seed chapter's ("Gradients: Loss") position-0 probabilities (4 decimals) and target;
/// the `tapegrad-seed` crate carries its whole table.
const FIRST_ROW: [f64; 6] = [0.1785, 0.2007, 0.1759, 0.1254, 0.1563, 0.1632];
const FIRST_TARGET: usize = 3;

/// The chapter's position-0 probabilities and target, and logits whose softmax they are
/// (`ln p`: softmax is shift-invariant and the row sums to 1).
fn first_row() -> (Vec<f64>, usize, Tensor) {
    let p = FIRST_ROW.to_vec();
    let logits = Tensor::new(p.iter().map(|v| v.ln()).collect(), &[p.len()]).unwrap();
    (p, FIRST_TARGET, logits)
}

/// `p = softmax(logits)` as the engine computes it (within an ulp of the chapter's table).
fn softmax_of(logits: &Tensor) -> Vec<f64> {
    let tape = tapegrad::Tape::new();
    tape.constant(logits.clone()).softmax(0).value().data().to_vec()
}

#[test]
fn softmax_jacobian_is_diag_p_minus_p_p_transpose() {
    let (table, _, logits) = first_row();
    let p = softmax_of(&logits);
    for (a, b) in p.iter().zip(&table) {
        assert!((a - b).abs() < 1e-4, "softmax(ln p) reproduces the chapter's p: {a} vs {b}");
    }
    let j = jacobian(|x| x.softmax(0), &logits);
    assert_eq!(j.shape(), &[6, 6]);
    for (i, pi) in p.iter().enumerate() {
        for (k, pk) in p.iter().enumerate() {
            let expected = if i == k { pi - pi * pk } else { -pi * pk };
            assert!((j.get(&[i, k]) - expected).abs() < 1e-14, "J[{i}, {k}] = {} vs {expected}", j.get(&[i, k]));
        }
    }
}

#[test]
fn log_softmax_jacobian_is_identity_minus_ones_p_transpose() {
    let (_, target, logits) = first_row();
    let p = softmax_of(&logits);
    let fused = jacobian(|x| x.log_softmax(0), &logits);
    let composite = jacobian(|x| x.softmax(0).log(), &logits);
    for j in [&fused, &composite] {
        for i in 0..6 {
            for (k, pk) in p.iter().enumerate() {
                let expected = f64::from(u8::from(i == k)) - pk;
                assert!((j.get(&[i, k]) - expected).abs() < 1e-14, "J[{i}, {k}] = {} vs {expected}", j.get(&[i, k]));
            }
        }
    }
    // The target's row is onehot - p: minus the fused cross-entropy gradient P - onehot.
    let row: Vec<f64> = (0..6).map(|k| fused.get(&[target, k])).collect();
    let ce = jacobian(|x| x.reshape(&[1, 6]).cross_entropy(&[target]), &logits);
    for (r, g) in row.iter().zip(ce.data()) {
        assert!((r + g).abs() < 1e-15, "{r} vs -{g}");
    }
}

#[test]
fn jacobian_shape_is_output_shape_then_input_shape() {
    let x = Tensor::new(vec![0.5, -1.0, 2.0, 0.0, 1.0, 3.0], &[2, 3]).unwrap();
    let j = jacobian(|v| v.softmax(1), &x);
    assert_eq!(j.shape(), &[2, 3, 2, 3]);
    // Rows do not talk to each other: the off-diagonal blocks are exactly zero.
    assert_eq!(j.get(&[0, 1, 1, 1]), 0.0);
    assert_eq!(j.get(&[1, 2, 0, 0]), 0.0);
    // A scalar function's Jacobian is its gradient.
    let g = jacobian(|v| (v * v).sum(), &x);
    assert_eq!(g.shape(), &[2, 3]);
    assert_eq!(g.data(), &[1.0, -2.0, 4.0, 0.0, 2.0, 6.0]);
}

#[test]
fn jacobians_give_zeros_for_an_input_that_does_not_matter() {
    let a = Tensor::new(vec![1.0, 2.0], &[2]).unwrap();
    let b = Tensor::new(vec![3.0], &[1]).unwrap();
    let j = jacobians(&[a, b], |v| v[0].exp());
    assert_eq!(j[1].shape(), &[2, 1]);
    assert_eq!(j[1].data(), &[0.0, 0.0]);
    assert_eq!(j[0].data(), &[1f64.exp(), 0.0, 0.0, 2f64.exp()]);
}
