//! Math on plain tensors, no tape: every method is the op's own forward kernel, so its value
//! is the op's value bit for bit (`t.op()` against `tape.var(t).op().value()`), on small
//! tensors, large ones (split over the cores) and special values (NaN, infinities, -0).

use crate::common::{panic_message, randn};
use approx::assert_relative_eq;
use tapegrad::{Tape, Tensor, Var};

/// Equal shapes and equal bits in every element (so NaN equals NaN, and -0 differs from 0).
fn assert_same_bits(what: &str, tensor: &Tensor, op: &Tensor) {
    assert_eq!(tensor.shape(), op.shape(), "{what}: shapes differ");
    for (i, (a, b)) in tensor.data().iter().zip(op.data()).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "{what}: element {i} is {a} as a tensor method, {b} as an op");
    }
}

/// `method(t)` against `op(tape.var(t)).value()`, for each input.
fn same_as_op(
    what: &str,
    inputs: &[Tensor],
    method: impl Fn(&Tensor) -> Tensor,
    op: impl for<'t> Fn(Var<'t>) -> Var<'t>,
) {
    for t in inputs {
        let tape = Tape::new();
        assert_same_bits(what, &method(t), &op(tape.var(t.clone())).value());
    }
}

/// A small tensor with special values among ordinary ones, a random one, and a large one.
fn elementwise_inputs() -> Vec<Tensor> {
    let special =
        vec![0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 30.0, -30.0, 1e-300, f64::INFINITY, f64::NEG_INFINITY, f64::NAN];
    vec![Tensor::new(special, &[3, 4]).unwrap(), randn(&[5, 7], 1), randn(&[300, 400], 2) * 3.0]
}

/// Random tensors of a few ranks for the axis-wise methods, one large.
fn lane_inputs() -> Vec<Tensor> {
    vec![randn(&[2, 3, 4], 3), randn(&[5, 1, 6], 4), randn(&[64, 2048], 5)]
}

#[test]
fn elementwise_methods_are_the_ops_forward() {
    let x = elementwise_inputs();
    same_as_op("exp", &x, |t| t.exp(), |v| v.exp());
    same_as_op("log", &x, |t| t.log(), |v| v.log());
    same_as_op("sqrt", &x, |t| t.sqrt(), |v| v.sqrt());
    same_as_op("abs", &x, |t| t.abs(), |v| v.abs());
    same_as_op("log1p", &x, |t| t.log1p(), |v| v.log1p());
    same_as_op("expm1", &x, |t| t.expm1(), |v| v.expm1());
    same_as_op("sin", &x, |t| t.sin(), |v| v.sin());
    same_as_op("cos", &x, |t| t.cos(), |v| v.cos());
    same_as_op("clamp", &x, |t| t.clamp(-1.0, 0.5), |v| v.clamp(-1.0, 0.5));
    same_as_op("powf", &x, |t| t.powf(3.0), |v| v.powf(3.0));
    same_as_op("powf(0.5)", &x, |t| t.powf(0.5), |v| v.powf(0.5));
    same_as_op("tanh", &x, |t| t.tanh(), |v| v.tanh());
    same_as_op("relu", &x, |t| t.relu(), |v| v.relu());
    same_as_op("sigmoid", &x, |t| t.sigmoid(), |v| v.sigmoid());
    same_as_op("gelu", &x, |t| t.gelu(), |v| v.gelu());
    same_as_op("softplus", &x, |t| t.softplus(), |v| v.softplus());
    same_as_op("silu", &x, |t| t.silu(), |v| v.silu());
    same_as_op("leaky_relu", &x, |t| t.leaky_relu(0.1), |v| v.leaky_relu(0.1));
    same_as_op("elu", &x, |t| t.elu(1.5), |v| v.elu(1.5));
    same_as_op("neg", &x, |t| -t, |v| -v);
}

#[test]
fn an_f64_on_either_side_of_a_tensor_is_the_ops_forward() {
    let x = elementwise_inputs();
    for c in [2.0, -0.5, 0.0, 3.7] {
        same_as_op("t + c", &x, |t| t + c, |v| v + c);
        same_as_op("t - c", &x, |t| t - c, |v| v - c);
        same_as_op("t * c", &x, |t| t * c, |v| v * c);
        same_as_op("t / c", &x, |t| t / c, |v| v / c);
        same_as_op("c + t", &x, |t| c + t, |v| c + v);
        same_as_op("c - t", &x, |t| c - t, |v| c - v);
        same_as_op("c * t", &x, |t| c * t, |v| c * v);
        same_as_op("c / t", &x, |t| c / t, |v| c / v);
        // Owned tensors, on either side.
        same_as_op("owned t + c", &x, |t| t.clone() + c, |v| v + c);
        same_as_op("owned t - c", &x, |t| t.clone() - c, |v| v - c);
        same_as_op("owned t * c", &x, |t| t.clone() * c, |v| v * c);
        same_as_op("owned t / c", &x, |t| t.clone() / c, |v| v / c);
        same_as_op("c + owned t", &x, |t| c + t.clone(), |v| c + v);
        same_as_op("c - owned t", &x, |t| c - t.clone(), |v| c - v);
        same_as_op("c * owned t", &x, |t| c * t.clone(), |v| c * v);
        same_as_op("c / owned t", &x, |t| c / t.clone(), |v| c / v);
    }
    let t = Tensor::new(vec![1.0, 2.0, 4.0], &[3]).unwrap();
    assert_eq!((2.0 * &t).data(), &[2.0, 4.0, 8.0]);
    assert_eq!((1.0 - &t).data(), &[0.0, -1.0, -3.0]);
    assert_eq!((&t / 2.0).data(), &[0.5, 1.0, 2.0]);
    assert_eq!((8.0 / t).data(), &[8.0, 4.0, 2.0]);
}

#[test]
fn axis_methods_are_the_ops_forward() {
    let x = lane_inputs();
    for axis in [0, 1, -1] {
        same_as_op("softmax", &x, |t| t.softmax(axis), |v| v.softmax(axis));
        same_as_op("log_softmax", &x, |t| t.log_softmax(axis), |v| v.log_softmax(axis));
        for keep in [false, true] {
            same_as_op("sum_axis", &x, |t| t.sum_axis(axis, keep), |v| v.sum_axis(axis, keep));
            same_as_op("mean_axis", &x, |t| t.mean_axis(axis, keep), |v| v.mean_axis(axis, keep));
            same_as_op("max_axis", &x, |t| t.max_axis(axis, keep), |v| v.max_axis(axis, keep));
            same_as_op("min_axis", &x, |t| t.min_axis(axis, keep), |v| v.min_axis(axis, keep));
            same_as_op("logsumexp", &x, |t| t.logsumexp(axis, keep), |v| v.logsumexp(axis, keep));
            same_as_op("var_axis", &x, |t| t.var_axis(axis, 1, keep), |v| v.var_axis(axis, 1, keep));
            same_as_op("std_axis", &x, |t| t.std_axis(axis, 0, keep), |v| v.std_axis(axis, 0, keep));
        }
        same_as_op("narrow", &x, |t| t.narrow(axis, 0, 1), |v| v.narrow(axis, 0, 1));
        same_as_op("squeeze", &x, |t| t.squeeze(axis), |v| v.squeeze(axis));
        same_as_op("unsqueeze", &x, |t| t.unsqueeze(axis), |v| v.unsqueeze(axis));
        same_as_op("transpose", &x, |t| t.transpose(axis, 0), |v| v.transpose(axis, 0));
    }
    same_as_op("sum_axes", &x, |t| t.sum_axes(&[0, -1], false), |v| v.sum_axes(&[0, -1], false));
    same_as_op("mean_axes", &x, |t| t.mean_axes(&[-1, 0], true), |v| v.mean_axes(&[-1, 0], true));
}

#[test]
fn matmul_and_t_are_the_ops_forward() {
    let pairs = [
        (randn(&[3, 4], 10), randn(&[4, 5], 11)),
        (randn(&[2, 3, 4], 12), randn(&[4, 5], 13)),
        (randn(&[2, 1, 3, 4], 14), randn(&[5, 4, 2], 15)),
        (randn(&[256, 300], 16), randn(&[300, 200], 17)),
        (randn(&[64, 8, 16], 18), randn(&[64, 16, 8], 19)),
    ];
    for (a, b) in &pairs {
        let tape = Tape::new();
        let op = tape.var(a.clone()).matmul(tape.var(b.clone())).value();
        assert_same_bits("matmul", &a.matmul(b), &op);
        // Through a transposed view (a large tensor's transpose shares its buffer).
        let bt = b.transpose(-1, -2).transpose(-2, -1);
        assert_same_bits("matmul of a view", &a.matmul(&bt), &op);
    }
    let x = [randn(&[3, 5], 20), randn(&[400, 300], 21), randn(&[4], 22), Tensor::scalar(2.0)];
    same_as_op("t", &x, |t| t.t(), |v| v.t());
    let m = randn(&[3, 5], 23);
    assert_eq!(m.t(), m.transpose(0, 1));
    assert_eq!(m.t().shape(), &[5, 3]);
    assert_eq!(m.t().t(), m);
}

#[test]
fn t_has_torchs_semantics() {
    let tape = Tape::new();
    let w = tape.var(randn(&[2, 3], 30));
    let y = w.t();
    assert_eq!(y.shape(), [3, 2]);
    // As torch: a vector or a scalar comes back as it is.
    assert_eq!(tape.var(randn(&[4], 31)).t().shape(), [4]);
    assert_eq!(tape.var(Tensor::scalar(1.0)).t().shape(), Vec::<usize>::new());
    // Its gradient is the upstream gradient transposed back.
    let g = Tensor::from_fn(&[3, 2], |ix| (ix[0] * 2 + ix[1]) as f64);
    let grads = (y * tape.constant(g.clone())).sum().backward();
    assert_eq!(grads.wrt(w).unwrap(), &g.t());
    let msg = panic_message(|| {
        let _ = Tape::new().var(Tensor::zeros(&[2, 3, 4])).t();
    });
    assert_eq!(msg, "t: shape [2, 3, 4] has 3 axes; t() transposes at most 2 (use transpose(a, b))");
    let msg = panic_message(|| drop(Tensor::zeros(&[1, 2, 3, 4]).t()));
    assert_eq!(msg, "t: shape [1, 2, 3, 4] has 4 axes; t() transposes at most 2 (use transpose(a, b))");
}

#[test]
fn one_hot_is_pytorchs() {
    // torch.nn.functional.one_hot(torch.tensor([2, 0, 2, 1]), 3)
    let y = Tensor::one_hot(&[2, 0, 2, 1], 3);
    assert_eq!(y.shape(), &[4, 3]);
    assert_eq!(y.data(), &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    assert_eq!(Tensor::one_hot(&[], 5).shape(), &[0, 5]);
    let msg = panic_message(|| drop(Tensor::one_hot(&[1, 6], 6)));
    assert_eq!(msg, "one_hot: id 6 at position 1 is outside 0..6");
}

/// The learner's check of the fused cross-entropy's gradient, as the issue puts it:
/// `(p - one_hot) / rows` with `p` the softmax, all on plain tensors.
#[test]
fn p_minus_one_hot_is_cross_entropys_gradient() {
    let logits = randn(&[5, 6], 40);
    let targets = [3, 0, 5, 5, 1];
    let tape = Tape::new();
    let x = tape.var(logits.clone());
    let dx = x.cross_entropy(&targets).backward().wrt(x).unwrap().clone();
    let by_hand = (logits.softmax(-1) - Tensor::one_hot(&targets, 6)) / 5.0;
    assert_relative_eq!(by_hand, dx, epsilon = 1e-16, max_relative = 1e-12);
}
