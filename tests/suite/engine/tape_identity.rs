//! A `Grads` answers only for the tape that ran its backward, even when a new tape is
//! allocated at the address of a dropped one (as in every training loop).

use std::panic::{AssertUnwindSafe, catch_unwind};

use tapegrad::{Grads, Tape, Tensor};

#[test]
fn grads_of_a_dropped_tape_refuse_a_new_tape_at_the_same_address() {
    // A training loop: each step's tape sits in the same stack slot, so before tape ids the
    // previous step's `Grads` answered for the new tape silently (with the old gradient).
    let mut previous: Option<Grads> = None;
    for step in 0..4 {
        let tape = Tape::new();
        let wv = tape.var(Tensor::new(vec![1.5 + step as f64, 150.0], &[2]).unwrap());
        let grads = (wv * wv).sum().backward();
        assert_eq!(grads.wrt(wv).unwrap().data(), &[3.0 + 2.0 * step as f64, 300.0]);
        if let Some(old) = &previous {
            let asked = catch_unwind(AssertUnwindSafe(|| old.wrt(wv).cloned()));
            let message = *asked.expect_err("old grads must refuse the new tape").downcast::<String>().unwrap();
            assert!(message.starts_with("Grads::wrt: these gradients were computed on another tape"), "{message}");
        }
        previous = Some(grads);
    }
}

#[test]
fn dump_and_dot_refuse_grads_of_another_tape() {
    let make = || {
        let tape = Tape::new();
        let x = tape.var(Tensor::scalar(2.0));
        let grads = (x * x).backward();
        (tape, grads)
    };
    let (tape, grads) = make();
    let (other, other_grads) = make();
    assert!(tape.dump().grads(&grads).to_string().contains("var"));
    assert!(other.to_dot_with(&other_grads).contains("digraph"));
    let dump = catch_unwind(AssertUnwindSafe(|| tape.dump().grads(&other_grads).to_string()));
    assert!(dump.is_err(), "Dump::grads must check the tape");
    let dot = catch_unwind(AssertUnwindSafe(|| tape.to_dot_with(&other_grads)));
    assert!(dot.is_err(), "to_dot_with must check the tape");
}

/// `backward_wrt` gives the listed nodes the gradients `backward` gives them, keeps no other
/// node's, and refuses a `Var` of another tape.
#[test]
fn backward_wrt_keeps_only_the_listed_gradients() {
    use tapegrad::{Tape, Tensor};
    let tape = Tape::new();
    let w = tape.var(Tensor::new(vec![0.5, -1.0, 2.0, 3.0], &[2, 2]).unwrap());
    let b = tape.var(Tensor::new(vec![0.25, -0.5], &[2]).unwrap());
    let x = tape.constant(Tensor::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]).unwrap());
    let hidden = (x.matmul(w) + b).tanh();
    let loss = (hidden.reshape(&[6]) * hidden.reshape(&[6])).sum();
    let all = loss.backward();
    let some = loss.backward_wrt(&[w, b]);
    assert_eq!(some.wrt(w), all.wrt(w));
    assert_eq!(some.wrt(b), all.wrt(b));
    assert!(all.wrt(hidden).is_some());
    assert!(some.wrt(hidden).is_none() && some.wrt(loss).is_none());
}

#[test]
#[should_panic(expected = "backward_wrt: Var #0 belongs to another tape")]
fn backward_wrt_refuses_a_var_of_another_tape() {
    use tapegrad::{Tape, Tensor};
    let (one, other) = (Tape::new(), Tape::new());
    let stranger = other.var(Tensor::ones(&[1]));
    let x = one.var(Tensor::ones(&[1]));
    let _ = (x * 2.0).sum().backward_wrt(&[stranger]);
}
