//! Shapes at and past `usize` overflow: bad data is an `Err`, a graph that cannot be built
//! panics naming the op and the shapes, in debug and release alike; nothing wraps.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tapegrad::{Error, Tape, Tensor, Var};

const HALF: usize = 1 << 63;

/// The panic message of `f`, or a failure when it does not panic.
fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>().cloned().or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string())).unwrap()
}

#[test]
fn tensor_new_with_an_overflowing_shape_is_an_error() {
    let err = Tensor::new(vec![1.0, 2.0], &[HALF + 1, 2]).unwrap_err();
    assert!(matches!(err, Error::ShapeOverflow { op: "Tensor::new", .. }), "{err:?}");
    assert!(err.to_string().contains("Tensor::new") && err.to_string().contains(&format!("{:?}", [HALF + 1, 2])));
    // A product that wraps to exactly the length given.
    assert!(Tensor::new(vec![], &[HALF, 2]).is_err());
    assert!(Tensor::new(vec![], &[0, HALF, 4]).is_err(), "the non-zero axes alone overflow");
    assert!(Tensor::new(vec![], &[0, HALF]).is_ok(), "an empty tensor with a large axis is fine");
}

#[test]
fn reshape_to_an_overflowing_shape_is_an_error() {
    let err = Tensor::zeros(&[2]).reshape(&[HALF + 1, 2]).unwrap_err();
    assert!(matches!(err, Error::ShapeOverflow { op: "Tensor::reshape", .. }), "{err:?}");
}

#[test]
fn zeros_of_an_overflowing_shape_panics_naming_the_constructor_and_shape() {
    let msg = panic_message(|| {
        let _ = Tensor::zeros(&[1 << 40, 1 << 40]);
    });
    assert!(msg.contains("Tensor::zeros") && msg.contains("[1099511627776, 1099511627776]"), "{msg}");
    assert!(matches!(Tensor::try_zeros(&[1 << 40, 1 << 40]), Err(Error::ShapeOverflow { .. })));
    for f in [
        (|| {
            let _ = Tensor::ones(&[HALF, 3]);
        }) as fn(),
        || {
            let _ = Tensor::full(&[HALF, 3], 2.0);
        },
        || {
            let _ = Tensor::from_fn(&[HALF, 3], |_| 0.0);
        },
        || {
            let _ = Tensor::randn(&[HALF, 3], &mut rand::rng());
        },
        || {
            let _ = Tensor::uniform(&[HALF, 3], 0.0, 1.0, &mut rand::rng());
        },
    ] {
        let msg = panic_message(f);
        assert!(msg.contains("Tensor::") && msg.contains(&format!("{:?}", [HALF, 3])), "{msg}");
    }
}

#[test]
fn a_huge_allocation_is_a_clear_error_not_an_abort() {
    // 2^61 elements: 2^64 bytes, past what any allocation can be.
    let err = Tensor::try_zeros(&[1 << 61]).unwrap_err();
    assert!(matches!(err, Error::AllocationFailed { op: "Tensor::zeros", .. }), "{err:?}");
    assert!(err.to_string().contains("18446744073709551616 bytes"), "{err}");
    let msg = panic_message(|| {
        let _ = Tensor::zeros(&[1 << 61]);
    });
    assert!(msg.contains("Tensor::zeros") && msg.contains("[2305843009213693952]") && msg.contains("bytes"), "{msg}");
    // 2^45 elements (256 TiB): representable, but no machine will give it.
    let err = Tensor::try_full(&[1 << 45], 1.0).unwrap_err();
    assert!(matches!(err, Error::AllocationFailed { .. }), "{err:?}");
}

#[test]
fn narrow_past_usize_panics_naming_narrow_and_the_shape() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[4, 2]));
    let msg = panic_message(|| {
        let _ = x.narrow(0, HALF, HALF + 1);
    });
    assert!(msg.starts_with("narrow:") && msg.contains("[4, 2]"), "{msg}");
    let msg = panic_message(|| {
        let _ = x.narrow(0, usize::MAX, 1);
    });
    assert!(msg.starts_with("narrow:"), "{msg}");
    let msg = panic_message(|| {
        let _ = x.narrow(0, 1, usize::MAX);
    });
    assert!(msg.starts_with("narrow:"), "{msg}");
}

#[test]
fn matmul_whose_output_overflows_panics_naming_matmul() {
    let tape = Tape::new();
    let a = tape.var(Tensor::zeros(&[1 << 40, 0]));
    let b = tape.var(Tensor::zeros(&[0, 1 << 40]));
    let msg = panic_message(|| {
        let _ = a.matmul(b);
    });
    assert!(msg.starts_with("matmul:") && msg.contains("[1099511627776, 0]"), "{msg}");
    // Batched: the batch axes alone are fine, with the matrix they are not.
    let a = tape.var(Tensor::zeros(&[1 << 33, 1, 0]));
    let b = tape.var(Tensor::zeros(&[0, 1 << 33]));
    let msg = panic_message(|| {
        let _ = a.matmul(b);
    });
    assert!(msg.starts_with("matmul:"), "{msg}");
}

#[test]
fn broadcast_whose_output_overflows_panics_naming_the_op() {
    let tape = Tape::new();
    let a = tape.var(Tensor::zeros(&[1 << 40, 1, 0]));
    let b = tape.var(Tensor::zeros(&[1, 1 << 40, 0]));
    for (name, f) in [("add", (|a, b| a + b) as for<'a> fn(Var<'a>, Var<'a>) -> Var<'a>), ("mul", |a, b| a * b)] {
        let msg = panic_message(|| {
            let _ = f(a, b);
        });
        assert!(msg.starts_with(name) && msg.contains("[1099511627776, 1, 0]"), "{msg}");
    }
}

#[test]
fn concat_whose_axis_overflows_panics_naming_concat() {
    let tape = Tape::new();
    let a = tape.var(Tensor::zeros(&[HALF, 0]));
    let msg = panic_message(|| {
        let _ = Var::concat(&[a, a], 0);
    });
    assert!(msg.starts_with("concat:") && msg.contains(&format!("{HALF}")), "{msg}");
}

#[test]
fn reshape_var_to_an_overflowing_shape_panics_naming_reshape() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[2]));
    let msg = panic_message(|| {
        let _ = x.reshape(&[HALF + 1, 2]);
    });
    assert!(msg.starts_with("reshape:") && msg.contains(&format!("{}", HALF + 1)), "{msg}");
}

#[test]
fn an_overflowing_error_message_does_not_overflow_itself() {
    let err = Tensor::new(vec![1.0], &[HALF, 4]).unwrap_err();
    assert!(err.to_string().contains("overflows"), "{err}");
}

/// The gradients of `f` at `inputs` (output gradient 1) from `backward` and `backward_graph`.
fn both_gradients(inputs: &[Tensor], f: impl for<'t> Fn(&[Var<'t>]) -> Var<'t>) -> [Vec<Vec<f64>>; 2] {
    let tape = Tape::new();
    let vars = tape.vars(inputs);
    let y = f(&vars);
    let fast = y.backward();
    let recorded = y.backward_graph();
    [
        vars.iter().map(|&v| fast.wrt(v).unwrap().data().to_vec()).collect(),
        vars.iter().map(|&v| recorded.wrt(v).unwrap().value().data().to_vec()).collect(),
    ]
}

/// Division's gradient to the divisor is `-(a / b) / b` (PyTorch's form), not `-a / (b * b)`,
/// whose `b * b` overflows or underflows where the quotient does not. PyTorch 2.15 (float64):
/// `a = b = 1e-200`: `b.grad` = -1e200; `a = b = 1e200`: -1e-200; `d(z / z)/dz` at 1e160 is 0.
#[test]
fn division_gradient_does_not_square_the_divisor() {
    for (v, expected) in [(1e-200, -1e200), (1e200, -1e-200)] {
        let s = Tensor::scalar(v);
        for grads in both_gradients(&[s.clone(), s.clone()], |x| x[0] / x[1]) {
            assert_eq!(grads[1], vec![expected], "a = b = {v:e}");
        }
        // A constant numerator (`c / x`) the same way.
        for grads in both_gradients(std::slice::from_ref(&s), move |x| v / x[0]) {
            assert_eq!(grads[0], vec![expected], "c = x = {v:e}");
        }
    }
    for grads in both_gradients(&[Tensor::scalar(1e160)], |x| x[0] / x[0]) {
        assert_eq!(grads[0], vec![0.0]);
    }
}

/// Division's gradient to the numerator is `g / b` (PyTorch's `grad / other`), not
/// `g * (1 / b)`: at the subnormal b = -3.2e-310, `1 / b` alone is -inf, so a zero upstream
/// gradient (a softmax over one element) gave NaN where PyTorch gives -0, and g = 2e-11 gave
/// -inf where PyTorch gives -6.25e298 (program 1-306 of the differential test).
#[test]
fn division_gradient_to_the_numerator_divides_by_b() {
    let b = -3.2e-310;
    for (g, expected) in [(0.0, -0.0), (2e-11, -6.250000000000038e+298)] {
        for grads in both_gradients(&[Tensor::scalar(1.0), Tensor::scalar(b)], move |x| x[0] / x[1] * g) {
            assert_eq!(grads[0][0].to_bits(), f64::to_bits(expected), "g = {g:e}: {:e}", grads[0][0]);
        }
    }
}

/// Division by a constant's gradient is `g / c` (PyTorch's `grad / other`), not `g * (1 / c)`:
/// at the subnormal c = 4e-320, `1 / c` alone is inf, so g = 2e-310 gave inf where PyTorch
/// gives 5.000055664706275e9, and g = 0 gave NaN where PyTorch gives 0 (program 1-2614).
#[test]
fn division_by_a_constant_gradient_divides_by_it() {
    for (g, expected) in [(0.0, 0.0), (2e-310, 5000055664.706275)] {
        for grads in both_gradients(&[Tensor::scalar(1.0)], move |x| x[0] / 4e-320 * g) {
            assert_eq!(grads[0][0].to_bits(), f64::to_bits(expected), "g = {g:e}: {:e}", grads[0][0]);
        }
    }
}

/// `log`'s backward is `g / x`, not `g * (1 / x)`: at the subnormal x = 1e-310 with g = 2e-11
/// PyTorch gives 2.000000000000006e+299, where `1 / x` alone is inf.
#[test]
fn log_gradient_divides_by_x() {
    for grads in both_gradients(&[Tensor::scalar(1e-310)], |x| x[0].log() * 2e-11) {
        assert_eq!(grads[0], vec![2.000000000000006e+299]);
    }
}

/// A layer-norm row whose variance overflows is NaN, as PyTorch's `F.layer_norm` gives for
/// `[[1e155, 0, 0]]` and `[[1e200, -1e200, 1e200]]` (not finite zeros); other rows are kept.
#[test]
fn layer_norm_of_an_overflowing_variance_is_nan_as_pytorch() {
    let x = Tensor::new(vec![1e155, 0.0, 0.0, 1e200, -1e200, 1e200, 1.0, 2.0, 3.0], &[3, 3]).unwrap();
    let (gamma, beta) = (Tensor::ones(&[3]), Tensor::zeros(&[3]));
    let tape = Tape::new();
    let [x, gamma, beta] = [x, gamma, beta].map(|t| tape.var(t));
    let y = x.layer_norm(gamma, beta, 1e-5);
    let v = y.value();
    assert!(v.data()[..6].iter().all(|e| e.is_nan()), "{v}");
    assert!((v.data()[6] + 1.2247356859083902).abs() < 1e-12, "{v}");
    let seed = Tensor::new((0..9).map(|i| i as f64 / 4.0 - 1.0).collect(), &[3, 3]).unwrap();
    let fast = y.backward_with(seed.clone()).wrt(x).unwrap().clone();
    let recorded = y.backward_graph_with(tape.constant(seed)).wrt(x).unwrap().value();
    assert!(fast.data()[..6].iter().chain(&recorded.data()[..6]).all(|e| e.is_nan()), "{fast} {recorded}");
    for (a, b) in fast.data()[6..].iter().zip(&recorded.data()[6..]) {
        assert!(a.is_finite() && (a - b).abs() < 1e-12, "{fast} {recorded}");
    }
}
