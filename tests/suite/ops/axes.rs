//! Negative axes, as PyTorch's `dim`: every method that takes an axis, on `Var` and on
//! `Tensor`, takes `-1` for the last axis (and `-k` for the k-th from the end), records the
//! same node as the positive axis, and panics at the caller's line on one out of range,
//! naming the op, the axis and the shape.

use crate::common::{panic_message, randn};
use tapegrad::{Tape, Tensor, Var};

/// `f(x, -k)`-style graph against `g(x, positive)`: the two tapes' dumps (every node's op,
/// inputs, shape, value and gradient) are equal. `x` has shape [2, 3, 4].
fn same_tape(negative: impl for<'t> Fn(Var<'t>) -> Var<'t>, positive: impl for<'t> Fn(Var<'t>) -> Var<'t>) {
    let record = |f: &dyn for<'t> Fn(Var<'t>) -> Var<'t>| {
        let tape = Tape::new();
        let x = tape.var(randn(&[2, 3, 4], 7));
        let y = f(x);
        let grads = (y * y).sum().backward();
        tape.dump().values().grads(&grads).to_string()
    };
    assert_eq!(record(&negative), record(&positive));
}

#[test]
fn var_methods_take_negative_axes() {
    same_tape(|x| x.softmax(-1), |x| x.softmax(2));
    same_tape(|x| x.log_softmax(-2), |x| x.log_softmax(1));
    same_tape(|x| x.sum_axis(-1, false), |x| x.sum_axis(2, false));
    same_tape(|x| x.mean_axis(-3, true), |x| x.mean_axis(0, true));
    same_tape(|x| x.max_axis(-1, true), |x| x.max_axis(2, true));
    same_tape(|x| x.min_axis(-2, false), |x| x.min_axis(1, false));
    same_tape(|x| x.logsumexp(-1, false), |x| x.logsumexp(2, false));
    same_tape(|x| x.var_axis(-1, 1, false), |x| x.var_axis(2, 1, false));
    same_tape(|x| x.std_axis(-2, 0, true), |x| x.std_axis(1, 0, true));
    same_tape(|x| x.transpose(-2, -1), |x| x.transpose(1, 2));
    same_tape(|x| x.transpose(0, -1), |x| x.transpose(0, 2));
    same_tape(|x| x.narrow(-1, 1, 2), |x| x.narrow(2, 1, 2));
    same_tape(|x| Var::concat(&[x, x], -1), |x| Var::concat(&[x, x], 2));
    same_tape(|x| Var::stack(&[x, x], -1), |x| Var::stack(&[x, x], 3));
    same_tape(|x| Var::stack(&[x, x], -4), |x| Var::stack(&[x, x], 0));
    same_tape(|x| x.unsqueeze(-1), |x| x.unsqueeze(3));
    same_tape(|x| x.unsqueeze(-2), |x| x.unsqueeze(2));
    same_tape(|x| x.unsqueeze(-1).squeeze(-1), |x| x.unsqueeze(3).squeeze(3));
    same_tape(|x| x.index_select(-1, &[3, 0, 3]), |x| x.index_select(2, &[3, 0, 3]));
    same_tape(|x| x.sum_axes(&[-1, 0], false), |x| x.sum_axes(&[2, 0], false));
    same_tape(|x| x.mean_axes(&[-2], true), |x| x.mean_axes(&[1], true));
    let index = Tensor::new(vec![3.0, 0.0, 1.0, 1.0, 2.0, 0.0], &[2, 3, 1]).unwrap();
    same_tape(|x| x.gather(-1, &index), |x| x.gather(2, &index));
}

#[test]
fn usize_variables_and_other_integer_types_are_axes() {
    let (last, minus_one): (usize, i64) = (2, -1);
    same_tape(|x| x.softmax(last), |x| x.softmax(minus_one));
    same_tape(|x| x.sum_axis(-1isize, false), |x| x.sum_axis(2u32, false));
    let axes: Vec<usize> = vec![0, 2];
    same_tape(|x| x.sum_axes(&axes, true), |x| x.sum_axes(&[-3, -1], true));
    // A usize and a negative literal in one call.
    same_tape(|x| x.transpose(last, -3), |x| x.transpose(2, 0));
}

#[test]
fn tensor_methods_take_negative_axes() {
    let x = randn(&[2, 3, 4], 8);
    assert_eq!(x.softmax(-1), x.softmax(2));
    assert_eq!(x.log_softmax(-3), x.log_softmax(0));
    assert_eq!(x.sum_axis(-1, true), x.sum_axis(2, true));
    assert_eq!(x.mean_axis(-2, false), x.mean_axis(1, false));
    assert_eq!(x.max_axis(-1, false), x.max_axis(2, false));
    assert_eq!(x.min_axis(-3, true), x.min_axis(0, true));
    assert_eq!(x.logsumexp(-1, true), x.logsumexp(2, true));
    assert_eq!(x.var_axis(-1, 1, false), x.var_axis(2, 1, false));
    assert_eq!(x.std_axis(-1, 0, true), x.std_axis(2, 0, true));
    assert_eq!(x.transpose(-1, -3), x.transpose(2, 0));
    assert_eq!(x.narrow(-2, 1, 2), x.narrow(1, 1, 2));
    assert_eq!(x.unsqueeze(-1), x.unsqueeze(3));
    assert_eq!(x.unsqueeze(-1).squeeze(-1), x);
    assert_eq!(x.index_select(-1, &[1, 1]), x.index_select(2, &[1, 1]));
    assert_eq!(x.argmax_axis(-1), x.argmax_axis(2));
    assert_eq!(x.argmin_axis(-2), x.argmin_axis(1));
    assert_eq!(x.sum_axes(&[-1, -2], false), x.sum_axes(&[2, 1], false));
    assert_eq!(x.mean_axes(&[-1], true), x.mean_axes(&[2], true));
}

/// Runs `f` on a fresh `[2, 3]` leaf and returns its panic message.
fn var_panic(f: fn(Var)) -> String {
    panic_message(move || {
        let tape = Tape::new();
        f(tape.var(Tensor::zeros(&[2, 3])));
    })
}

#[test]
fn a_negative_axis_out_of_range_panics_naming_the_op_the_axis_and_the_shape() {
    let out = |op: &str, axis: i32| format!("{op}: axis {axis} is out of range for shape [2, 3] (2 axes)");
    let new =
        |op: &str, axis: i32| format!("{op}: axis {axis} is out of range for shape [2, 3] (a new axis goes at 0..=2)");
    let cases: Vec<(fn(Var), String)> = vec![
        (
            |x| {
                let _ = x.softmax(-3);
            },
            out("softmax", -3),
        ),
        (
            |x| {
                let _ = x.log_softmax(-3);
            },
            out("log_softmax", -3),
        ),
        (
            |x| {
                let _ = x.sum_axis(-3, false);
            },
            out("sum_axis(-3)", -3),
        ),
        (
            |x| {
                let _ = x.mean_axis(-4, true);
            },
            out("mean_axis(-4)", -4),
        ),
        (
            |x| {
                let _ = x.max_axis(-3, false);
            },
            out("max_axis", -3),
        ),
        (
            |x| {
                let _ = x.min_axis(-3, false);
            },
            out("min_axis", -3),
        ),
        (
            |x| {
                let _ = x.logsumexp(-3, false);
            },
            out("logsumexp", -3),
        ),
        (
            |x| {
                let _ = x.var_axis(-3, 1, false);
            },
            out("var_axis", -3),
        ),
        (
            |x| {
                let _ = x.std_axis(-3, 1, false);
            },
            out("std_axis", -3),
        ),
        (
            |x| {
                let _ = x.transpose(0, -3);
            },
            out("transpose", -3),
        ),
        (
            |x| {
                let _ = x.narrow(-3, 0, 1);
            },
            out("narrow", -3),
        ),
        (
            |x| {
                let _ = Var::concat(&[x, x], -3);
            },
            out("concat", -3),
        ),
        (
            |x| {
                let _ = x.squeeze(-3);
            },
            out("squeeze", -3),
        ),
        (
            |x| {
                let _ = x.index_select(-3, &[0]);
            },
            out("index_select", -3),
        ),
        (
            |x| {
                let _ = x.gather(-3, &Tensor::zeros(&[2, 3]));
            },
            out("gather", -3),
        ),
        (
            |x| {
                let _ = x.sum_axes(&[-3], false);
            },
            out("sum_axes", -3),
        ),
        (
            |x| {
                let _ = x.mean_axes(&[0, -3], false);
            },
            out("mean_axes", -3),
        ),
        (
            |x| {
                let _ = x.unsqueeze(-4);
            },
            new("unsqueeze", -4),
        ),
        (
            |x| {
                let _ = Var::stack(&[x, x], -4);
            },
            new("stack", -4),
        ),
    ];
    for (f, expected) in cases {
        assert_eq!(var_panic(f), expected);
    }
}

#[test]
fn a_tensor_axis_out_of_range_panics_as_the_ops_do() {
    let msg = |f: fn(&Tensor)| panic_message(move || f(&Tensor::zeros(&[2, 3])));
    let out = |op: &str| format!("{op}: axis -3 is out of range for shape [2, 3] (2 axes)");
    assert_eq!(msg(|t| drop(t.softmax(-3))), out("softmax"));
    assert_eq!(msg(|t| drop(t.log_softmax(-3))), out("log_softmax"));
    assert_eq!(msg(|t| drop(t.sum_axis(-3, false))), out("sum_axis(-3)"));
    assert_eq!(msg(|t| drop(t.mean_axis(-3, false))), out("mean_axis(-3)"));
    assert_eq!(msg(|t| drop(t.max_axis(-3, false))), out("max_axis"));
    assert_eq!(msg(|t| drop(t.min_axis(-3, false))), out("min_axis"));
    assert_eq!(msg(|t| drop(t.logsumexp(-3, false))), out("logsumexp"));
    assert_eq!(msg(|t| drop(t.var_axis(-3, 0, false))), out("var_axis"));
    assert_eq!(msg(|t| drop(t.std_axis(-3, 0, false))), out("std_axis"));
    assert_eq!(msg(|t| drop(t.transpose(-3, 0))), out("transpose"));
    assert_eq!(msg(|t| drop(t.narrow(-3, 0, 1))), out("narrow"));
    assert_eq!(msg(|t| drop(t.squeeze(-3))), out("squeeze"));
    assert_eq!(msg(|t| drop(t.index_select(-3, &[0]))), out("index_select"));
    assert_eq!(msg(|t| drop(t.argmax_axis(-3))), out("argmax_axis"));
    assert_eq!(msg(|t| drop(t.argmin_axis(-3))), out("argmin_axis"));
    assert_eq!(msg(|t| drop(t.sum_axes(&[-3], true))), out("sum_axes"));
    assert_eq!(
        msg(|t| drop(t.unsqueeze(-4))),
        "unsqueeze: axis -4 is out of range for shape [2, 3] (a new axis goes at 0..=2)"
    );
}

#[test]
fn a_negative_axis_is_repeated_when_it_names_an_axis_given_positively() {
    let msg = var_panic(|x| {
        let _ = x.sum_axes(&[1, -1], false);
    });
    assert_eq!(msg, "sum_axes: axis -1 appears twice in [1, -1] (input shape [2, 3])");
}

/// The panic points at the caller's line, through the generic axis argument (the hook
/// records only this test's thread: the hook is process-wide and other tests panic too).
#[test]
fn the_panic_points_at_the_callers_line() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<u32>>> = Arc::default();
    let (sink, me) = (Arc::clone(&seen), std::thread::current().id());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == me {
            sink.lock().unwrap().push(info.location().unwrap().line());
        }
    }));
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[2, 3, 4]));
    let t = Tensor::zeros(&[2, 3]);
    let mut expected = vec![];
    let mut expect_panic_here = |line: u32, f: &dyn Fn()| {
        expected.push(line);
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err());
    };
    expect_panic_here(line!() + 1, &|| {
        let _ = x.softmax(-4);
    });
    expect_panic_here(line!() + 1, &|| {
        let _ = x.sum_axis(-4, true);
    });
    expect_panic_here(line!() + 1, &|| {
        let _ = x.unsqueeze(-5);
    });
    expect_panic_here(line!() + 1, &|| {
        let _ = x.t();
    });
    expect_panic_here(line!(), &|| drop(t.transpose(0, -3)));
    expect_panic_here(line!(), &|| drop(t.max_axis(5, false)));
    std::panic::set_hook(previous);
    assert_eq!(*seen.lock().unwrap(), expected);
}
