//! `Derivation`: hand-derived gradients judged, located and explained. Each planted slip is
//! written out by hand here (not taken from the ops' own declarations), in a small graph, and
//! must be found at the right node with the right kind.

use crate::common::{panic_message, randn, uniform};
use tapegrad::{Derivation, DerivationReport, SlipKind, Tape, Tensor, Var};

/// `f(a_i, b_i)` elementwise.
fn zip(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Tensor {
    Tensor::new(a.data().iter().zip(b.data()).map(|(&x, &y)| f(x, y)).collect(), a.shape()).unwrap()
}

/// The tape's gradient of `loss` at `v`.
fn grad(loss: Var<'_>, v: Var<'_>) -> Tensor {
    loss.backward().wrt(v).unwrap().clone()
}

/// The first explanation, asserting there is one.
fn first(report: &DerivationReport) -> &tapegrad::Slip {
    report.explanations().first().unwrap_or_else(|| panic!("no explanation found:\n{report}"))
}

/// Asserts the first explanation is at `at`, in `op`'s backward, of `kind`.
#[track_caller]
fn assert_first(report: &DerivationReport, at: Var<'_>, op: &str, kind: SlipKind) {
    let slip = first(report);
    assert_eq!((slip.at(), slip.op(), slip.kind()), (at.id(), op, &kind), "\n{report}");
}

/// `tanh(x W).sum()` on `tape`, with `dL/dx` derived as `dL/dh W` instead of `dL/dh W^T`: the
/// report, and `x`.
fn matmul_left_untransposed(tape: &Tape) -> (DerivationReport, Var<'_>) {
    let x = tape.var(randn(&[3, 2], 1));
    let w = tape.var(randn(&[2, 2], 2));
    let h = x.matmul(w);
    let loss = h.tanh().sum();
    let dh = grad(loss, h);
    let report = Derivation::new(loss).name("W", w).hand("h", h, &dh).hand("x", x, &dh.matmul(&w.value())).check();
    (report, x)
}

#[test]
fn matmul_factor_left_untransposed() {
    let tape = Tape::new();
    let (report, x) = matmul_left_untransposed(&tape);
    assert_eq!(report.wrong(), ["x"]);
    assert_first(&report, x, "matmul", SlipKind::Transpose);
    assert_eq!(
        first(&report).to_string(),
        "dL/dx: dL/dh W instead of dL/dh W^T: W left untransposed in matmul's backward"
    );
}

#[test]
fn linear_weight_left_untransposed() {
    let tape = Tape::new();
    let x = tape.var(randn(&[4, 3], 3));
    let w = tape.var(randn(&[3, 3], 4));
    let b = tape.var(randn(&[3], 5));
    let y = x.linear(w, Some(b));
    let loss = y.sigmoid().sum();
    let dy = grad(loss, y);
    // y = x W^T + b: dx = dy W, derived as dy W^T.
    let report = Derivation::new(loss).hand("y", y, &dy).hand("x", x, &dy.matmul(&w.value().t())).check();
    assert_first(&report, x, "linear", SlipKind::Transpose);
}

#[test]
fn softmax_without_its_off_diagonal_term() {
    let tape = Tape::new();
    let z = tape.var(randn(&[2, 4], 6));
    let c = tape.constant(randn(&[2, 4], 7));
    let p = z.softmax(1);
    let loss = (p * c).sum();
    // dp = c; dz = p (c - sum(p c)), derived as p c.
    let dz = zip(&p.value(), &c.value(), |p, c| p * c);
    let report = Derivation::new(loss).hand("p", p, &c.value()).hand("z", z, &dz).check();
    assert_eq!(report.wrong(), ["z"]);
    assert_first(&report, z, "softmax", SlipKind::DroppedTerm);
    assert!(first(&report).to_string().contains("-p p^T"), "{}", first(&report));
}

#[test]
fn log_softmax_without_its_off_diagonal_term() {
    let tape = Tape::new();
    let z = tape.var(randn(&[3, 4], 8));
    let c = tape.constant(randn(&[3, 4], 9));
    let lp = z.log_softmax(1);
    let loss = (lp * c).sum();
    // dz = c - p sum(c), derived as c.
    let report = Derivation::new(loss).hand("log_p", lp, &c.value()).hand("z", z, &c.value()).check();
    assert_first(&report, z, "log_softmax", SlipKind::DroppedTerm);
}

/// `x W` and its cross-entropy, for the loss slips: `(x, W, logits, loss)`.
fn classifier(tape: &Tape) -> (Var<'_>, Var<'_>, Var<'_>, Var<'_>) {
    let x = tape.constant(randn(&[4, 3], 10));
    let w = tape.var(randn(&[3, 5], 11));
    let logits = x.matmul(w);
    (x, w, logits, logits.cross_entropy(&[0, 2, 4, 1]))
}

#[test]
fn cross_entropy_without_the_onehot() {
    let tape = Tape::new();
    let (x, w, logits, loss) = classifier(&tape);
    // dlogits = (P - onehot) / 4, derived as P / 4; dW = x^T dlogits inherits it.
    let p = logits.softmax(1).value().map(|p| p / 4.0);
    let dw = x.value().t().matmul(&p);
    let report = Derivation::new(loss).hand("logits", logits, &p).hand("W", w, &dw).check();
    assert_eq!(report.wrong(), ["logits", "W"]);
    assert_first(&report, logits, "cross_entropy", SlipKind::DroppedTerm);
}

#[test]
fn cross_entropy_mean_forgotten() {
    let tape = Tape::new();
    let (x, w, logits, loss) = classifier(&tape);
    let dlogits = grad(loss, logits).map(|d| d * 4.0);
    let dw = x.value().t().matmul(&dlogits);
    let report = Derivation::new(loss).hand("logits", logits, &dlogits).hand("W", w, &dw).check();
    assert_first(&report, logits, "cross_entropy", SlipKind::Scale(4.0));
    assert!(first(&report).to_string().contains("the mean's 1/4 forgotten"), "{}", first(&report));
}

/// A layer norm whose output is weighted by a constant: `(x, gamma, y, loss)`; `eps` large
/// enough that leaving it out shows.
fn normed(tape: &Tape, eps: f64) -> (Var<'_>, Var<'_>, Var<'_>, Var<'_>) {
    let x = tape.var(randn(&[3, 5], 12));
    let gamma = tape.var(uniform(&[5], 0.5, 1.5, 13));
    let beta = tape.var(randn(&[5], 14));
    let y = x.layer_norm(gamma, beta, eps);
    let c = tape.constant(randn(&[3, 5], 15));
    (x, gamma, y, (y * c).sum())
}

/// Layer norm's `dx` by hand, each term optional, with `eps` as given.
fn layer_norm_dx(x: &Tensor, gamma: &Tensor, g: &Tensor, eps: f64, mean_term: bool, variance_term: bool) -> Tensor {
    let d = gamma.numel();
    let mut dx = Vec::new();
    for (row, g) in x.data().chunks(d).zip(g.data().chunks(d)) {
        let mu = row.iter().sum::<f64>() / d as f64;
        let var = row.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / d as f64;
        let r = 1.0 / (var + eps).sqrt();
        let xhat: Vec<f64> = row.iter().map(|v| (v - mu) * r).collect();
        let dxhat: Vec<f64> = g.iter().zip(gamma.data()).map(|(g, w)| g * w).collect();
        let a = dxhat.iter().sum::<f64>() / d as f64;
        let b = dxhat.iter().zip(&xhat).map(|(p, q)| p * q).sum::<f64>() / d as f64;
        for (dh, xh) in dxhat.iter().zip(&xhat) {
            dx.push(r * (dh - if mean_term { a } else { 0.0 } - if variance_term { xh * b } else { 0.0 }));
        }
    }
    Tensor::new(dx, x.shape()).unwrap()
}

#[test]
fn layer_norm_without_a_term() {
    for (mean_term, variance_term, eps, words) in
        [(false, true, 0.1, "mean term"), (true, false, 0.1, "variance term"), (true, true, 0.0, "eps")]
    {
        let tape = Tape::new();
        let (x, gamma, y, loss) = normed(&tape, 0.1);
        let dy = grad(loss, y);
        // The hand formula itself is checked: with every term, it is the tape's.
        let right = layer_norm_dx(&x.value(), &gamma.value(), &dy, 0.1, true, true);
        assert!(right.max_abs_diff(&grad(loss, x)) < 1e-12);
        let dx = layer_norm_dx(&x.value(), &gamma.value(), &dy, eps, mean_term, variance_term);
        let report = Derivation::new(loss).hand("y", y, &dy).hand("x", x, &dx).check();
        assert_first(&report, x, "layer_norm", SlipKind::DroppedTerm);
        assert!(first(&report).to_string().contains(words), "{words}: {}", first(&report));
    }
}

#[test]
fn activations_with_a_term_of_their_derivative_dropped() {
    type Activation = for<'t> fn(Var<'t>) -> Var<'t>;
    type Derivative = fn(f64, f64) -> f64;
    let cases: [(Activation, &str, Derivative); 3] = [
        // tanh' = 1 - tanh^2, derived as 1.
        (|v| v.tanh(), "tanh", |_, _| 1.0),
        // sigmoid' = s (1 - s), derived as s.
        (|v| v.sigmoid(), "sigmoid", |_, s| s),
        // gelu' = (1 + t)/2 + x/2 (1 - t^2) u', derived as (1 + t)/2.
        (|v| v.gelu(), "gelu", |x, _| 0.5 * (1.0 + (0.7978845608028654 * (x + 0.044715 * x * x * x)).tanh())),
    ];
    for (f, op, slipped) in cases {
        let tape = Tape::new();
        let x = tape.var(randn(&[2, 3], 16));
        let a = f(x);
        let loss = (a * tape.constant(randn(&[2, 3], 17))).sum();
        let da = grad(loss, a);
        let derivative = zip(&x.value(), &a.value(), slipped);
        let report = Derivation::new(loss).hand("a", a, &da).hand("x", x, &zip(&da, &derivative, |g, d| g * d)).check();
        assert_first(&report, x, op, SlipKind::DroppedTerm);
    }
}

#[test]
fn broadcasting_without_the_sum_over_the_broadcast_axes() {
    let tape = Tape::new();
    let x = tape.var(randn(&[4, 3], 18));
    let b = tape.var(randn(&[3], 19));
    let y = x + b;
    let loss = (y * y).sum();
    let dy = grad(loss, y);
    // db = the sum of dy over the rows, derived as its first row.
    let first_row = Tensor::new(dy.data()[..3].to_vec(), &[3]).unwrap();
    let report = Derivation::new(loss).hand("y", y, &dy).hand("b", b, &first_row).check();
    assert_first(&report, b, "add", SlipKind::DroppedTerm);
}

#[test]
fn a_sign_flipped() {
    let tape = Tape::new();
    let x = tape.var(randn(&[2, 3], 20));
    let e = x.exp();
    let loss = (e * tape.constant(randn(&[2, 3], 21))).sum();
    let de = grad(loss, e);
    let dx = grad(loss, x).map(|d| -d);
    let report = Derivation::new(loss).hand("e", e, &de).hand("x", x, &dx).check();
    assert_first(&report, x, "exp", SlipKind::Sign);
}

#[test]
fn a_mean_taken_for_a_sum_found_with_its_constant() {
    let tape = Tape::new();
    let x = tape.var(randn(&[2, 4], 22));
    let sq = x * x;
    let loss = sq.mean();
    // dsq = 1/8 everywhere, derived as 1 (the 1/8 forgotten); dx = 2 x dsq inherits it.
    let report =
        Derivation::new(loss).hand("sq", sq, &Tensor::ones(&[2, 4])).hand("x", x, &x.value().map(|v| 2.0 * v)).check();
    assert_first(&report, sq, "mean", SlipKind::Scale(8.0));
    assert!(first(&report).to_string().contains("8 times the right gradient"), "{}", first(&report));
}

#[test]
fn a_path_left_out() {
    let tape = Tape::new();
    let x = tape.var(randn(&[3, 2], 23));
    let w = tape.var(randn(&[2, 2], 24));
    let h = x.tanh();
    let r = h + h.matmul(w); // a residual: h is used twice
    let loss = r.sigmoid().sum();
    let dr = grad(loss, r);
    // dh = dr + dr W^T, derived without the residual: dr W^T.
    let dh = dr.matmul(&w.value().t());
    let report = Derivation::new(loss).hand("r", r, &dr).hand("h", h, &dh).check();
    assert_first(&report, h, "add", SlipKind::MissingPath);
}

/// A two-layer MLP: `(W1, b1, W2, h, logits, loss)`.
fn mlp(tape: &Tape) -> [Var<'_>; 6] {
    let x = tape.constant(randn(&[4, 3], 25));
    let w1 = tape.var(randn(&[3, 5], 26));
    let b1 = tape.var(randn(&[5], 27));
    let w2 = tape.var(randn(&[5, 2], 28));
    let h = (x.matmul(w1) + b1).tanh();
    let logits = h.matmul(w2);
    [w1, b1, w2, h, logits, logits.cross_entropy(&[0, 1, 1, 0])]
}

#[test]
fn right_work_is_judged_right_with_no_explanation() {
    let tape = Tape::new();
    let [w1, b1, w2, h, logits, loss] = mlp(&tape);
    let grads = loss.backward();
    let of = |v: Var<'_>| grads.wrt(v).unwrap().clone();
    let build = |round: bool| {
        let r = |t: Tensor| if round { t.map(|v| (v * 1e4).round() / 1e4) } else { t };
        Derivation::new(loss)
            .hand("logits", logits, &r(of(logits)))
            .hand("W2", w2, &r(of(w2)))
            .hand("h", h, &r(of(h)))
            .hand("b1", b1, &r(of(b1)))
            .hand("W1", w1, &r(of(w1)))
    };
    let exact = build(false).check();
    assert!(exact.all_correct() && exact.wrong().is_empty() && exact.explanations().is_empty(), "{exact}");
    assert!(exact.to_string().contains("Every hand gradient is right."));
    // Rounded to 4 decimals: right at a tolerance that allows for it, not at the default.
    let loosened = build(true).tolerance(1e-4, 1e-3).check();
    assert!(loosened.all_correct() && loosened.explanations().is_empty(), "{loosened}");
    assert!(!build(true).check().all_correct());
}

#[test]
fn published_entries_alone_find_the_slip_upstream() {
    // dh = dlogits W2^T derived as dlogits W2... impossible here (W2 is 5 x 2); instead the
    // residual-free MLP's dh with the cross-entropy's onehot dropped, seen only in four
    // entries of dW1.
    let tape = Tape::new();
    let [w1, _, _, _, logits, loss] = mlp(&tape);
    let p = logits.softmax(1).value().map(|p| p / 4.0);
    // The slipped dW1 through the tape itself: backward from the slipped dlogits.
    let slipped = logits.backward_with(p).wrt(w1).unwrap().clone();
    let entries: Vec<(usize, f64)> =
        [0, 3, 7, 11].iter().map(|&i| (i, (slipped.data()[i] * 1e6).round() / 1e6)).collect();
    let report = Derivation::new(loss).name("logits", logits).hand_at("W1", w1, &entries).check();
    assert_eq!(report.wrong(), ["W1"]);
    assert_first(&report, logits, "cross_entropy", SlipKind::DroppedTerm);
    assert!(first(&report).to_string().starts_with("dL/dlogits: P instead of P - onehot"), "{}", first(&report));
    let stats = report.search_stats();
    assert!(stats.passes <= stats.candidates && stats.passes > 0, "{stats}");
}

#[test]
fn the_report_is_a_table_then_the_location_then_sentences() {
    let (report, _) = matmul_left_untransposed(&Tape::new());
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("hand gradient") && lines[0].contains("max |hand - true|"), "{text}");
    assert!(lines[1].starts_with("dL/dh") && lines[1].ends_with("right"), "{text}");
    assert!(lines[2].starts_with("dL/dx") && lines[2].ends_with("WRONG"), "{text}");
    assert!(text.contains("first goes wrong at dL/dx: the gradients it is derived from are right"), "{text}");
    assert!(text.contains("slip is in the backward step of matmul (from dL/dh)"), "{text}");
    assert!(
        text.contains("  1. dL/dx: dL/dh W instead of dL/dh W^T: W left untransposed in matmul's backward."),
        "{text}"
    );
    assert_eq!(report.first_wrong().as_deref(), Some("dL/dx"));
}

#[test]
fn a_hand_gradient_of_the_wrong_shape_panics_naming_it_and_both_shapes() {
    let message = panic_message(|| {
        let tape = Tape::new();
        let w = tape.var(Tensor::ones(&[2, 3]));
        let _ = Derivation::new(w.sum()).hand("dW", w, &Tensor::ones(&[3, 2]));
    });
    assert!(message.contains("dW has shape [3, 2]") && message.contains("[2, 3]"), "{message}");
}

#[test]
fn an_entry_past_the_size_panics_naming_it() {
    let message = panic_message(|| {
        let tape = Tape::new();
        let w = tape.var(Tensor::ones(&[2, 3]));
        let _ = Derivation::new(w.sum()).hand_at("dW", w, &[(1, 1.0), (6, 1.0)]);
    });
    assert!(message.contains("dW: entry 6 is past the end of its node's shape [2, 3] (6 elements)"), "{message}");
}
