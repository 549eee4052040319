//! `backward_wrt_releasing`: the gradients of `backward_wrt`, with the graph's values released
//! as the pass goes; what stays readable, and the panics for what does not.

use crate::common::{panic_message, randn};
use tapegrad::{Tape, Tensor, Var, causal_mask};

/// A small transformer block: every kind of node a training step records (embedding-free).
fn block<'t>(tape: &'t Tape, params: &[Var<'t>]) -> Var<'t> {
    let (b, t, d, h) = (2, 4, 8, 2);
    let x = tape.constant(randn(&[b * t, d], 1));
    let mask = causal_mask(t);
    let h1 = x.layer_norm(params[0], params[1], 1e-5);
    let qkv = params[3].addmm(h1, params[2]);
    let split = |i: usize| qkv.narrow(1, i * d, d).reshape(&[b, t, h, d / h]).transpose(1, 2);
    let (q, k, v) = (split(0), split(1), split(2));
    let scores = q.matmul(k.transpose(2, 3)) * 0.5;
    let attention = scores.masked_fill(&mask, f64::NEG_INFINITY).softmax(3).matmul(v);
    let merged = attention.transpose(1, 2).reshape(&[b * t, d]);
    let y = x + merged.linear(params[4], Some(params[5])).relu();
    let targets: Vec<usize> = (0..b * t).map(|i| i % d).collect();
    (y * params[6]).cross_entropy(&targets)
}

fn params() -> Vec<Tensor> {
    let shapes: [&[usize]; 7] = [&[8], &[8], &[8, 24], &[24], &[8, 8], &[8], &[8]];
    shapes.iter().enumerate().map(|(i, s)| randn(s, 10 + i as u64)).collect()
}

#[test]
fn same_gradients_as_backward_wrt_and_less_memory() {
    let values = params();
    let keeping = Tape::new();
    let p1 = keeping.vars(&values);
    let loss1 = block(&keeping, &p1);
    let expected = loss1.backward_wrt(&p1);

    let releasing = Tape::new();
    let p2 = releasing.vars(&values);
    let loss2 = block(&releasing, &p2);
    let before = releasing.memory().value_bytes();
    let grads = loss2.backward_wrt_releasing(&p2);
    for (a, b) in p1.iter().zip(&p2) {
        assert_eq!(expected.wrt(*a), grads.wrt(*b));
    }
    // What stays: the output and the parameters (still usable for new ops).
    assert_eq!(loss2.item(), loss1.item());
    let kept: usize = values.iter().map(|t| t.numel() * 8).sum::<usize>() + 8;
    assert_eq!(releasing.memory().value_bytes(), kept);
    assert!(before > 5 * kept, "{before} bytes before, {kept} after");
    let again = (p2[6] * p2[6]).sum().backward();
    assert_eq!(again.wrt(p2[6]).unwrap(), &(values[6].clone() * 2.0));
}

/// `a * c` with `c` a constant: the rule computes `a`'s gradient from `c` only, but its loop
/// streams `a`'s buffer too, so `a`'s value must stay until it has run (a released, empty `a`
/// would cut the loop short).
#[test]
fn values_a_rule_streams_but_does_not_use_stay_until_it_has_run() {
    for shapes in [([2, 3], [2, 3]), ([2, 3], [1, 3]), ([1, 3], [2, 3])] {
        let (at, ct) = (randn(&shapes.0, 1), randn(&shapes.1, 2));
        let grad = |release: bool| {
            let tape = Tape::new();
            let (w, c) = (tape.var(at.clone()), tape.constant(ct.clone()));
            // No rule reads `a`'s value (scaling and `+` read nothing, `*` reads `c` for `a`).
            let a = w * 2.0;
            let loss = (a * c + a).sum();
            let g = if release { loss.backward_wrt_releasing(&[w]) } else { loss.backward_wrt(&[w]) };
            g.wrt(w).cloned().unwrap()
        };
        assert_eq!(grad(true), grad(false));
    }
}

#[test]
fn reading_a_released_value_panics_naming_the_node() {
    let message = panic_message(|| {
        let tape = Tape::new();
        let w = tape.var(Tensor::ones(&[3]));
        let hidden = w.exp() * 2.0;
        let loss = hidden.sum();
        let _ = loss.backward_wrt_releasing(&[w]);
        let _ = hidden.value();
    });
    assert!(
        message.starts_with("the value of node #2 (mul(2), recorded at tests/suite/engine/release.rs:"),
        "{message}"
    );
    assert!(message.contains("was released by backward_wrt_releasing"), "{message}");
}

#[test]
fn recording_an_op_on_a_released_value_panics() {
    let message = panic_message(|| {
        let tape = Tape::new();
        let w = tape.var(Tensor::ones(&[3]));
        let hidden = w.exp();
        let _ = hidden.sum().backward_wrt_releasing(&[w]);
        let _ = hidden + 1.0;
    });
    assert!(message.contains("was released by backward_wrt_releasing"), "{message}");
}

#[test]
fn a_second_backward_through_a_released_graph_panics() {
    let message = panic_message(|| {
        let tape = Tape::new();
        let w = tape.var(Tensor::ones(&[3]));
        let loss = (w.exp() * w).sum();
        let _ = loss.backward_wrt_releasing(&[w]);
        let _ = loss.backward();
    });
    assert!(message.starts_with("backward: the rule of node #2 (mul"), "{message}");
    assert!(message.contains("which backward_wrt_releasing released"), "{message}");
}

/// Shapes stay known after a release (they are metadata, not values).
#[test]
fn shapes_of_released_values_stay() {
    let tape = Tape::new();
    let w = tape.var(Tensor::ones(&[2, 3]));
    let hidden = w.tanh().sum_axis(1, false);
    let _ = hidden.sum().backward_wrt_releasing(&[w]);
    assert_eq!(hidden.shape(), vec![2]);
    assert_eq!(format!("{hidden:?}"), "Var#2[2]");
}

/// The dump says which values were released rather than summarising an empty buffer, and
/// the memory accounting counts them as gone.
#[test]
fn the_dump_and_the_memory_report_show_released_values() {
    let tape = Tape::new();
    let w = tape.var(Tensor::ones(&[2, 3]));
    let hidden = w.exp() * 2.0;
    let loss = hidden.sum();
    let _ = loss.backward_wrt_releasing(&[w]);
    let dump = tape.dump().values().to_string();
    let row = dump.lines().find(|l| l.contains("mul(2)")).expect("the mul node's row");
    assert!(row.contains("(released)"), "{dump}");
    let memory = tape.memory();
    assert_eq!(memory.nodes[hidden.id()].value_bytes, 0);
    assert_eq!(memory.nodes[w.id()].value_bytes, 6 * 8);
}
