//! The elementwise ops added for small graphs (`clamp`, `log1p`, `expm1`, `sin`, `cos`,
//! `softplus`, `silu`, `leaky_relu`, `elu`, `maximum`, `minimum`; their gradchecks, with the
//! broadcasting cases, are rows of the op table): PyTorch's values
//! and gradients at the tricky points, pinned as literals. Each pinned case names the PyTorch
//! line (float64) that printed them: `y = f(x); y.sum().backward()` prints `y` and `x.grad`.

use crate::common::panic_message;
use tapegrad::{Tape, Tensor, Var};

/// The value of `f(x)` and the gradient of `f(x).sum()` for a 1-D `x`.
fn value_and_grad(x: &[f64], f: impl for<'t> Fn(Var<'t>) -> Var<'t>) -> (Vec<f64>, Vec<f64>) {
    let tape = Tape::new();
    let v = tape.var(Tensor::new(x.to_vec(), &[x.len()]).unwrap());
    let y = f(v);
    let grads = y.sum().backward();
    (y.value().data().to_vec(), grads.wrt(v).unwrap().data().to_vec())
}

/// Equal as PyTorch prints them: NaN equals NaN, the sign of zero matters, and finite values
/// agree to `rel` relative.
fn assert_close(got: &[f64], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan())
            || (g == w && g.is_sign_negative() == w.is_sign_negative())
            || (w.is_finite() && w != 0.0 && ((g - w) / w).abs() <= rel);
        assert!(ok, "{what}[{i}]: got {g:e}, PyTorch {w:e} (all: {got:?} vs {want:?})");
    }
}

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

#[test]
fn maximum_and_minimum_split_ties_and_propagate_nan_as_pytorch() {
    let pair = |f: for<'t> fn(Var<'t>, Var<'t>) -> Var<'t>| {
        let tape = Tape::new();
        let a = tape.var(Tensor::new(vec![1.0, 2.0, 3.0, NAN, 1.0], &[5]).unwrap());
        let b = tape.var(Tensor::new(vec![1.0, 1.0, 4.0, 0.0, NAN], &[5]).unwrap());
        let y = f(a, b);
        let grads = y.sum().backward();
        let (da, db) = (grads.wrt(a).unwrap().data().to_vec(), grads.wrt(b).unwrap().data().to_vec());
        (y.value().data().to_vec(), da, db)
    };
    // torch.maximum(a, b) with a = [1., 2., 3., nan, 1.], b = [1., 1., 4., 0., nan]
    let (y, da, db) = pair(|a, b| a.maximum(b));
    assert_close(&y, &[1.0, 2.0, 4.0, NAN, NAN], 0.0, "maximum");
    assert_close(&da, &[0.5, 1.0, 0.0, 1.0, 1.0], 0.0, "maximum da");
    assert_close(&db, &[0.5, 0.0, 1.0, 1.0, 1.0], 0.0, "maximum db");
    // torch.minimum(a, b), same a and b
    let (y, da, db) = pair(|a, b| a.minimum(b));
    assert_close(&y, &[1.0, 1.0, 3.0, NAN, NAN], 0.0, "minimum");
    assert_close(&da, &[0.5, 0.0, 1.0, 1.0, 1.0], 0.0, "minimum da");
    assert_close(&db, &[0.5, 1.0, 0.0, 1.0, 1.0], 0.0, "minimum db");

    // torch.maximum(a, b), a = [[1., 2.], [3., 0.]], b = [2., 2.]: a broadcast operand sums
    // its halves of the ties.
    let tape = Tape::new();
    let a = tape.var(Tensor::new(vec![1.0, 2.0, 3.0, 0.0], &[2, 2]).unwrap());
    let b = tape.var(Tensor::new(vec![2.0, 2.0], &[2]).unwrap());
    let y = a.maximum(b);
    let grads = y.sum().backward();
    assert_eq!(y.value().data(), &[2.0, 2.0, 3.0, 2.0]);
    assert_eq!(grads.wrt(a).unwrap().data(), &[0.0, 0.5, 1.0, 0.0]);
    assert_eq!(grads.wrt(b).unwrap().data(), &[1.0, 1.5]);
}

#[test]
fn maximum_panics_naming_op_and_shapes() {
    let msg = panic_message(|| {
        let tape = Tape::new();
        let _ = tape.var(Tensor::zeros(&[2, 3])).maximum(tape.var(Tensor::zeros(&[4])));
    });
    assert_eq!(msg, "maximum: shapes [2, 3] and [4] do not broadcast");
}

#[test]
fn clamp_boundaries_and_nan_as_pytorch() {
    // x.clamp(0.0, 1.0), x = [-2., 0., 0.5, 1., 3., nan]: gradient 0 AT the bounds (PyTorch 2.15)
    let (y, dx) = value_and_grad(&[-2.0, 0.0, 0.5, 1.0, 3.0, NAN], |x| x.clamp(0.0, 1.0));
    assert_close(&y, &[0.0, 0.0, 0.5, 1.0, 1.0, NAN], 0.0, "clamp");
    assert_close(&dx, &[0.0, 0.0, 1.0, 0.0, 0.0, 0.0], 0.0, "clamp grad");
    // x.clamp(2.0, 1.0), x = [0., 1.5, 3.]: min > max gives max everywhere, gradient 0
    let (y, dx) = value_and_grad(&[0.0, 1.5, 3.0], |x| x.clamp(2.0, 1.0));
    assert_close(&y, &[1.0, 1.0, 1.0], 0.0, "clamp min > max");
    assert_close(&dx, &[0.0, 0.0, 0.0], 0.0, "clamp min > max grad");
    // x.clamp(nan, 1.0) and x.clamp(0.0, nan), x = [0., 1.5]: a NaN bound gives NaN
    for (lo, hi) in [(NAN, 1.0), (0.0, NAN)] {
        let (y, dx) = value_and_grad(&[0.0, 1.5], |x| x.clamp(lo, hi));
        assert_close(&y, &[NAN, NAN], 0.0, "clamp NaN bound");
        assert_close(&dx, &[0.0, 0.0], 0.0, "clamp NaN bound grad");
    }
}

#[test]
fn softplus_threshold_as_pytorch() {
    // F.softplus(x), x = [-30., -1., 0., 19.9, 20., 20.0000001, 25., nan, -inf, inf]: the
    // threshold is strict (20 itself is log1p(exp(20))), above it softplus is x
    let x = [-30.0, -1.0, 0.0, 19.9, 20.0, 20.0000001, 25.0, NAN, -INF, INF];
    let (y, dx) = value_and_grad(&x, |x| x.softplus());
    let want_y = [
        9.357622968839737e-14,
        0.31326168751822286,
        std::f64::consts::LN_2, // PyTorch printed 0.6931471805599453
        19.900000002277924,
        20.000000002061153,
        20.0000001,
        25.0,
        NAN,
        0.0,
        INF,
    ];
    let want_dx =
        [9.3576229688393e-14, 0.2689414213699951, 0.5, 0.9999999977220729, 0.9999999979388464, 1.0, 1.0, NAN, 0.0, 1.0];
    assert_close(&y, &want_y, 1e-15, "softplus");
    assert_close(&dx, &want_dx, 1e-15, "softplus grad");
}

#[test]
fn silu_elu_leaky_relu_edges_as_pytorch() {
    // F.silu(x), x = [-inf, -800., -1., 0., 2., inf, nan]
    let (y, dx) = value_and_grad(&[-INF, -800.0, -1.0, 0.0, 2.0, INF, NAN], |x| x.silu());
    assert_close(&y, &[NAN, -0.0, -0.2689414213699951, 0.0, 1.7615941559557646, INF, NAN], 1e-15, "silu");
    assert_close(&dx, &[NAN, -0.0, 0.07232948812851325, 0.5, 1.0907842487848955, NAN, NAN], 1e-15, "silu grad");
    // F.elu(x, 0.7), x = [-inf, -2., -1e-3, 0., 1., nan]: the gradient at 0 is alpha. At NaN
    // it is NaN, as PyTorch's vectorised loop gives it (`torch.full((16,), nan)`); PyTorch
    // prints 1 for this short tensor, which its scalar loop takes (docs/reliability.md).
    let (y, dx) = value_and_grad(&[-INF, -2.0, -1e-3, 0.0, 1.0, NAN], |x| x.elu(0.7));
    assert_close(&y, &[-0.7, -0.6052653017343711, -0.0006996501166375059, 0.0, 1.0, NAN], 1e-15, "elu");
    assert_close(&dx, &[0.0, 0.09473469826562889, 0.6993003498833624, 0.7, 1.0, NAN], 1e-15, "elu grad");
    // F.leaky_relu(x, 0.1), x = [-2., 0., 1., nan]: the slope at 0 and for NaN
    let (y, dx) = value_and_grad(&[-2.0, 0.0, 1.0, NAN], |x| x.leaky_relu(0.1));
    assert_close(&y, &[-0.2, 0.0, 1.0, NAN], 0.0, "leaky_relu");
    assert_close(&dx, &[0.1, 0.1, 1.0, 0.1], 0.0, "leaky_relu grad");
}

#[test]
fn log1p_expm1_sin_cos_edges_as_pytorch() {
    // torch.log1p(x), x = [-1., -0.5, 0., 3., nan]
    let (y, dx) = value_and_grad(&[-1.0, -0.5, 0.0, 3.0, NAN], |x| x.log1p());
    assert_close(&y, &[-INF, -std::f64::consts::LN_2, 0.0, 1.3862943611198906, NAN], 1e-15, "log1p");
    assert_close(&dx, &[INF, 2.0, 1.0, 0.25, NAN], 0.0, "log1p grad");
    // torch.expm1(x), x = [-inf, 0., 1e-10, 2.]
    let (y, dx) = value_and_grad(&[-INF, 0.0, 1e-10, 2.0], |x| x.expm1());
    assert_close(&y, &[-1.0, 0.0, 1.00000000005e-10, 6.38905609893065], 1e-15, "expm1");
    assert_close(&dx, &[0.0, 1.0, 1.0000000001, 7.38905609893065], 1e-15, "expm1 grad");
    // torch.sin(x), x = [0., 1., inf]; torch.cos(x), x = [0., 1.]
    let (y, dx) = value_and_grad(&[0.0, 1.0, INF], |x| x.sin());
    assert_close(&y, &[0.0, 0.8414709848078965, NAN], 1e-15, "sin");
    assert_close(&dx, &[1.0, 0.5403023058681398, NAN], 1e-15, "sin grad");
    let (y, dx) = value_and_grad(&[0.0, 1.0], |x| x.cos());
    assert_close(&y, &[1.0, 0.5403023058681398], 1e-15, "cos");
    assert_close(&dx, &[-0.0, -0.8414709848078965], 1e-15, "cos grad");
}

#[test]
fn labels_name_the_new_ops() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[2]));
    let ys = [x.clamp(-1.0, 1.0), x.leaky_relu(0.01), x.elu(1.0), x.softplus(), x.maximum(x)];
    let dump = tape.dump().to_string();
    for (y, name) in ys.iter().zip(["clamp(-1, 1)", "leaky_relu(0.01)", "elu(1)", "softplus", "maximum"]) {
        assert!(dump.contains(name), "node {} is not labelled {name}:\n{dump}", y.id());
    }
}
