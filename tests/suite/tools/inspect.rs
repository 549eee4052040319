//! The tape dump and DOT output of a small fixed graph, exact text; the equivalence report.

use tapegrad::{Tape, Tensor, check_equivalent};

/// logits [2, 3] (var) -> softmax -> log -> nll_loss, plus a constant scale: a small graph
/// that shows every kind of row (var, constant, an op that needs no gradient, kept values).
fn small_graph(tape: &Tape) -> tapegrad::Var<'_> {
    let logits = tape.var(Tensor::new(vec![1.0, 2.0, 0.5, 0.0, -1.0, 3.0], &[2, 3]).unwrap());
    let scale = tape.constant(Tensor::new(vec![2.0, 0.5, 1.0], &[3]).unwrap());
    let half = scale * 0.5; // computed from a constant only: no gradient, keeps nothing
    let p = (logits * half).softmax(1);
    p.log().nll_loss(&[1, 2])
}

#[test]
fn dump_of_a_small_graph() {
    let tape = Tape::new();
    let loss = small_graph(&tape);
    let grads = loss.backward();
    let text = tape.dump().values().grads(&grads).to_string();
    let expected = r#"tape: 7 nodes
  id  op          inputs  shape   value B  backward reads  kept B  value             |grad|
   0  var         -       [2, 3]       48  -                    0  -1.0000..3.0000   0.2839
   1  constant    -       [3]          24  (no grad)            0  0.5000..2.0000         -
   2  mul(0.5)    1       [3]          24  (no grad)           24  0.2500..1.0000         -
   3  mul         0, 2    [2, 3]       48  #2                   0  -0.2500..1.5000   0.4760
   4  softmax(1)  3       [2, 3]       48  out                 48  0.1244..0.7159    1.8506
   5  log         4       [2, 3]       48  #4                   0  -2.0843..-0.3343  0.7071
   6  nll_loss    5       []            8  targets             16  0.7830            1.0000
totals: 7 nodes (1 var, 1 constant, 5 ops); values 248 B; kept for backward 88 B = 2 values 72 B + extras 16 B
legend: backward reads = what the node's backward rule reads besides the upstream gradient
        (out: its own value, #i: node i's value, and named extras its op saved).
        kept B = bytes kept alive for backward, charged to the node that owns them: its value
        if any rule reads it, plus its extras. Each buffer counts once. Rules of nodes that need
        no gradient never run, so they read nothing.
"#;
    assert_eq!(text, expected);
}

#[test]
fn dot_of_a_small_graph() {
    let tape = Tape::new();
    let loss = small_graph(&tape);
    let grads = loss.backward();
    let text = tape.to_dot_with(&grads);
    let expected = r##"digraph tape {
  node [fontname="Helvetica", fontsize=10];
  edge [fontname="Helvetica", fontsize=9];
  n0 [label="#0 var", shape=ellipse, style=filled, fillcolor="#cfe2ff"];
  n1 [label="#1 constant", shape=ellipse, style=dashed, color=gray50, fontcolor=gray30];
  n2 [label="#2 mul(0.5)", shape=box, style=dashed, color=gray50, fontcolor=gray30];
  n1 -> n2 [label="[3]"];
  n3 [label="#3 mul\nkeeps: #2", shape=box];
  n0 -> n3 [label="[2, 3]\n|g| 0.2839"];
  n2 -> n3 [label="[3]"];
  n4 [label="#4 softmax(1)\nkeeps: out", shape=box];
  n3 -> n4 [label="[2, 3]\n|g| 0.4760"];
  n5 [label="#5 log\nkeeps: #4", shape=box];
  n4 -> n5 [label="[2, 3]\n|g| 1.8506"];
  n6 [label="#6 nll_loss\nkeeps: targets (16 B extras)", shape=box];
  n5 -> n6 [label="[2, 3]\n|g| 0.7071"];
  out6 [shape=point];
  n6 -> out6 [label="[]\n|g| 1.0000"];
}
"##;
    assert_eq!(text, expected);
}

#[test]
fn display_of_a_tape_is_the_plain_dump() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[2, 3]));
    let _ = x.cross_entropy(&[0, 2]);
    let expected = r#"tape: 2 nodes
  id  op             inputs  shape   value B  backward reads    kept B
   0  var            -       [2, 3]       48  -                     48
   1  cross_entropy  0       []            8  #0, targets, lse      48
totals: 2 nodes (1 var, 0 constant, 1 ops); values 56 B; kept for backward 96 B = 1 values 48 B + extras 48 B
"#;
    let text = tape.to_string();
    assert_eq!(text.split("legend:").next().unwrap(), expected);
    assert_eq!(text, tape.dump().to_string());
}

#[test]
fn dump_with_locations_names_the_recording_lines() {
    let tape = Tape::new();
    let x = tape.var(Tensor::scalar(2.0));
    let y = x.exp();
    let text = tape.dump().locations().to_string();
    let line = |row: usize| text.lines().nth(2 + row).unwrap().to_string();
    assert!(line(0).ends_with(&format!("tests/suite/tools/inspect.rs:{}:{}", line!() - 4, 18)), "{}", line(0));
    assert!(line(1).ends_with(&format!("tests/suite/tools/inspect.rs:{}:{}", line!() - 4, 15)), "{}", line(1));
    let _ = y;
}

#[test]
fn equivalence_of_fused_and_composite_cross_entropy() {
    let logits = Tensor::new(vec![0.3, -1.2, 2.0, 0.7, 1.1, -0.4, 0.0, 0.9], &[2, 4]).unwrap();
    let targets = [2, 1];
    let eq =
        check_equivalent(&[logits], |v| v[0].cross_entropy(&targets), |v| v[0].softmax(1).log().nll_loss(&targets));
    eq.assert_within(1e-15);
    assert_eq!((eq.fused.nodes, eq.composite.nodes), (2, 4));
    // Fused: the logits (64 B), targets (16 B) and log-sum-exp (two parts, 32 B). Composite:
    // P (64 B), targets (16 B).
    assert_eq!((eq.fused.kept_bytes, eq.composite.kept_bytes), (112, 80));
    assert_eq!((eq.fused.value_bytes, eq.composite.value_bytes), (72, 200));
    assert_eq!(eq.output_shape, Vec::<usize>::new());
    assert!(eq.grads[0].grad_scale > 0.4);
    let table = eq.to_string();
    assert_eq!(
        table.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["fused", "composite", "max", "|diff|", "scale"]
    );
    assert!(table.lines().any(|l| l.starts_with("grad of input 0 [2, 4]")), "{table}");
}

#[test]
fn equivalence_seeds_a_vector_output_unevenly_and_reports_a_wrong_composite() {
    // softmax's gradient under a seed of ones is zero, so a wrong rule would hide; the uneven
    // seed catches the difference between softmax and a deliberately wrong "composite".
    let x = Tensor::new(vec![0.5, -1.0, 2.0], &[3]).unwrap();
    let eq = check_equivalent(std::slice::from_ref(&x), |v| v[0].softmax(0), |v| v[0].exp() / v[0].exp().sum());
    eq.assert_within(1e-15);
    let wrong = check_equivalent(&[x], |v| v[0].softmax(0), |v| v[0].softmax(0) * 1.0 + v[0] * 1e-3);
    assert!(wrong.grads[0].grad_diff > 1e-4 && wrong.grads[0].grad_diff < 1e-3, "{wrong}");
    let panic = std::panic::catch_unwind(|| wrong.assert_within(1e-6)).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.starts_with("fused and composite differ by"), "{message}");
}

#[test]
fn equivalence_of_fused_and_composite_layer_norm() {
    let x = Tensor::from_fn(&[3, 5], |ix| ((ix[0] * 5 + ix[1]) as f64 * 0.91).sin() * 2.0);
    let gamma = Tensor::from_fn(&[5], |ix| 1.0 + 0.1 * ix[0] as f64);
    let beta = Tensor::from_fn(&[5], |ix| 0.05 * ix[0] as f64 - 0.1);
    let eps = 1e-5;
    let eq = check_equivalent(
        &[x, gamma, beta],
        |v| v[0].layer_norm(v[1], v[2], eps),
        |v| {
            let centred = v[0] - v[0].mean_axis(1, true);
            let var = (centred * centred).mean_axis(1, true);
            centred / (var + eps).sqrt() * v[1] + v[2]
        },
    );
    eq.assert_within(1e-12);
    assert_eq!((eq.fused.nodes, eq.composite.nodes), (4, 12));
    assert_eq!(eq.grads.len(), 3);
    assert!(eq.grads.iter().all(|g| g.grad_scale > 0.1), "{eq}");
    // Fused: x, gamma, and the mean (in two parts) and 1/std per row. Composite: centred (read
    // by the square and the division), the standard deviations, the normalised rows and gamma.
    assert_eq!(eq.fused.kept_bytes, 15 * 8 + 5 * 8 + 3 * 3 * 8);
    assert_eq!(eq.composite.kept_bytes, 15 * 8 + 3 * 8 + 15 * 8 + 5 * 8);
}

#[test]
fn a_profiling_tape_times_every_node_and_totals_by_kind() {
    let tape = Tape::with_profiling();
    let x = tape.var(Tensor::ones(&[32, 32]));
    let y = x.matmul(x).softmax(1).matmul(x).sum();
    y.backward();
    let profile = tape.profile().expect("a profiling tape has a profile");
    assert_eq!(profile.nodes.len(), tape.len());
    // Every node that needs a gradient ran its backward rule; the leaf's is timed too.
    assert!(profile.nodes.iter().all(|n| n.backward.is_some()));
    let kinds = profile.by_op();
    let matmul = kinds.iter().find(|k| k.op == "matmul").unwrap();
    assert_eq!(matmul.count, 2);
    assert_eq!(kinds.iter().map(|k| k.count).sum::<usize>(), tape.len());
    let total: std::time::Duration = kinds.iter().map(|k| k.total()).sum();
    assert_eq!(total, profile.total());
    let text = tape.dump().profile().to_string();
    assert!(text.contains("fwd µs") && text.contains("time by op"), "{text}");
    assert!(Tape::new().profile().is_none());
}
