//! `dropout(p, rng)`: PyTorch's training-time semantics (scale `1/(1-p)`, `p = 0` identity,
//! `p = 1` zeros, NaN through the mask product), the gradient through the same mask, and the
//! mask kept as flags (one byte per element), not as a float buffer.

use crate::common::{panic_message, rng};
use tapegrad::{Tape, Tensor};

#[test]
fn kept_elements_are_scaled_and_the_gradient_uses_the_same_mask() {
    let tape = Tape::new();
    let x = tape.var(Tensor::from_fn(&[50, 40], |ix| 1.0 + (ix[0] * 40 + ix[1]) as f64));
    let y = x.dropout(0.3, &mut rng(1));
    let grads = y.sum().backward();
    let (xv, yv, dx) = (x.value(), y.value(), grads.wrt(x).unwrap().clone());
    let scale = 1.0 / (1.0 - 0.3);
    let mut dropped = 0;
    for ((&xi, &yi), &di) in xv.data().iter().zip(yv.data()).zip(dx.data()) {
        if yi == 0.0 {
            dropped += 1;
            assert_eq!(di, 0.0);
        } else {
            assert_eq!((yi, di), (xi * scale, scale));
        }
    }
    // 2000 draws at p = 0.3: 600 expected, standard deviation ~20.
    assert!((520..680).contains(&dropped), "{dropped} dropped");
    // The same seed gives the same mask.
    assert_eq!(x.dropout(0.3, &mut rng(1)).value(), yv);
    assert_ne!(x.dropout(0.3, &mut rng(2)).value(), yv);
}

#[test]
fn p_zero_is_the_identity_and_p_one_gives_zeros_as_pytorch() {
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![1.5, -2.0, f64::NAN, f64::INFINITY], &[4]).unwrap());
    // F.dropout(x, 0.0) returns x itself
    let same = x.dropout(0.0, &mut rng(3));
    assert_eq!(same.value().data()[..2], [1.5, -2.0]);
    assert!(same.value().data()[2].is_nan() && same.value().data()[3] == f64::INFINITY);
    // F.dropout(x, 1.0) is x * zeros(()): NaN and inf times 0 are NaN
    let zero = x.dropout(1.0, &mut rng(3));
    assert_eq!(zero.value().data()[..2], [0.0, -0.0]);
    assert!(zero.value().data()[2].is_nan() && zero.value().data()[3].is_nan());
    let finite = tape.var(Tensor::ones(&[3]));
    let grads = finite.dropout(1.0, &mut rng(3)).sum().backward();
    assert_eq!(grads.wrt(finite).unwrap().data(), &[0.0, 0.0, 0.0]);
}

#[test]
fn the_mask_is_kept_as_one_byte_per_element() {
    let tape = Tape::new();
    let x = tape.var(Tensor::ones(&[1000]));
    let y = x.dropout(0.5, &mut rng(4));
    let row = &tape.memory().nodes[y.id()];
    assert_eq!(row.extras, vec![("mask", 1000)]);
    assert!(!row.value_kept() && row.reads_inputs.is_empty() && !row.reads_output);
}

#[test]
fn p_outside_zero_one_panics_naming_op_and_shape() {
    for p in [-0.1, 1.5, f64::NAN] {
        let msg = panic_message(move || {
            let _ = Tape::new().var(Tensor::ones(&[2, 3])).dropout(p, &mut rng(5));
        });
        assert_eq!(msg, format!("dropout: probability {p} is outside [0, 1] (input of shape [2, 3])"));
    }
}
