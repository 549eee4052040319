//! Every op's differentiable backward (`backward_graph`) against its fast one (`backward`),
//! and its second derivatives against finite differences (`gradgradcheck`), on every row of
//! the op table (`tests/suite/op_table.rs`).

use crate::common::randn;
use crate::op_table::{At, OpCase, op_cases, smooth_cases};
use tapegrad::{CrossEntropy, Tape, Tensor, Var, gradgradcheck};

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

/// Second derivatives of every op against finite differences of its gradient.
#[test]
fn gradgradcheck_every_op() {
    for OpCase { name, inputs, f, .. } in smooth_cases() {
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
