//! tapegrad's NaN and edge-value policy is PyTorch's: NaN propagates through every op, forward
//! and backward, and derivatives at special points are PyTorch's (`docs/reliability.md`).

use tapegrad::{Tape, Tensor};

fn grad_of(x: f64, f: impl for<'t> Fn(tapegrad::Var<'t>) -> tapegrad::Var<'t>) -> (f64, f64) {
    let tape = Tape::new();
    let v = tape.var(Tensor::scalar(x));
    let y = f(v);
    let g = y.backward();
    (y.item(), g.wrt(v).unwrap().item())
}

#[test]
fn powf_zero_has_gradient_zero_even_at_zero() {
    // x^0 is the constant 1: PyTorch gives gradient 0 everywhere, also at x = 0.
    assert_eq!(grad_of(0.0, |x| x.powf(0.0)), (1.0, 0.0));
    assert_eq!(grad_of(-3.0, |x| x.powf(0.0)), (1.0, 0.0));
}

#[test]
fn relu_propagates_nan() {
    let (y, g) = grad_of(f64::NAN, |x| x.relu());
    assert!(y.is_nan(), "relu(NaN) is NaN, as PyTorch");
    // PyTorch's threshold_backward passes the gradient where `x <= 0` is false, as for NaN.
    assert_eq!(g, 1.0);
    let (y, g) = grad_of(-0.0, |x| x.relu());
    assert_eq!((y, g), (0.0, 0.0));
}

#[test]
fn anomaly_mode_sees_a_nan_that_reaches_relu() {
    // Anomaly mode does not check leaves (they are your data); before relu propagated NaN it
    // turned a NaN leaf into 0 and the NaN vanished unseen.
    let tape = Tape::with_anomaly_detection();
    let x = tape.var(Tensor::scalar(f64::NAN));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| x.relu()));
    let message = *caught.expect_err("relu's NaN output must be caught").downcast::<String>().unwrap();
    assert!(message.starts_with("anomaly: relu"), "{message}");
}

#[test]
fn max_axis_propagates_nan_in_either_position_and_routes_the_gradient_to_it() {
    for (data, nan_at) in [(vec![f64::NAN, 1.0], 0), (vec![1.0, f64::NAN], 1), (vec![2.0, f64::NAN, f64::NAN], 1)] {
        let n = data.len();
        let tape = Tape::new();
        let x = tape.var(Tensor::new(data, &[n]).unwrap());
        let m = x.max_axis(0, false);
        assert!(m.item().is_nan(), "max over a NaN is NaN, as PyTorch");
        let g = m.backward();
        let mut expected = vec![0.0; n];
        expected[nan_at] = 1.0;
        assert_eq!(g.wrt(x).unwrap().data(), expected.as_slice());
    }
}

#[test]
fn gelu_derivative_is_finite_where_x_cubed_overflows() {
    for (x, expected) in [(1e155, 1.0), (1.0e300, 1.0), (-1e155, 0.0), (-1e300, 0.0), (f64::MAX, 1.0)] {
        let (_, g) = grad_of(x, |v| v.gelu());
        assert_eq!(g, expected, "gelu'({x:e})");
    }
    let (y, g) = grad_of(f64::NAN, |v| v.gelu());
    assert!(y.is_nan() && g.is_nan());
}
