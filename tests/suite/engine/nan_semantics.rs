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

/// `relu(-0.0)` is -0.0, as PyTorch's `torch.relu(torch.tensor(-0.0))` (only `x < 0` becomes
/// +0.0); the sign shows in a later `c / x` (-inf, not inf: program 1-1349).
#[test]
fn relu_keeps_the_sign_of_a_negative_zero() {
    let (y, _) = grad_of(-0.0, |x| x.relu());
    assert_eq!(y.to_bits(), (-0.0f64).to_bits(), "{y}");
    let (y, _) = grad_of(-0.0, |x| 1.46 / x.relu());
    assert_eq!(y, f64::NEG_INFINITY);
    assert_eq!(grad_of(-2.0, |x| x.relu()).0.to_bits(), 0.0f64.to_bits());
}

/// elu's derivative at the kink is alpha (PyTorch's `x <= 0`), but its second derivative there
/// is 0: PyTorch's double backward masks with `x < 0`. `hvp(lambda x: F.elu(x, alpha=2.0).sum(),
/// x, v)` at `x = [1, -0, 0, -1]`, `v = [-2.95, 2.89, 1.5, 1.5]` is `[-0, 0, 0,
/// 1.103638323514327]` (program 1-1582).
#[test]
fn elu_second_derivative_at_the_kink_is_zero_as_pytorch() {
    let x = Tensor::new(vec![1.0, -0.0, 0.0, -1.0], &[4]).unwrap();
    let v = Tensor::new(vec![-2.95, 2.89, 1.5, 1.5], &[4]).unwrap();
    let hv = tapegrad::hvp(|x| x.elu(2.0).sum(), &x, &v);
    assert_eq!(hv.data(), &[0.0, 0.0, 0.0, 1.103638323514327]);
    assert_eq!(grad_of(0.0, |x| x.elu(2.0)).1, 2.0);
    assert_eq!(grad_of(-0.0, |x| x.elu(2.0)).1, 2.0);
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
    // The recorded backward keeps the same limits (it computed `0 * inf` at -inf: program 1-3969).
    let x = Tensor::new(vec![f64::NEG_INFINITY, f64::INFINITY, 1e155, -1e300, 1e100, f64::NAN], &[6]).unwrap();
    let (fast, recorded) = fast_and_recorded(&[x], &[1.0; 6], |v| v[0].gelu());
    assert_same(&fast[0], &[0.0, 1.0, 1.0, 0.0, 1.0, f64::NAN], "gelu: backward");
    assert_same(&recorded[0], &fast[0], "gelu: backward_graph");
}

/// gelu's second derivative is PyTorch's `gelu_double_backward`, one number per element times
/// the upstream gradient, so where `tanh` saturates (`1 - tanh^2` and `sech^2` exactly 0) it
/// is 0 under any finite upstream gradient; recorded as ops, `1e100 * x^2` overflowed before
/// the 0 met it and made NaN (program 1-3157). PyTorch 2.15 (float64):
/// `x = torch.tensor([1e100, 1., -3.])`, `g = grad((F.gelu(x - 2, approximate='tanh') * 1e100).sum(), x,
/// create_graph=True)`, `grad(g, x, torch.tensor([1.5, 1., 1.]))`.
#[test]
fn gelu_second_derivative_vanishes_where_tanh_saturates_as_pytorch() {
    let x = Tensor::new(vec![1e100, 1.0, -3.0], &[3]).unwrap();
    let v = Tensor::new(vec![1.5, 1.0, 1.0], &[3]).unwrap();
    let hv = tapegrad::hvp(|x| ((x - 2.0).gelu() * 1e100).sum(), &x, &v);
    let expected = [0.0, 2.42148197983773e99, -9.934132224893722e94];
    for (got, want) in hv.data().iter().zip(expected) {
        assert!((got - want).abs() <= 1e-14 * want.abs(), "{:?}, PyTorch {expected:?}", hv.data());
    }
}

/// elu's derivative at NaN is NaN, as PyTorch's vectorised `elu_backward` (the loop that
/// takes every whole block of 16 float64 elements), which takes the exponential side wherever
/// `x > 0` is false: `x = torch.full((16,), nan)`, `F.elu(x, 2.0).sum().backward()` gives NaN
/// everywhere (program 1-627). PyTorch's scalar loop for the remaining elements gives 1
/// (`docs/reliability.md`).
#[test]
fn elu_derivative_at_nan_is_nan_as_pytorch() {
    let x = Tensor::new(vec![f64::NAN, -1.0, 0.0, 2.0], &[4]).unwrap();
    let (fast, recorded) = fast_and_recorded(&[x], &[1.0; 4], |v| v[0].elu(2.0));
    let expected = [f64::NAN, 2.0 * (-1f64).exp(), 2.0, 1.0];
    assert_same(&fast[0], &expected, "elu: backward");
    assert_same(&recorded[0], &expected, "elu: backward_graph");
}

/// elu's second derivative is PyTorch's double backward, `elu_backward(ggI * g, x) * (x < 0)`:
/// a product with the mask, not a mask, so an infinite first-pass gradient where `x >= 0`
/// gives NaN (programs 1-627, 1-3435). PyTorch 2.15 (float64): `x = [1, 0, -1, -0.5]`,
/// `g = grad((F.elu(x, 2.0) * r).sum(), x, create_graph=True)` with `r = [inf, inf, 2, -inf]`,
/// `grad(g, x, ones(4))` is `[nan, nan, 4 / e, -inf]`.
#[test]
fn elu_second_derivative_multiplies_by_its_mask_as_pytorch() {
    let inf = f64::INFINITY;
    let x = Tensor::new(vec![1.0, 0.0, -1.0, -0.5], &[4]).unwrap();
    let hv = tapegrad::hvp(
        |x| (x.elu(2.0) * x.tape().constant(Tensor::new(vec![inf, inf, 2.0, -inf], &[4]).unwrap())).sum(),
        &x,
        &Tensor::ones(&[4]),
    );
    let got = hv.data();
    assert!(got[0].is_nan() && got[1].is_nan() && got[3] == -inf, "{got:?}");
    assert!((got[2] - 4.0 / 1f64.exp()).abs() <= 1e-15, "{got:?}");
}

/// The gradients of `f` at `inputs` for the output gradient `seed`, from `backward` and from
/// `backward_graph`, one per input.
#[allow(clippy::type_complexity)]
fn fast_and_recorded(
    inputs: &[Tensor],
    seed: &[f64],
    f: impl for<'t> Fn(&[tapegrad::Var<'t>]) -> tapegrad::Var<'t>,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let tape = Tape::new();
    let vars = tape.vars(inputs);
    let y = f(&vars);
    let seed = Tensor::new(seed.to_vec(), &y.shape()).unwrap();
    let fast = y.backward_with(seed.clone());
    let recorded = y.backward_graph_with(tape.constant(seed));
    let fast = vars.iter().map(|&v| fast.wrt(v).unwrap().data().to_vec()).collect();
    let recorded = vars.iter().map(|&v| recorded.wrt(v).unwrap().value().data().to_vec()).collect();
    (fast, recorded)
}

/// Equal element by element, NaN matching NaN.
#[track_caller]
fn assert_same(actual: &[f64], expected: &[f64], what: &str) {
    let same = actual.len() == expected.len()
        && actual.iter().zip(expected).all(|(a, e)| a == e || (a.is_nan() && e.is_nan()));
    assert!(same, "{what}: {actual:?}, PyTorch {expected:?}");
}

/// PyTorch's backward for relu, clamp, maximum / minimum and `x ** 0` is a mask (`where`), not a
/// product: where the local derivative is 0 the gradient is 0 even for an infinite or NaN
/// upstream gradient. Values printed by PyTorch 2.15 (float64), e.g.
/// `x = torch.tensor([-1., 0., 2.], requires_grad=True); torch.relu(x).backward(g); x.grad`.
/// Both `backward` and `backward_graph`.
#[test]
#[allow(clippy::type_complexity)]
fn an_infinite_or_nan_upstream_gradient_through_a_zero_derivative_is_zero_as_pytorch() {
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let t = |v: &[f64]| Tensor::new(v.to_vec(), &[v.len()]).unwrap();
    type Unary = for<'t> fn(&[tapegrad::Var<'t>]) -> tapegrad::Var<'t>;
    #[rustfmt::skip]
    let unary: [(&str, Unary, &[f64], &[f64], &[f64]); 6] = [
        ("relu, g = inf", |v| v[0].relu(), &[-1.0, 0.0, 2.0], &[inf; 3], &[0.0, 0.0, inf]),
        ("relu, g = nan", |v| v[0].relu(), &[-1.0, 0.0, 2.0], &[nan; 3], &[0.0, 0.0, nan]),
        ("clamp(0, 1), g = inf", |v| v[0].clamp(0.0, 1.0), &[-2.0, 0.0, 0.5, 1.0, 3.0, nan], &[inf; 6], &[0.0, 0.0, inf, 0.0, 0.0, 0.0]),
        ("powf(0), g = inf", |v| v[0].powf(0.0), &[0.0, 2.0], &[inf; 2], &[0.0, 0.0]),
        ("powf(0), g = nan", |v| v[0].powf(0.0), &[0.0, 2.0], &[nan; 2], &[0.0, 0.0]),
        // abs multiplies (`g * sgn(x)`), but `sgn(NaN)` is 0: 0 for a finite g, NaN for inf.
        ("abs, g = 1", |v| v[0].abs(), &[nan, 0.0, -2.0], &[1.0; 3], &[0.0, 0.0, -1.0]),
    ];
    for (what, f, x, g, expected) in unary {
        let (fast, recorded) = fast_and_recorded(&[t(x)], g, f);
        assert_same(&fast[0], expected, &format!("{what}: backward"));
        assert_same(&recorded[0], expected, &format!("{what}: backward_graph"));
    }
    let (fast, recorded) = fast_and_recorded(&[t(&[nan, 0.0, -2.0])], &[inf; 3], |v| v[0].abs());
    assert_same(&fast[0], &[nan, nan, -inf], "abs, g = inf: backward");
    assert_same(&recorded[0], &[nan, nan, -inf], "abs, g = inf: backward_graph");

    // a = [1, 2, 3], b = [2, 2, 1], g = [inf, inf, nan]: the loser gets 0, a tie half each.
    let (a, b, g) = (t(&[1.0, 2.0, 3.0]), t(&[2.0, 2.0, 1.0]), [inf, inf, nan]);
    let (fast, recorded) = fast_and_recorded(&[a.clone(), b.clone()], &g, |v| v[0].maximum(v[1]));
    for (grads, how) in [(fast, "backward"), (recorded, "backward_graph")] {
        assert_same(&grads[0], &[0.0, inf, nan], &format!("maximum da: {how}"));
        assert_same(&grads[1], &[inf, inf, 0.0], &format!("maximum db: {how}"));
    }
    let (fast, recorded) = fast_and_recorded(&[a, b], &g, |v| v[0].minimum(v[1]));
    for (grads, how) in [(fast, "backward"), (recorded, "backward_graph")] {
        assert_same(&grads[0], &[inf, inf, 0.0], &format!("minimum da: {how}"));
        assert_same(&grads[1], &[0.0, inf, nan], &format!("minimum db: {how}"));
    }
    // Broadcast: the general and the row loops too.
    let (fast, _) = fast_and_recorded(&[t(&[1.0, 5.0]), Tensor::scalar(2.0)], &[nan, inf], |v| v[0].maximum(v[1]));
    assert_same(&fast[0], &[0.0, inf], "maximum broadcast da");
    assert_same(&fast[1], &[nan], "maximum broadcast db");
}

/// Layer norm of a row whose variance underflows to 0 at `eps = 0`, so that `1/std` is
/// infinite: PyTorch forms gamma's gradient from `rstd x - rstd mean`, which is `inf - inf =
/// NaN` where `x` has the mean's sign (or is 0) and `+-inf` elsewhere; so does tapegrad, on
/// both paths (program 1-2324). PyTorch 2.15: `F.layer_norm(x, (d,), gamma, beta, 0.0)` with
/// the upstream gradient `g`; `x.grad` is NaN throughout, `beta.grad` is `g` summed.
#[test]
#[allow(clippy::type_complexity)]
fn layer_norm_gamma_gradient_at_an_underflowed_variance_is_pytorchs() {
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let t = |v: &[f64]| Tensor::new(v.to_vec(), &[1, v.len()]).unwrap();
    let d1 = |v: &[f64]| Tensor::new(v.to_vec(), &[v.len()]).unwrap();
    // (x, gamma, beta, g, y, gamma.grad)
    #[rustfmt::skip]
    let cases: [(&[f64], &[f64], &[f64], &[f64], &[f64], &[f64]); 2] = [
        (&[-1.71e-200, 3.37e-300], &[-2.26, -1.16], &[2.98, 1.03], &[-0.69, -0.93], &[inf, -inf], &[nan, -inf]),
        (&[-1e-200, 2e-200, 0.0], &[1.0; 3], &[0.0; 3], &[1.0; 3], &[-inf, inf, -inf], &[-inf, nan, nan]),
    ];
    for (x, gamma, beta, g, y, dgamma) in cases {
        let inputs = [t(x), d1(gamma), d1(beta)];
        let tape = Tape::new();
        let vars = tape.vars(&inputs);
        assert_same(vars[0].layer_norm(vars[1], vars[2], 0.0).value().data(), y, "y");
        let (fast, recorded) = fast_and_recorded(&inputs, g, |v| v[0].layer_norm(v[1], v[2], 0.0));
        for (grads, how) in [(fast, "backward"), (recorded, "backward_graph")] {
            assert_same(&grads[0], &vec![nan; x.len()], &format!("{x:?}: dx, {how}"));
            assert_same(&grads[1], dgamma, &format!("{x:?}: dgamma, {how}"));
            assert_same(&grads[2], g, &format!("{x:?}: dbeta, {how}"));
        }
    }
}

/// The deliberate differences from PyTorch listed in `docs/reliability.md` ("Where tapegrad
/// differs from PyTorch"), each pinned to its case.
#[test]
fn deliberate_differences_from_pytorch_hold() {
    // An ignored row holding NaN: its gradient is 0 (PyTorch: NaN).
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![f64::NAN, 1.0, 2.0, 0.5, 1.0, 2.0], &[2, 3]).unwrap());
    let loss = x.cross_entropy_with(&[1, 0], &tapegrad::CrossEntropy::new().ignore_index(1));
    let g = loss.backward().wrt(x).unwrap().clone();
    assert_eq!(&g.data()[..3], &[0.0; 3]);
    assert_eq!(loss.backward_graph().wrt(x).unwrap().value().data()[..3], [0.0; 3]);
    // ... and its second derivative is 0 where the direction reaching it overflows (`v / b`
    // at b = 1e-310; PyTorch: NaN, NaN; program 1-2075).
    let b = Tensor::new(vec![1e-310, 1.0, 1.0, 1.0], &[2, 2]).unwrap();
    let opts = tapegrad::CrossEntropy::new().ignore_index(1);
    let v = Tensor::new(vec![1.0, 1.0, 1.0, -1.0], &[2, 2]).unwrap();
    let hv = tapegrad::hvp(
        |x| (x / x.tape().constant(b.clone())).cross_entropy_with(&[1, 0], &opts),
        &Tensor::zeros(&[2, 2]),
        &v,
    );
    assert_eq!(hv.data(), &[0.0, 0.0, 0.5, -0.5]);
    // var with correction > n: inf, with the gradient's sign that of x - mean (PyTorch: [inf, inf]).
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![1.0, 2.0], &[2]).unwrap());
    let v = x.var_axis(0, 3, false);
    assert_eq!(v.item(), f64::INFINITY);
    assert_eq!(v.backward().wrt(x).unwrap().data(), &[f64::NEG_INFINITY, f64::INFINITY]);
    // A 2-feature layer-norm row whose variance overflows: NaN (PyTorch: 0).
    let tape = Tape::new();
    let vars =
        tape.vars(&[Tensor::new(vec![1e200, -1e200], &[1, 2]).unwrap(), Tensor::ones(&[2]), Tensor::zeros(&[2])]);
    assert!(vars[0].layer_norm(vars[1], vars[2], 1e-5).value().data().iter().all(|e| e.is_nan()));
    // A product whose terms are all -0.0 is -0.0 (PyTorch: +0.0, its sums start from +0.0):
    // `zeros(1, 3) @ w` with a column of `w` all negative, so `1 / x` there is -inf.
    let w = Tensor::new(vec![-1.75, 2.15, -3.68e-320, -2.35, -1.46e-300, -2.42e-200], &[3, 2]).unwrap();
    let p = Tensor::zeros(&[1, 3]).matmul(&w);
    assert_eq!(p.data().iter().map(|x| x.is_sign_negative()).collect::<Vec<_>>(), [true, false]);
}
