//! Bytes kept alive for backward: the fused cross-entropy against its compositions, and the
//! accounting of every row of the op table (`tests/suite/op_table.rs`).
//!
//! Logits `[R, C] = [8, 50]`, one logits-sized buffer is `R * C * 8 = 3200` bytes.

use crate::op_table::op_cases;
use tapegrad::inspect::MemoryReport;
use tapegrad::{Grads, Tape, Tensor, Var};

const R: usize = 8;
const C: usize = 50;
const LOGITS: usize = R * C * 8;

fn logits(tape: &Tape) -> Var<'_> {
    tape.var(Tensor::from_fn(&[R, C], |ix| ((ix[0] * C + ix[1]) as f64 * 0.37).sin()))
}

fn targets() -> Vec<usize> {
    (0..R).map(|r| (r * 7) % C).collect()
}

/// The ids of the nodes whose logits-sized value is kept alive for backward.
fn kept_logits_sized(m: &MemoryReport) -> Vec<usize> {
    m.nodes.iter().filter(|n| n.value_kept() && n.shape == [R, C]).map(|n| n.id).collect()
}

/// How many logits-sized gradients backward leaves behind (one per node it reaches).
fn logits_sized_grads(tape: &Tape, grads: &Grads) -> usize {
    (0..tape.len()).filter_map(|id| grads.by_id(id)).filter(|g| g.shape() == [R, C]).count()
}

#[test]
fn fused_cross_entropy_keeps_one_logits_buffer_and_one_log_sum_exp_per_row() {
    let tape = Tape::new();
    let x = logits(&tape);
    let loss = x.cross_entropy(&targets());
    let m = tape.memory();
    // Its rule reads the logits and recomputes P from the saved log-sum-exp.
    assert_eq!(kept_logits_sized(&m), vec![x.id()]);
    assert_eq!(m.nodes[x.id()].value_read_by, vec![loss.id()]);
    // The log-sum-exp in two parts per row, the max and the log of the shifted sum.
    assert_eq!(m.nodes[loss.id()].extras, vec![("targets", R * 8), ("lse", R * 16)]);
    assert_eq!(m.kept_bytes(), LOGITS + 3 * R * 8);
    // The tape holds the logits and the scalar loss: one logits-sized value.
    assert_eq!(m.value_bytes(), LOGITS + 8);
    assert_eq!(logits_sized_grads(&tape, &loss.backward()), 1);
}

#[test]
fn softmax_log_nll_keeps_p_once_but_holds_three_buffers_and_makes_three_gradients() {
    let tape = Tape::new();
    let x = logits(&tape);
    let p = x.softmax(1);
    let logp = p.log();
    let loss = logp.nll_loss(&targets());
    let m = tape.memory();
    // softmax's rule reads its output P, log's rule reads its input P: the same buffer, kept
    // once. Nothing reads the logits or log P. So this composite keeps ONE logits-sized
    // buffer too (no more than the fused node: the per-row log-sum-exp is all it saves less).
    assert_eq!(kept_logits_sized(&m), vec![p.id()]);
    assert_eq!(m.nodes[p.id()].value_read_by, vec![p.id(), logp.id()]);
    assert!(!m.nodes[x.id()].value_kept() && !m.nodes[logp.id()].value_kept());
    assert_eq!(m.kept_bytes(), LOGITS + R * 8);
    // What it has more of: values on the tape (logits, P, log P) and gradients (d log P, dP,
    // d logits), three logits-sized buffers each against the fused node's one.
    assert_eq!(m.value_bytes(), 3 * LOGITS + 8);
    assert_eq!(logits_sized_grads(&tape, &loss.backward()), 3);
}

#[test]
fn softmax_written_out_elementwise_keeps_two_logits_buffers() {
    // The textbook composite: e = exp(x - max), p = e / sum(e), then log and nll.
    let tape = Tape::new();
    let x = logits(&tape);
    let shifted = x - x.max_axis(1, true);
    let e = shifted.exp();
    let p = e / e.sum_axis(1, true);
    let loss = p.log().nll_loss(&targets());
    let m = tape.memory();
    // exp's rule reads its output e; the division's rule reads e and the row sums; log's rule
    // reads p. Two logits-sized buffers (e and p), plus arg-max, row sums and targets.
    assert_eq!(kept_logits_sized(&m), vec![e.id(), p.id()]);
    assert_eq!(m.kept_bytes(), 2 * LOGITS + R * 8 + R * 8 + R * 8);
    assert_eq!(m.value_bytes(), 5 * LOGITS + 2 * R * 8 + 8);
    assert_eq!(logits_sized_grads(&tape, &loss.backward()), 5);
}

#[test]
fn log_softmax_nll_keeps_its_output() {
    let tape = Tape::new();
    let x = logits(&tape);
    let logp = x.log_softmax(1);
    let _ = logp.nll_loss(&targets());
    let m = tape.memory();
    assert_eq!(kept_logits_sized(&m), vec![logp.id()]);
    assert_eq!(m.kept_bytes(), LOGITS + R * 8);
}

#[test]
fn nodes_that_need_no_gradient_keep_nothing() {
    let tape = Tape::new();
    let x = tape.constant(Tensor::ones(&[R, C]));
    let _ = x.softmax(1).log().nll_loss(&targets());
    let m = tape.memory();
    assert_eq!(m.kept_bytes(), 0);
    assert_eq!(m.nodes.iter().filter(|n| n.needs_grad).count(), 0);
}

/// Every row of the op table on constants: no node needs a gradient, nothing is kept.
#[test]
fn every_op_on_constants_keeps_nothing() {
    for case in op_cases() {
        let tape = Tape::new();
        let constants: Vec<Var<'_>> = case.inputs.iter().map(|t| tape.constant(t.clone())).collect();
        let _ = (case.f)(&constants);
        let m = tape.memory();
        assert_eq!(m.kept_bytes(), 0, "{}", case.name);
        assert!(m.nodes.iter().all(|n| !n.needs_grad), "{}", case.name);
    }
}

/// Every row of the op table on variables: each node's value is counted at 8 bytes an element,
/// and is read only by itself or by nodes recorded after it, which name it as an input.
#[test]
fn every_op_accounts_its_values_and_readers() {
    for case in op_cases() {
        let tape = Tape::new();
        let _ = (case.f)(&tape.vars(&case.inputs));
        let m = tape.memory();
        for n in &m.nodes {
            let elements: usize = n.shape.iter().product();
            assert_eq!(n.value_bytes, 8 * elements, "{}: node {} ({})", case.name, n.id, n.op);
            for &r in &n.value_read_by {
                let reader = &m.nodes[r];
                let reads = (r == n.id && reader.reads_output) || reader.reads_inputs.contains(&n.id);
                assert!(r >= n.id && reads, "{}: node {} read by {r} ({})", case.name, n.id, reader.op);
            }
            assert!(n.reads_inputs.iter().all(|i| n.inputs.contains(i)), "{}: node {}", case.name, n.id);
        }
    }
}
