//! Second and third derivatives through recorded backward passes: the curvature of
//! cross-entropy three ways, `hvp` against the Hessian, a third derivative, a gradient
//! penalty, and custom ops with and without a differentiable backward.

use crate::common::{panic_message, randn};
use approx::assert_abs_diff_eq;
use tapegrad::{CrossEntropy, CustomOp, Tape, Tensor, Var, gradcheck, hessian, hvp};

const TARGETS: [usize; 3] = [2, 0, 3];

/// The Hessian of the mean cross-entropy with respect to the logits is block-diagonal over
/// rows, each block `(diag(p) - p p^T) / rows`; the fused node, `log_softmax -> nll_loss`
/// and `softmax -> log -> nll_loss` agree with it and with each other.
#[test]
fn cross_entropy_hessians_agree_with_each_other_and_the_formula() {
    let z = randn(&[3, 4], 1);
    let fused = hessian(|v| v.cross_entropy(&TARGETS), &z);
    let log_softmax = hessian(|v| v.log_softmax(1).nll_loss(&TARGETS), &z);
    let composite = hessian(|v| v.softmax(1).log().nll_loss(&TARGETS), &z);
    assert_eq!(fused.shape(), &[3, 4, 3, 4]);
    let p = {
        let tape = Tape::new();
        tape.constant(z.clone()).softmax(1).value()
    };
    for r in 0..3 {
        for i in 0..4 {
            for s in 0..3 {
                for j in 0..4 {
                    let at = [r, i, s, j];
                    let (pi, pj) = (p.get(&[r, i]), p.get(&[r, j]));
                    let expected = if r != s {
                        0.0
                    } else if i == j {
                        (pi - pi * pj) / 3.0
                    } else {
                        -pi * pj / 3.0
                    };
                    assert_abs_diff_eq!(fused.get(&at), expected, epsilon = 1e-12);
                    assert_abs_diff_eq!(fused.get(&at), log_softmax.get(&at), epsilon = 1e-12);
                    assert_abs_diff_eq!(fused.get(&at), composite.get(&at), epsilon = 1e-12);
                }
            }
        }
    }
}

/// `hvp` is the Hessian times the vector, without forming the Hessian.
#[test]
fn hvp_is_the_hessian_times_the_vector() {
    let (x, v) = (randn(&[2, 3], 2), randn(&[2, 3], 3));
    fn f<'t>(x: Var<'t>) -> Var<'t> {
        let w = x.tape().constant(randn(&[3, 4], 4));
        x.tanh().matmul(w).cross_entropy(&[1, 3]) + (x * x * x).sum() / 6.0
    }
    let h = hessian(f, &x);
    let hv = hvp(f, &x, &v);
    for i in 0..6 {
        let expected: f64 = (0..6).map(|j| h.data()[i * 6 + j] * v.data()[j]).sum();
        assert_abs_diff_eq!(hv.data()[i], expected, epsilon = 1e-12);
    }
    // And the Hessian is symmetric.
    for i in 0..6 {
        for j in 0..6 {
            assert_abs_diff_eq!(h.data()[i * 6 + j], h.data()[j * 6 + i], epsilon = 1e-12);
        }
    }
}

#[test]
fn hessian_of_a_function_that_ignores_x_is_zero() {
    let x = randn(&[2], 5);
    assert_eq!(hessian(|v| v.tape().constant(Tensor::scalar(1.0)) * 2.0, &x).data(), &[0.0; 4]);
    assert_eq!(hvp(|v| v.sum() * 2.0, &x, &x).data(), &[0.0; 2]);
}

#[test]
fn hessian_and_hvp_refuse_what_they_cannot_do() {
    let x = randn(&[2], 6);
    let msg = panic_message(|| drop(hessian(|v| v * 2.0, &x)));
    assert!(msg.contains("hessian: f returned shape [2]; it must return one value"), "{msg}");
    let msg = panic_message(|| drop(hvp(|v| v.sum(), &x, &Tensor::zeros(&[3]))));
    assert!(msg.contains("hvp: vector of shape [3] does not match input of shape [2]"), "{msg}");
}

/// `d/dx tanh = 1 - t^2`, `d2 = -2 t (1 - t^2)`, `d3 = -2 (1 - t^2)(1 - 3 t^2)`: three
/// nested recorded backward passes, element by element.
#[test]
fn third_derivative_of_tanh() {
    let tape = Tape::new();
    let xs = Tensor::new(vec![-2.0, -0.7, 0.0, 0.3, 1.1, 3.0], &[6]).unwrap();
    let x = tape.var(xs.clone());
    let d1 = x.tanh().sum().backward_graph().wrt(x).unwrap();
    let d2 = d1.sum().backward_graph().wrt(x).unwrap();
    let grads = d2.sum().backward();
    let d3 = grads.wrt(x).unwrap();
    for (k, &xi) in xs.data().iter().enumerate() {
        let t = xi.tanh();
        assert_abs_diff_eq!(d1.value().data()[k], 1.0 - t * t, epsilon = 1e-12);
        assert_abs_diff_eq!(d2.value().data()[k], -2.0 * t * (1.0 - t * t), epsilon = 1e-12);
        assert_abs_diff_eq!(d3.data()[k], -2.0 * (1.0 - t * t) * (1.0 - 3.0 * t * t), epsilon = 1e-12);
    }
}

/// A WGAN-GP style gradient penalty: the critic's input gradient, its norm per sample,
/// `mean (|grad_x D(x)| - 1)^2`; the penalty's gradient with respect to the critic's
/// parameters and the samples goes through a recorded backward pass, and finite differences
/// of the whole penalty agree with it.
#[test]
fn gradient_penalty_gradient_matches_finite_differences() {
    let inputs = [randn(&[3, 4], 7), randn(&[4], 8), randn(&[4, 1], 9), randn(&[5, 3], 10)];
    fn penalty<'t>(v: &[Var<'t>]) -> Var<'t> {
        let (w1, b1, w2, x) = (v[0], v[1], v[2], v[3]);
        let critic = (x.matmul(w1) + b1).tanh().matmul(w2).sum();
        let grad_x = critic.backward_graph().wrt(x).unwrap();
        let norm = (grad_x * grad_x).sum_axis(1, false).sqrt();
        (norm - 1.0).powf(2.0).mean()
    }
    gradcheck(&inputs, penalty).unwrap();
    // The same function with the critic's gradient cut off from the graph (its value as a
    // constant) has a different gradient: the check above is not vacuous.
    fn detached<'t>(v: &[Var<'t>]) -> Var<'t> {
        let (w1, b1, w2, x) = (v[0], v[1], v[2], v[3]);
        let critic = (x.matmul(w1) + b1).tanh().matmul(w2).sum();
        let grad_x = critic.backward().wrt(x).unwrap().clone();
        let g = x.tape().constant(grad_x) + 0.0 * x;
        let norm = (g * g).sum_axis(1, false).sqrt();
        (norm - 1.0).powf(2.0).mean()
    }
    assert!(gradcheck(&inputs, detached).is_err());
}

/// `x^3` as a custom op, optionally with a differentiable backward.
struct Cube {
    differentiable: bool,
}

impl CustomOp for Cube {
    fn name(&self) -> String {
        "cube".into()
    }
    fn forward(&self, inputs: &[&Tensor]) -> Tensor {
        inputs[0].map(|x| x * x * x)
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        vec![Some(Tensor::from_fn(g.shape(), |ix| 3.0 * inputs[0].get(ix).powi(2) * g.get(ix)))]
    }
    fn backward_graph<'t>(&self, inputs: &[Var<'t>], _: Var<'t>, g: Var<'t>) -> Option<Vec<Option<Var<'t>>>> {
        self.differentiable.then(|| vec![Some(3.0 * inputs[0] * inputs[0] * g)])
    }
}

#[test]
fn custom_op_with_a_differentiable_backward_has_a_hessian() {
    let x = Tensor::new(vec![1.0, -2.0], &[2]).unwrap();
    let h = hessian(|v| Var::custom(&[v], Cube { differentiable: true }).sum(), &x);
    assert_eq!(h.data(), &[6.0, 0.0, 0.0, -12.0]);
}

/// Without one, the first derivative through `backward_graph` is right, and a second
/// derivative panics naming the op (PyTorch's `once_differentiable`), never a silent zero.
#[test]
fn custom_op_without_a_differentiable_backward_refuses_a_second_derivative() {
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![1.0, -2.0], &[2]).unwrap());
    let y = Var::custom(&[x], Cube { differentiable: false }).sum();
    let dx = y.backward_graph().wrt(x).unwrap();
    assert_eq!(dx.value().data(), &[3.0, 12.0]);
    let msg = panic_message(std::panic::AssertUnwindSafe(|| drop(dx.sum().backward())));
    assert!(msg.contains("custom op cube: cannot differentiate its gradient again"), "{msg}");
    assert!(msg.contains("implement CustomOp::backward_graph"), "{msg}");
}

/// The dump and the DOT picture show where the forward ends and the recorded backward
/// begins (and where a forward computation on the gradients begins again).
#[test]
fn dump_and_dot_mark_the_recorded_backward() {
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![0.5, -1.0], &[2]).unwrap());
    let y = x.tanh().sum();
    let g = y.backward_graph().wrt(x).unwrap();
    let penalty = (g * g).sum();
    let dump = tape.dump().to_string();
    let lines: Vec<&str> = dump.lines().collect();
    let marker = |text: &str| lines.iter().position(|l| l.trim() == text).unwrap_or_else(|| panic!("{dump}"));
    let (backward, forward) = (marker("— recorded backward —"), marker("— forward —"));
    // header, 3 forward nodes (x, tanh, sum), the marker, then the recorded nodes.
    assert_eq!(backward, 5, "{dump}");
    assert!(lines[backward - 1].trim_start().starts_with("2  sum"), "{dump}");
    assert!(lines[backward + 1].trim_start().starts_with("3  constant"), "{dump}");
    assert!(lines[forward + 1].trim_start().starts_with(&format!("{}  mul", penalty.id() - 1)), "{dump}");
    let dot = tape.to_dot();
    let cluster = dot.find("subgraph cluster_backward3 {").unwrap_or_else(|| panic!("{dot}"));
    let close = cluster + dot[cluster..].find("\n  }\n").unwrap();
    assert!(dot[..cluster].contains("n2 [label=\"#2 sum"), "{dot}");
    assert!(dot[cluster..close].contains("n3 [label=\"#3 constant"), "{dot}");
    assert!(dot[close..].contains(&format!("n{} [label=", penalty.id())), "{dot}");
}

/// `hvp` through a cross-entropy whose rows are all ignored: the mean is 0 / 0 (NaN) and the
/// gradient 0, so its derivative is 0 too, not `0 * inf` = NaN.
#[test]
fn hvp_through_a_cross_entropy_with_every_row_ignored_is_zero() {
    let x = randn(&[2, 3], 62);
    for opts in [CrossEntropy::new().ignore_index(1), CrossEntropy::new().ignore_index(1).label_smoothing(0.2)] {
        let hv = hvp(|v| v.cross_entropy_with(&[1, 1], &opts), &x, &Tensor::ones(&[2, 3]));
        assert_eq!(hv.data(), &[0.0; 6]);
    }
}
