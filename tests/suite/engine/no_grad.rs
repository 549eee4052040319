//! `detach`, `Tape::no_grad` and `Tape::without_grad`: values without gradients.

use crate::common::{panic_message, randn};
use tapegrad::{Tape, Tensor, gradcheck};

#[test]
fn detach_stops_the_gradient_and_keeps_the_value() {
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![1.0, 2.0], &[2]).unwrap());
    let d = x.detach();
    assert_eq!(d.value(), x.value());
    // y = x * detach(x): dy/dx = detach(x) (PyTorch: (x * x.detach()).sum().backward() gives x)
    let grads = (x * d).sum().backward();
    assert_eq!(grads.wrt(x).unwrap().data(), &[1.0, 2.0]);
    assert!(grads.wrt(d).is_none(), "a detached value is a constant: it gets no gradient");
    // The only path to x is detached: x gets no gradient at all.
    let grads = (d * d).sum().backward();
    assert!(grads.wrt(x).is_none());
    assert!(tape.dump().to_string().contains("detach"));
}

#[test]
fn gradcheck_sees_through_nothing_detached() {
    // f(x) = x * detach(x) has the analytic gradient detach(x), which finite differences (they
    // move both factors) do not see: gradcheck must fail. A stop-gradient is not a function.
    let x = randn(&[3], 90);
    assert!(gradcheck(std::slice::from_ref(&x), |v| v[0] * v[0].detach()).is_err());
    assert!(gradcheck(&[x], |v| v[0] * v[0]).is_ok());
}

#[test]
fn a_no_grad_tape_computes_the_same_values_and_keeps_nothing_for_backward() {
    let forward = |tape: &Tape| {
        let w = tape.var(Tensor::from_fn(&[3, 4], |ix| 0.1 * (ix[0] * 4 + ix[1]) as f64 - 0.5));
        let x = tape.constant(Tensor::from_fn(&[2, 3], |ix| (ix[0] + 2 * ix[1]) as f64));
        let h = x.matmul(w).relu();
        let m = h.max_axis(1, true);
        (h.softmax(1) * m).cross_entropy(&[0, 3]).value()
    };
    let (train, eval) = (Tape::new(), Tape::no_grad());
    assert_eq!(forward(&train), forward(&eval));
    assert!(train.memory().kept_bytes() > 0);
    assert_eq!(eval.memory().kept_bytes(), 0);
    assert!(eval.memory().nodes.iter().skip(2).all(|n| !n.needs_grad));
    assert!(!eval.is_grad_enabled() && train.is_grad_enabled());
}

#[test]
fn backward_on_a_no_grad_tape_panics_saying_so() {
    let msg = panic_message(|| {
        let tape = Tape::no_grad();
        let w = tape.var(Tensor::ones(&[2]));
        let _ = (w * w).sum().backward();
    });
    assert_eq!(
        msg,
        "backward: this tape was made by Tape::no_grad() and records no gradients; \
         build the graph on a Tape::new() to differentiate it"
    );
}

#[test]
fn backward_graph_on_a_no_grad_tape_panics_saying_so() {
    let msg = panic_message(|| {
        let tape = Tape::no_grad();
        let w = tape.var(Tensor::ones(&[2]));
        let _ = (w * w).sum().backward_graph();
    });
    assert_eq!(
        msg,
        "backward_graph: this tape was made by Tape::no_grad() and records no gradients; \
         build the graph on a Tape::new() to differentiate it"
    );
}

/// A value computed in a `without_grad` block is a constant for higher-order gradients too.
#[test]
fn without_grad_values_are_constants_for_backward_graph() {
    let tape = Tape::new();
    let x = tape.var(Tensor::scalar(2.0));
    let c = tape.without_grad(|| x * x * x);
    let y = x * x * c; // c = x^3 = 8 held constant
    let dx = y.backward_graph().wrt(x).unwrap(); // 2 x c = 32
    assert_eq!(dx.item(), 32.0);
    assert_eq!(dx.backward().wrt(x).unwrap().item(), 16.0); // 2 c
}

#[test]
fn without_grad_is_a_block_of_constants_and_ends_even_on_panic() {
    let tape = Tape::new();
    let x = tape.var(Tensor::scalar(2.0));
    let before = x * x;
    let inside = tape.without_grad(|| x * x * x);
    assert!(tape.without_grad(|| !tape.is_grad_enabled()));
    assert!(tape.is_grad_enabled());
    let after = x * inside + before;
    // d/dx (x * c + x^2) with c = x^3 = 8 held constant: c + 2x = 12
    assert_eq!(after.backward().wrt(x).unwrap().item(), 12.0);
    let inside_grads = after.backward();
    assert!(inside_grads.wrt(inside).is_none());
    // Gradients are back on after a panic inside the block.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tape.without_grad(|| {
            let _ = x.sum_axis(3, false);
        })
    }));
    assert!(caught.is_err());
    assert!(tape.is_grad_enabled());
    let y = x * 3.0;
    assert_eq!(y.backward().wrt(x).unwrap().item(), 3.0);
}

#[test]
fn detach_inside_a_graph_matches_pytorch() {
    // x = tensor([0.5, -1., 2.], requires_grad=True); y = (x.exp() * x.detach().sin()).sum()
    // y.backward(): x.grad = exp(x) * sin(x) = [0.7904390832136149, -0.3095598756531122, 6.71884969742825]
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![0.5, -1.0, 2.0], &[3]).unwrap());
    let y = (x.exp() * x.detach().sin()).sum();
    let g = y.backward();
    let want = [0.7904390832136149, -0.3095598756531122, 6.71884969742825];
    for (a, b) in g.wrt(x).unwrap().data().iter().zip(want) {
        approx::assert_relative_eq!(*a, b, max_relative = 1e-15);
    }
}
