//! The verdict on the published gradients from tapegrad's general derivation checker, and its
//! agreement with the twenty slips written by hand for this model (`tapegrad_seed::slips`).

use tapegrad::{Derivation, SlipKind, Tape, Var};
use tapegrad_seed::chapter::{TARGETS, TOKENS};
use tapegrad_seed::model::{PARAM_NAMES, SeedParams};
use tapegrad_seed::published::{PUBLISHED, published_entries};
use tapegrad_seed::slips::Mistake;
use tapegrad_seed::verdict::published_derivation;

#[test]
fn from_the_8_published_entries_alone_the_checker_names_w_o_untransposed() {
    let tape = Tape::new();
    let (derivation, acts) = published_derivation(&tape, &SeedParams::init());
    let report = derivation.check();
    assert_eq!(report.wrong(), ["dE_tok", "dW_V"], "{report}");
    let slip = &report.explanations()[0];
    assert_eq!((slip.at(), slip.op(), slip.kind()), (acts.concat.id(), "matmul", &SlipKind::Transpose), "{report}");
    assert_eq!(
        slip.to_string(),
        "dL/dconcat: dL/dmh W_O^T instead of dL/dmh W_O: W_O^T left untransposed in matmul's backward"
    );
    // The only single slip that reproduces all 8.
    assert_eq!(report.explanations().len(), 1, "{report}");
}

#[test]
fn the_hand_written_slips_agree_w_o_untransposed_is_the_one() {
    let params = SeedParams::init();
    let round = |v: f64| (v * 1e6).round() / 1e6;
    let reproducing: Vec<Mistake> = Mistake::ALL
        .into_iter()
        .filter(|&m| published_entries(&params.step(m).grads).iter().zip(&PUBLISHED).all(|(g, p)| round(*g) == *p))
        .collect();
    assert_eq!(reproducing, [Mistake::WoNotTransposed]);
}

/// What the general checker names for each hand-written slip whose gradients it is handed
/// (every parameter's, whole): the op and kind, and the activation it is at where the model
/// names one. The hand-written slips outside the checker's catalogue (two slips at once, or
/// not one local change of a backward step) are left out: rounded probabilities, position 4
/// in the loss, the tied LM head, the attention softmax dropped or taken as the identity,
/// `dK` untransposed (`dS Q` for `dS^T Q`, not a product's factor left as it is), only the
/// value path to `X`, the FFN path cut before its weights, and layer norm without `eps`
/// (the hand-written slip leaves it out of `dgamma` too: two gradients of one step at once).
#[test]
fn the_checker_names_each_hand_written_slip_it_can_express() {
    let params = SeedParams::init();
    let cases: [(Mistake, &str, SlipKind, Option<&str>); 10] = [
        (Mistake::WoNotTransposed, "matmul", SlipKind::Transpose, Some("concat")),
        (Mistake::MeanLoss, "mul", SlipKind::Scale(0.25), None),
        (Mistake::ResidualMissed, "add", SlipKind::MissingPath, Some("mh")),
        (Mistake::QueryPathMissed, "matmul", SlipKind::MissingPath, Some("X")),
        (Mistake::KeyPathMissed, "matmul", SlipKind::MissingPath, Some("X")),
        (Mistake::LayerNormNoMeanTerm, "layer_norm", SlipKind::DroppedTerm, Some("res")),
        (Mistake::LayerNormNoVarianceTerm, "layer_norm", SlipKind::DroppedTerm, Some("res")),
        (Mistake::LayerNormAsScaling, "layer_norm", SlipKind::DroppedTerm, Some("res")),
        (Mistake::GeluDerivativeFirstTermOnly, "gelu", SlipKind::DroppedTerm, None),
        (Mistake::ScoreScaleMissed, "div", SlipKind::Scale(8f64.sqrt()), None),
    ];
    for (mistake, op, kind, at) in cases {
        let slipped = params.step(mistake).grads;
        let tape = Tape::new();
        let vars = params.vars(&tape);
        let acts = vars.forward(&TOKENS);
        let loss = vars.sum_loss(acts.logits, &TARGETS);
        let mut derivation = Derivation::new(loss).tolerance(1e-9, 1e-7);
        let named: [(&str, Var<'_>); 4] = [("X", acts.x), ("concat", acts.concat), ("mh", acts.mh), ("res", acts.res)];
        for (name, var) in named {
            derivation = derivation.name(name, var);
        }
        for ((name, var), grad) in PARAM_NAMES.iter().zip(vars.all).zip(&slipped) {
            derivation = derivation.hand(name, var, grad);
        }
        let report = derivation.check();
        let at_id = at.map(|a| named.iter().find(|(n, _)| *n == a).unwrap().1.id());
        let found = report.explanations().iter().any(|s| {
            s.op() == op
                && match (s.kind(), &kind) {
                    (SlipKind::Scale(a), SlipKind::Scale(b)) => (a - b).abs() < 1e-12,
                    (a, b) => a == b,
                }
                && at_id.is_none_or(|id| s.at() == id)
        });
        assert!(found, "{mistake:?}: expected {op} {kind:?} at {at:?}\n{report}");
    }
}
