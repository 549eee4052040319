//! Every op's differentiable backward (`backward_graph`) against its fast one (`backward`),
//! and its second derivatives against finite differences (`gradgradcheck`), on every row of
//! the op table (`tests/suite/op_table.rs`).

use crate::common::randn;
use crate::op_table::{At, OpCase, op_cases, smooth_cases};
use tapegrad::{BceWithLogits, CrossEntropy, Reduction, Tape, Tensor, Var, gradgradcheck};

/// With every row ignored the mean is 0 / 0 and the fast gradient is 0 (as PyTorch's); the
/// recorded one is too, not `0 * inf`.
#[test]
fn cross_entropy_every_row_ignored_records_a_zero_gradient() {
    let tape = Tape::new();
    let x = tape.var(randn(&[2, 3], 57));
    let loss = x.cross_entropy_with(&[1, 1], &CrossEntropy::new().ignore_index(1));
    assert!(loss.item().is_nan());
    let fast = loss.backward().wrt(x).unwrap().clone();
    let recorded = loss.backward_graph().wrt(x).unwrap().value();
    assert_eq!(fast.data(), &[0.0; 6]);
    assert_eq!(recorded.data(), &[0.0; 6]);
}

/// The recorded backward gives the fast backward's gradients, for every op and every input,
/// with a random output gradient.
#[test]
fn recorded_backward_equals_fast_backward_for_every_op() {
    assert_recorded_equals_fast(smooth_cases());
}

/// The same at the kinks, ties and NaN of the new ops, and for `detach`.
#[test]
fn recorded_backward_equals_fast_backward_at_kinks_ties_and_nan() {
    assert_recorded_equals_fast(op_cases().into_iter().filter(|c| c.at == At::Kink).collect());
}

/// Equal to 1e-12 (relative), or both NaN, for every case and input.
fn assert_recorded_equals_fast(cases: Vec<OpCase>) {
    for OpCase { name, inputs, f, .. } in cases {
        let tape = Tape::new();
        let vars = tape.vars(&inputs);
        let out = f(&vars);
        let seed = randn(&out.shape(), 99);
        let fast = out.backward_with(seed.clone());
        let recorded = out.backward_graph_with(tape.constant(seed));
        for (k, &x) in vars.iter().enumerate() {
            match (fast.wrt(x), recorded.wrt(x)) {
                (Some(a), Some(b)) => {
                    let b = b.value();
                    assert_eq!(a.shape(), b.shape(), "{name}: input {k}");
                    for (p, q) in a.data().iter().zip(b.data()) {
                        let close = (p.is_nan() && q.is_nan())
                            || approx::relative_eq!(p, q, epsilon = 1e-12, max_relative = 1e-12);
                        assert!(close, "{name}: input {k}: fast {a}, recorded {b}");
                    }
                }
                (None, None) => {}
                (a, b) => panic!("{name}: input {k}: fast {a:?}, recorded {:?}", b.map(Var::value)),
            }
        }
    }
}

/// Second derivatives of every op against finite differences of its gradient (every smooth
/// row but the large ones: their ops' small rows check them).
#[test]
fn gradgradcheck_every_op() {
    for OpCase { name, inputs, f, .. } in smooth_cases().into_iter().filter(|c| !c.large) {
        if let Err(e) = gradgradcheck(&inputs, f) {
            panic!("{name}: {e}");
        }
    }
}

/// The check can fail: a backward whose differentiable form is wrong is caught. Relu's
/// recorded derivative is a constant mask, right away from 0; at the kink the central
/// difference of `2 relu(x)`, the gradient of `x relu(x)`, sees the average slope.
#[test]
fn gradgradcheck_catches_a_kink() {
    let x = Tensor::new(vec![0.0, 1.0], &[2]).unwrap();
    let err = gradgradcheck(&[x], |v| v[0].relu() * v[0]).unwrap_err();
    assert!(err.to_string().contains("input 0, element [0]"), "{err}");
}

/// Third derivatives through the recorded scatter-adds: differentiating `gather`'s and
/// `index_select`'s recorded backward twice runs `ScatterAdd`'s and `IndexAdd`'s own
/// `backward_graph` (the pick again). `f = sum(pick(x)^3)` with picks of `x_0` twice and
/// `x_2` once: `f' = 3 c x^2`, `f'' = 6 c x`, `f''' = 6 c` with `c` the pick counts.
#[test]
fn third_derivatives_through_gather_and_index_select() {
    type Pick = fn(Var<'_>) -> Var<'_>;
    let picks: [(&str, Pick); 2] = [
        ("gather", |x| x.gather(0, &Tensor::new(vec![0.0, 2.0, 0.0], &[3]).unwrap())),
        ("index_select", |x| x.index_select(0, &[0, 2, 0])),
    ];
    for (name, pick) in picks {
        let tape = Tape::new();
        let x = tape.var(Tensor::new(vec![1.5, -2.0, 0.5], &[3]).unwrap());
        let f = pick(x).powf(3.0).sum();
        let d1 = f.backward_graph().wrt(x).unwrap();
        assert_eq!(d1.value().data(), &[2.0 * 3.0 * 2.25, 0.0, 3.0 * 0.25], "{name}");
        let d2 = d1.sum().backward_graph().wrt(x).unwrap();
        assert_eq!(d2.value().data(), &[2.0 * 6.0 * 1.5, 0.0, 6.0 * 0.5], "{name}");
        let d3 = d2.sum().backward().wrt(x).unwrap().clone();
        assert_eq!(d3.data(), &[12.0, 0.0, 6.0], "{name}");
    }
}

/// Third derivatives of gelu and elu: their recorded derivative is an op of its own (its
/// derivative is one number per element, as PyTorch's double backward), whose own recorded
/// backward must give its fast one, and be differentiable in turn: `g(x) = d sum(f(x) w)/dx`,
/// its gradient recorded and fast, and its second derivatives against finite differences.
#[test]
fn third_derivatives_through_gelu_and_elu() {
    fn first_derivative<'t>(v: &[Var<'t>], w: &Tensor, f: fn(Var<'t>) -> Var<'t>) -> Var<'t> {
        (f(v[0]) * v[0].tape().constant(w.clone())).sum().backward_graph().wrt(v[0]).unwrap()
    }
    let x = randn(&[3, 4], 71).map(|e| if e.abs() < 0.1 { e + 0.3 } else { e });
    let (w, seed) = (randn(&[3, 4], 72), randn(&[3, 4], 73));
    type Activation = for<'t> fn(Var<'t>) -> Var<'t>;
    let cases: [(&str, Activation); 2] = [("gelu", |x| x.gelu()), ("elu", |x| x.elu(0.7))];
    for (name, f) in cases {
        let tape = Tape::new();
        let v = tape.var(x.clone());
        let g = first_derivative(&[v], &w, f);
        let fast = g.backward_with(seed.clone()).wrt(v).unwrap().clone();
        let recorded = g.backward_graph_with(tape.constant(seed.clone())).wrt(v).unwrap().value();
        for (a, b) in fast.data().iter().zip(recorded.data()) {
            assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{name}'': fast {fast:?}, recorded {recorded:?}");
        }
        if let Err(e) = gradgradcheck(std::slice::from_ref(&x), |v| first_derivative(v, &w, f)) {
            panic!("{name}: {e}");
        }
    }
}

/// `backward_graph` agrees with `backward` (and both with PyTorch 2.15, float64) at non-finite
/// and huge inputs: each case's fast and recorded gradients, for the output gradient `seed`.
#[test]
#[allow(clippy::type_complexity)]
fn recorded_backward_equals_fast_backward_at_infinite_and_huge_inputs() {
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let t = |v: &[f64]| Tensor::new(v.to_vec(), &[v.len()]).unwrap();
    type G = for<'t> fn(&[Var<'t>]) -> Var<'t>;
    // (name, inputs, function, seed, PyTorch's gradient per input)
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<Tensor>, G, f64, Vec<Vec<f64>>)> = vec![
        // F.huber_loss(x, zeros(3), reduction='sum'), x = [inf, -inf, 0.5]
        ("huber, infinite x - y", vec![t(&[inf, -inf, 0.5]), t(&[0.0; 3])],
         |v| v[0].huber_loss(v[1], 1.0, Reduction::Sum), 1.0,
         vec![vec![1.0, -1.0, 0.5], vec![-1.0, 1.0, -0.5]]),
        // The same with x = [nan, 0.5]: a NaN x - y gives a NaN gradient, on both paths
        ("huber, NaN x - y", vec![t(&[nan, 0.5]), t(&[0.0; 2])],
         |v| v[0].huber_loss(v[1], 1.0, Reduction::Sum), 1.0,
         vec![vec![nan, 0.5], vec![nan, -0.5]]),
        // torch.logsumexp(x, 0)
        ("logsumexp [inf, 0.5]", vec![t(&[inf, 0.5])], |v| v[0].logsumexp(0, false), 1.0, vec![vec![nan, 0.0]]),
        ("logsumexp [-1e20, -1e20]", vec![t(&[-1e20, -1e20])], |v| v[0].logsumexp(0, false), 1.0, vec![vec![1.0, 1.0]]),
        // F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor([0.5, 0.5]),
        // reduction='sum'), x = [-inf, 0], y = [0.3, 0.6]
        ("bce pos_weight, logit -inf", vec![t(&[-inf, 0.0]), t(&[0.3, 0.6])],
         |v| v[0].bce_with_logits(v[1], &BceWithLogits::new().pos_weight(Tensor::full(&[2], 0.5)).reduction(Reduction::Sum)), 1.0,
         vec![vec![-0.15, 0.050000000000000044], vec![inf, -0.34657359027997264]]),
        // F.nll_loss(x, [0, 1, 2]).backward(torch.tensor(nan)): NaN at the targets only
        ("nll_loss, NaN upstream", vec![randn(&[3, 4], 58)], |v| v[0].nll_loss(&[0, 1, 2]), nan,
         vec![vec![nan, 0.0, 0.0, 0.0, 0.0, nan, 0.0, 0.0, 0.0, 0.0, nan, 0.0]]),
        // torch.addmm(b, m1, m2) times [[0.83, 0, -0.83]], summed: m1's gradient is
        // 0.83e20 + 0 - 0.83e20 = 0 exactly when both paths sum the same rounded products
        // (a fused multiply-add would leave the rounding of 0.83 * 1e20, 3996.8; program 1-3992)
        ("addmm, huge mat2", vec![t(&[0.0; 3]), Tensor::full(&[1, 2], 1e20), Tensor::new(vec![1e20, 1e20, 1e20, 1e20, -1.52, 1e20], &[2, 3]).unwrap()],
         |v| v[0].addmm(v[1], v[2]) * v[0].tape().constant(Tensor::new(vec![0.83, 0.0, -0.83], &[1, 3]).unwrap()), 1.0,
         vec![vec![0.83, 0.0, -0.83], vec![0.0, 0.0], vec![8.3e19, 0.0, -8.3e19, 8.3e19, 0.0, -8.3e19]]),
    ];
    for (name, inputs, f, seed, expected) in cases {
        let tape = Tape::new();
        let vars = tape.vars(&inputs);
        let y = f(&vars);
        let fast = y.backward_with(Tensor::full(&y.shape(), seed));
        let recorded = y.backward_graph_with(tape.constant(Tensor::full(&y.shape(), seed)));
        for (k, (&x, expected)) in vars.iter().zip(&expected).enumerate() {
            let fast = fast.wrt(x).unwrap().data().to_vec();
            let recorded = recorded.wrt(x).unwrap().value().data().to_vec();
            for (how, grad) in [("backward", &fast), ("backward_graph", &recorded)] {
                let same = grad.iter().zip(expected).all(|(a, e)| a == e || (a.is_nan() && e.is_nan()));
                assert!(same, "{name}: input {k}: {how} {grad:?}, PyTorch {expected:?}");
            }
        }
    }
}

/// `x.linear(w, b)` with a 1-D `x` (one row, as PyTorch allows; the op table's `linear of a
/// vector` checks its second derivatives): the recorded backward reads `x` and the output
/// gradient as matrices, so its Hessian in `x` equals the one of the same row as a [1, 3] matrix.
#[test]
fn linear_of_a_vector_has_the_hessian_of_a_one_row_matrix() {
    fn g<'t>(v: Var<'t>) -> Var<'t> {
        v.linear(v.tape().constant(randn(&[2, 3], 60)), None).tanh().sum()
    }
    let x = randn(&[3], 59);
    let row = tapegrad::hessian(g, &x);
    let matrix = tapegrad::hessian(g, &x.clone().reshape(&[1, 3]).unwrap());
    assert_eq!(row.data(), matrix.data());
    assert_eq!(tapegrad::hvp(g, &x, &Tensor::ones(&[3])).shape(), &[3]);
}

/// Layer norm over an empty feature axis is an empty result (PyTorch: `torch.Size([2, 0])`),
/// with empty gradients, recorded or not.
#[test]
fn layer_norm_over_an_empty_feature_axis_is_empty() {
    let tape = Tape::new();
    let vars = tape.vars(&[Tensor::zeros(&[2, 0]), Tensor::zeros(&[0]), Tensor::zeros(&[0])]);
    let y = vars[0].layer_norm(vars[1], vars[2], 1e-5);
    assert_eq!(y.shape(), vec![2, 0]);
    let fast = y.sum().backward();
    let recorded = y.sum().backward_graph();
    for (&v, shape) in vars.iter().zip([&[2, 0][..], &[0], &[0]]) {
        assert_eq!(fast.wrt(v).unwrap().shape(), shape);
        assert_eq!(recorded.wrt(v).unwrap().shape(), shape.to_vec());
    }
}
