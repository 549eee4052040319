//! Every error of the contract's last section: a `Result` for bad data, a panic naming the op
//! and every shape for a graph that cannot be built.

use crate::common::panic_message;
use tapegrad::{Error, Tape, Tensor};

#[test]
fn a_length_that_does_not_fill_the_shape_is_an_error() {
    let err = Tensor::new(vec![1.0, 2.0, 3.0], &[2, 2]).unwrap_err();
    assert!(matches!(err, Error::LengthMismatch { len: 3, .. }));
    assert_eq!(err.to_string(), "Tensor::new: 3 elements do not fill shape [2, 2] (4 elements)");
    let err = Tensor::ones(&[2, 3]).reshape(&[4]).unwrap_err();
    assert_eq!(err.to_string(), "Tensor::reshape: 6 elements do not fill shape [4] (4 elements)");
}

/// Builds a graph from two leaves of the given shapes on a fresh tape and returns the panic.
fn binary_panic(a: &[usize], b: &[usize], op: fn(tapegrad::Var, tapegrad::Var)) -> String {
    let (a, b) = (a.to_vec(), b.to_vec());
    panic_message(move || {
        let tape = Tape::new();
        op(tape.var(Tensor::zeros(&a)), tape.var(Tensor::zeros(&b)));
    })
}

#[test]
fn shapes_that_do_not_broadcast() {
    assert_eq!(
        binary_panic(&[2, 3], &[4], |a, b| {
            let _ = a + b;
        }),
        "add: shapes [2, 3] and [4] do not broadcast"
    );
    assert_eq!(
        binary_panic(&[2, 3], &[3, 2], |a, b| {
            let _ = a - b;
        }),
        "sub: shapes [2, 3] and [3, 2] do not broadcast"
    );
    assert_eq!(
        binary_panic(&[5], &[2, 3], |a, b| {
            let _ = a * b;
        }),
        "mul: shapes [5] and [2, 3] do not broadcast"
    );
    assert_eq!(
        binary_panic(&[2, 1, 4], &[3, 2], |a, b| {
            let _ = a / b;
        }),
        "div: shapes [2, 1, 4] and [3, 2] do not broadcast"
    );
}

#[test]
fn matmul_shapes() {
    assert_eq!(
        binary_panic(&[2, 3], &[4, 5], |a, b| {
            let _ = a.matmul(b);
        }),
        "matmul: shapes [2, 3] and [4, 5] cannot be multiplied: inner sizes 3 and 4 differ"
    );
    assert_eq!(
        binary_panic(&[3], &[3, 2], |a, b| {
            let _ = a.matmul(b);
        }),
        "matmul: shapes [3] and [3, 2]: both operands need at least 2 axes (reshape a vector to [1, n] or [n, 1])"
    );
    assert_eq!(
        binary_panic(&[2, 2, 3], &[3, 3, 4], |a, b| {
            let _ = a.matmul(b);
        }),
        "matmul: shapes [2, 2, 3] and [3, 3, 4]: batch axes [2] and [3] do not broadcast"
    );
}

#[test]
fn targets_outside_the_classes_or_of_the_wrong_count() {
    let run = |targets: Vec<usize>, fused: bool| {
        panic_message(move || {
            let tape = Tape::new();
            let x = tape.var(Tensor::zeros(&[2, 6]));
            let _ = if fused { x.cross_entropy(&targets) } else { x.nll_loss(&targets) };
        })
    };
    assert_eq!(run(vec![0, 6], true), "cross_entropy: target 6 at row 1 is outside 0..6 for input of shape [2, 6]");
    assert_eq!(run(vec![9, 0], false), "nll_loss: target 9 at row 0 is outside 0..6 for input of shape [2, 6]");
    assert_eq!(
        run(vec![0, 1, 2], true),
        "cross_entropy: 3 targets for input of shape [2, 6], which has 2 rows (one target per row)"
    );
}

#[test]
fn axes_out_of_range() {
    let run = |f: fn(tapegrad::Var)| {
        panic_message(move || {
            let tape = Tape::new();
            f(tape.var(Tensor::zeros(&[2, 3])));
        })
    };
    assert_eq!(
        run(|x| {
            let _ = x.sum_axis(2, false);
        }),
        "sum_axis(2): axis 2 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.mean_axis(5, true);
        }),
        "mean_axis(5): axis 5 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.max_axis(2, false);
        }),
        "max_axis: axis 2 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.softmax(2);
        }),
        "softmax: axis 2 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.log_softmax(3);
        }),
        "log_softmax: axis 3 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.transpose(0, 2);
        }),
        "transpose: axis 2 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.reshape(&[4]);
        }),
        "reshape: cannot reshape shape [2, 3] (6 elements) to [4] (4 elements)"
    );
}

#[test]
fn backward_on_a_non_scalar() {
    let message = panic_message(|| {
        let tape = Tape::new();
        let _ = tape.var(Tensor::zeros(&[2, 3])).exp().backward();
    });
    assert_eq!(
        message,
        "backward: output of shape [2, 3] is not a single value; reduce it (sum, mean, a loss) \
         or call backward_with(seed) with a seed of that shape"
    );
}

#[test]
fn item_of_a_tensor_with_many_elements() {
    let message = panic_message(|| {
        let _ = Tensor::zeros(&[2, 3]).item();
    });
    assert_eq!(message, "item: tensor of shape [2, 3] has 6 elements, not 1");
}

#[test]
fn operands_from_two_tapes() {
    let message = panic_message(|| {
        let (t1, t2) = (Tape::new(), Tape::new());
        let _ = t1.var(Tensor::scalar(1.0)) + t2.var(Tensor::scalar(2.0));
    });
    assert_eq!(message, "add: the two operands were recorded on different tapes; build the whole graph on one Tape");
}

/// A name of 1 MiB (or of 300 digits) is cut in a message, which says how long it was.
#[test]
fn huge_names_are_cut_in_messages() {
    let huge = "n".repeat(1 << 20);
    let mut params = tapegrad::Params::new();
    params.insert(huge.as_str(), Tensor::scalar(1.0));
    let message = panic_message(|| {
        let mut params = params.clone();
        params.insert(huge.as_str(), Tensor::scalar(1.0));
    });
    assert!(message.len() < 300 && message.contains("…\" (1048576 bytes)"), "{}", &message[..300.min(message.len())]);
    let digits = "9".repeat(300);
    let message = panic_message(|| {
        let _ = &params[digits.as_str()];
    });
    assert!(message.len() < 500 && message.contains("(300 bytes)"), "{}", &message[..500.min(message.len())]);
    let mut grads = tapegrad::ParamGrads::new();
    grads.insert(digits.as_str(), Tensor::scalar(1.0));
    let message = panic_message(|| {
        use tapegrad::optim::Optimizer;
        tapegrad::optim::Sgd::new(0.1).step(&mut params.clone(), &grads);
    });
    assert!(message.len() < 300 && message.contains("(300 bytes)"), "{}", &message[..300.min(message.len())]);
}
