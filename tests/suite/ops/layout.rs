//! The layout ops added for small graphs: `stack`, `squeeze`, `unsqueeze`, `broadcast_to`.
//! Values and panics naming op and shapes (their gradchecks, with the broadcasting cases, are
//! rows of the op table).

use crate::common::panic_message;
use tapegrad::{Tape, Tensor, Var};

#[test]
fn stack_is_concat_of_unsqueezed_parts() {
    let tape = Tape::new();
    let a = tape.var(Tensor::from_fn(&[2, 3], |ix| (ix[0] * 3 + ix[1]) as f64));
    let b = tape.var(Tensor::from_fn(&[2, 3], |ix| 10.0 + (ix[0] * 3 + ix[1]) as f64));
    for axis in 0..=2 {
        let s = Var::stack(&[a, b], axis);
        let c = Var::concat(&[a.unsqueeze(axis), b.unsqueeze(axis)], axis);
        assert_eq!(s.value(), c.value(), "axis {axis}");
    }
    // torch.stack([a, b], 1).shape == (2, 2, 3)
    assert_eq!(Var::stack(&[a, b], 1).shape(), [2, 2, 3]);
}

#[test]
fn stack_panics_name_op_and_shapes() {
    let tape = Tape::new();
    let (a, b) = (tape.var(Tensor::zeros(&[2, 3])), tape.var(Tensor::zeros(&[2, 4])));
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = Var::stack(&[a, b], 0);
    }));
    assert_eq!(msg, "stack: shapes [[2, 3], [2, 4]] differ; stack needs equal shapes");
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = Var::stack(&[a, a], 3);
    }));
    assert_eq!(msg, "stack: axis 3 is out of range for shape [2, 3] (a new axis goes at 0..=2)");
    assert_eq!(
        panic_message(|| {
            let _ = Var::stack(&[], 0);
        }),
        "stack: no tensors to stack"
    );
}

#[test]
fn squeeze_and_unsqueeze_as_pytorch() {
    let tape = Tape::new();
    let x = tape.var(Tensor::from_fn(&[2, 1, 3], |ix| (ix[0] * 3 + ix[2]) as f64));
    assert_eq!(x.squeeze(1).shape(), [2, 3]);
    // torch.zeros(2, 1, 3).squeeze(0).shape == (2, 1, 3): an axis of size other than 1 stays
    assert_eq!(x.squeeze(0).shape(), [2, 1, 3]);
    assert_eq!(x.squeeze(2).shape(), [2, 1, 3]);
    // torch.tensor(5.).squeeze(0).shape == (): a scalar accepts axis 0
    let s = tape.var(Tensor::scalar(5.0));
    assert_eq!(s.squeeze(0).shape(), Vec::<usize>::new());
    assert_eq!(s.unsqueeze(0).shape(), [1]);
    assert_eq!(x.unsqueeze(3).shape(), [2, 1, 3, 1]);
    assert_eq!(x.unsqueeze(0).squeeze(0).value(), x.value());
}

#[test]
fn squeeze_and_unsqueeze_panic_out_of_range() {
    let msg = panic_message(|| {
        let _ = Tape::new().var(Tensor::zeros(&[2, 1])).squeeze(2);
    });
    assert_eq!(msg, "squeeze: axis 2 is out of range for shape [2, 1] (2 axes)");
    let msg = panic_message(|| {
        let _ = Tape::new().var(Tensor::zeros(&[2, 1])).unsqueeze(3);
    });
    assert_eq!(msg, "unsqueeze: axis 3 is out of range for shape [2, 1] (a new axis goes at 0..=2)");
}

#[test]
fn broadcast_to_values_and_gradient() {
    let tape = Tape::new();
    let b = tape.var(Tensor::new(vec![1.0, 2.0], &[2, 1]).unwrap());
    let y = b.broadcast_to(&[2, 2, 3]);
    assert_eq!(y.value().data(), &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    let w = tape.constant(Tensor::from_fn(&[2, 2, 3], |ix| (ix[0] * 6 + ix[1] * 3 + ix[2]) as f64));
    // b.broadcast_to((2, 2, 3)) weighted by arange(12): b.grad == [[0+1+2+6+7+8], [3+4+5+9+10+11]]
    assert_eq!((y * w).sum().backward().wrt(b).unwrap().data(), &[24.0, 42.0]);
    let msg = panic_message(|| {
        let _ = Tape::new().var(Tensor::zeros(&[2, 3])).broadcast_to(&[4, 3]);
    });
    assert_eq!(msg, "broadcast_to: shape [2, 3] does not broadcast to [4, 3]");
    let msg = panic_message(|| {
        let _ = Tape::new().var(Tensor::zeros(&[2, 3])).broadcast_to(&[3]);
    });
    assert_eq!(msg, "broadcast_to: shape [2, 3] does not broadcast to [3]");
}
