//! Anomaly mode: the first NaN / inf, forward or backward, named by op, node id and line.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tapegrad::{Phase, Tape, Tensor, causal_mask};

/// Runs `f`, which must panic, and returns the panic message.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    payload.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn forward_nan_from_log_of_a_negative_names_op_node_and_line() {
    let tape = Tape::with_anomaly_detection();
    let x = tape.var(Tensor::new(vec![2.0, -1.0, 3.0], &[3]).unwrap());
    let y = x * 2.0;
    let line = line!() + 2;
    let message = panic_message(|| {
        let _ = y.log();
    });
    assert_eq!(
        message,
        format!(
            "anomaly: log (node 2, recorded at tests/suite/engine/anomaly.rs:{line}:19) produced NaN in its forward output at [1]"
        )
    );
    // The node was not recorded.
    assert_eq!(tape.len(), 2);
}

#[test]
fn forward_inf_names_the_op_and_says_when_an_input_already_held_one() {
    let tape = Tape::with_anomaly_detection();
    let x = tape.var(Tensor::new(vec![1.0, 0.0], &[2]).unwrap());
    let message = panic_message(|| {
        let _ = 1.0 / x;
    });
    assert!(message.starts_with("anomaly: rdiv(1) (node 1, recorded at tests/suite/engine/anomaly.rs:"), "{message}");
    assert!(message.ends_with("produced inf in its forward output at [1]"), "{message}");

    // Leaves are data and are not checked; the first op that reads the NaN is named, with it.
    let tape = Tape::with_anomaly_detection();
    let x = tape.constant(Tensor::new(vec![1.0, f64::NAN], &[2]).unwrap());
    let message = panic_message(|| {
        let _ = x.exp();
    });
    assert!(message.ends_with("its input node(s) [0] already held NaN or inf"), "{message}");
}

#[test]
fn backward_inf_from_sqrt_at_zero_names_sqrt_and_its_line() {
    let tape = Tape::with_anomaly_detection();
    let x = tape.var(Tensor::new(vec![0.0, 4.0], &[2]).unwrap());
    let line = line!() + 1;
    let y = x.sqrt(); // forward is fine: [0, 2]
    let loss = y.sum();
    let message = panic_message(|| {
        let _ = loss.backward();
    });
    assert_eq!(
        message,
        format!(
            "anomaly: the backward of sqrt (node 1, recorded at tests/suite/engine/anomaly.rs:{line}:15) produced inf in the \
             gradient of node 0 at [0]"
        )
    );
}

#[test]
fn backward_nan_that_first_appears_in_backward_is_caught_at_its_op() {
    // sqrt(x) * 0 is 0 in the forward pass; backward multiplies the upstream 0 by sqrt's
    // infinite slope at 0: NaN, first made by sqrt's rule.
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![1.0, 0.0], &[2]).unwrap());
    let line = line!() + 1;
    let y = x.sqrt();
    let loss = (y * 0.0).sum();
    assert_eq!(loss.item(), 0.0);
    let anomaly = loss.try_backward().unwrap_err();
    assert_eq!(anomaly.phase, Phase::Backward);
    assert_eq!((anomaly.op.as_str(), anomaly.node, anomaly.tensor_of), ("sqrt", 1, 0));
    assert_eq!((anomaly.location.file(), anomaly.location.line()), ("tests/suite/engine/anomaly.rs", line));
    assert_eq!(anomaly.element, vec![1]);
    assert!(anomaly.value.is_nan());
}

#[test]
fn off_by_default_nans_flow_through_silently() {
    let tape = Tape::new();
    assert!(!tape.anomaly_detection());
    let x = tape.var(Tensor::new(vec![-1.0, 4.0], &[2]).unwrap());
    let loss = x.log().sum();
    assert!(loss.item().is_nan());
    let grads = loss.backward();
    assert_eq!(grads.wrt(x).unwrap().data(), &[-1.0, 0.25]);
}

#[test]
fn try_backward_is_ok_on_finite_gradients_and_checks_the_seed() {
    let tape = Tape::with_anomaly_detection();
    let x = tape.var(Tensor::new(vec![1.0, 4.0], &[2]).unwrap());
    let y = x.sqrt();
    let grads = y.sum().try_backward().unwrap();
    assert_eq!(grads.wrt(x).unwrap().data(), &[0.5, 0.25]);
    let message = panic_message(|| {
        let _ = y.backward_with(Tensor::new(vec![1.0, f64::NAN], &[2]).unwrap());
    });
    assert!(message.starts_with("anomaly: the seed of backward from sqrt (node 1, recorded at"), "{message}");
}

#[test]
fn masked_fill_with_minus_infinity_is_not_an_anomaly() {
    let tape = Tape::with_anomaly_detection();
    let scores = tape.var(Tensor::new(vec![0.1, 0.2, 0.3, 0.4], &[2, 2]).unwrap());
    let weights = scores.masked_fill(&causal_mask(2), f64::NEG_INFINITY).softmax(1);
    let grads = (weights * weights).sum().backward();
    assert_eq!(weights.value().get(&[0, 1]), 0.0);
    assert_eq!(grads.wrt(scores).unwrap().get(&[0, 1]), 0.0);
}

#[test]
fn log_of_softmax_at_huge_logits_is_caught_at_the_log() {
    let tape = Tape::with_anomaly_detection();
    let logits = tape.var(Tensor::new(vec![1e4, -1e4, 0.0], &[1, 3]).unwrap());
    let p = logits.softmax(1); // [1, 0, 0]: exact zeros, finite
    let message = panic_message(|| {
        let _ = p.log();
    });
    assert!(message.starts_with("anomaly: log (node 2,"), "{message}");
    assert!(message.ends_with("produced -inf in its forward output at [0, 1]"), "{message}");
    // The fused node has no such problem.
    let loss = logits.cross_entropy(&[1]);
    assert_eq!(loss.item(), 2e4);
}
