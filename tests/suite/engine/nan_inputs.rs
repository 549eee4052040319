//! NaN of both signs, infinities and empty batches through the kernels: no panic in debug
//! builds, and NaN propagated where PyTorch propagates it.

use crate::op_table::op_cases;
use tapegrad::{GradcheckError, Tape, Tensor, gradcheck};

/// The NaN x86 makes for `inf - inf` and `0 / 0`: the sign bit is set.
fn negative_nan() -> f64 {
    f64::from_bits(0xfff8_0000_0000_0000)
}

#[test]
fn negative_nans_are_nans_of_both_kinds() {
    let inf = f64::INFINITY;
    let made = std::hint::black_box(inf) - std::hint::black_box(inf);
    assert!(made.is_nan() && (-f64::NAN).is_sign_negative() && negative_nan().is_sign_negative());
}

#[test]
fn softmax_of_a_fully_masked_row_is_nan_not_a_panic() {
    // PyTorch: softmax of [-inf, -inf, -inf] is [nan, nan, nan].
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![f64::NEG_INFINITY; 3], &[1, 3]).unwrap());
    for y in [x.softmax(1), x.log_softmax(1)] {
        assert!(y.value().data().iter().all(|v| v.is_nan()), "{:?}", y.value());
        let g = y.sum().backward();
        assert!(g.wrt(x).unwrap().data().iter().all(|v| v.is_nan()));
    }
}

#[test]
fn upstream_nans_of_both_signs_propagate_through_softmax_and_cross_entropy() {
    for nan in [f64::NAN, -f64::NAN, negative_nan()] {
        let tape = Tape::new();
        let x = tape.var(Tensor::new(vec![1.0, nan, 2.0, 0.5, 0.25, 3.0], &[2, 3]).unwrap());
        let s = x.softmax(1).value();
        assert!(s.data()[..3].iter().all(|v| v.is_nan()), "{s:?}");
        assert!(s.data()[3..].iter().all(|v| v.is_finite()), "the other row is untouched: {s:?}");
        let loss = x.cross_entropy(&[0, 2]);
        assert!(loss.item().is_nan());
        let g = loss.backward();
        let dx = g.wrt(x).unwrap();
        assert!(dx.data()[..3].iter().all(|v| v.is_nan()), "{dx:?}");
        assert!(dx.data()[3..].iter().all(|v| v.is_finite()), "{dx:?}");
    }
}

#[test]
fn cross_entropy_of_a_plus_inf_row_is_nan_not_a_panic() {
    // PyTorch: F.cross_entropy([[inf, 0, 0]], [0]) is nan (inf - inf).
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![f64::INFINITY, 0.0, 0.0], &[1, 3]).unwrap());
    let loss = x.cross_entropy(&[0]);
    assert!(loss.item().is_nan());
    assert!(loss.backward().wrt(x).unwrap().data()[0].is_nan());
}

#[test]
fn cross_entropy_of_an_empty_batch_is_nan_with_an_empty_gradient() {
    // PyTorch: F.cross_entropy(torch.zeros(0, 3), torch.zeros(0, dtype=long)) is nan, and
    // backward gives a [0, 3] gradient.
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[0, 3]));
    let loss = x.cross_entropy(&[]);
    assert!(loss.item().is_nan());
    let grads = loss.backward();
    assert_eq!(grads.wrt(x).unwrap().shape(), &[0, 3]);
    // Through the unfused path too.
    let loss = x.log_softmax(1).nll_loss(&[]);
    assert!(loss.item().is_nan());
    assert_eq!(loss.backward().wrt(x).unwrap().shape(), &[0, 3]);
}

#[test]
fn gradcheck_reports_nan_gradients_as_a_mismatch_not_as_nondeterminism() {
    // sqrt at -1 is NaN forward and backward: both backward passes give NaN, which is the same
    // result, so the failure is the comparison with finite differences.
    let x = Tensor::new(vec![-1.0, 4.0], &[2]).unwrap();
    let err = gradcheck(&[x], |v| v[0].sqrt()).unwrap_err();
    assert!(matches!(err, GradcheckError::Mismatch { .. }), "{err}");
}

#[test]
fn gradcheck_prints_zero_as_zero() {
    let mismatch = GradcheckError::Mismatch {
        input: 0,
        element: vec![0],
        output: 0,
        analytic: 0.0,
        numeric: 1.5,
        failures: 1,
        checked: 1,
    };
    let text = mismatch.to_string();
    assert!(text.contains("analytic 0 vs numeric 1.5e0") && !text.contains("0e0 "), "{text}");
    assert!(text.contains("1 failing entry out of 1)"), "{text}");
}

#[test]
fn sum_of_an_empty_tensor_is_positive_zero() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[0, 3]));
    let s = x.sum().item();
    assert!(s == 0.0 && s.is_sign_positive(), "{s:?}");
}

#[test]
fn messages_say_one_element_in_the_singular() {
    let err = Tensor::new(vec![1.0, 2.0], &[1]).unwrap_err();
    assert_eq!(err.to_string(), "Tensor::new: 2 elements do not fill shape [1] (1 element)");
    let err = Tensor::new(vec![1.0], &[2]).unwrap_err();
    assert_eq!(err.to_string(), "Tensor::new: 1 element does not fill shape [2] (2 elements)");
    let tape = Tape::new();
    let x = tape.var(Tensor::scalar(1.0));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = x.reshape(&[2]);
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert_eq!(msg, "reshape: cannot reshape shape [] (1 element) to [2] (2 elements)");
}

/// A NaN of either sign at the first element of any input reaches the output of every row of
/// the op table, except where the row says why it may not (a pick, a mask, a narrowing).
#[test]
fn nan_of_either_sign_in_any_input_reaches_the_output_of_every_op() {
    let mut vanished = Vec::new();
    for case in op_cases().into_iter().filter(|c| c.nan_may_vanish.is_none()) {
        for k in (0..case.inputs.len()).filter(|&k| case.inputs[k].numel() > 0) {
            for nan in [f64::NAN, -f64::NAN, negative_nan()] {
                let mut inputs = case.inputs.clone();
                inputs[k].data_mut()[0] = nan;
                let tape = Tape::new();
                let y = (case.f)(&tape.vars(&inputs)).value();
                // (An empty output has no element to show it.)
                if y.numel() > 0 && !y.data().iter().any(|v| v.is_nan()) {
                    vanished.push(format!("{}: input {k}, {nan:?}", case.name));
                }
            }
        }
    }
    assert!(vanished.is_empty(), "a NaN vanished in {} cases:\n{}", vanished.len(), vanished.join("\n"));
}
