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
