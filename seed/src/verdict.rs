//! The verdict on the series' published hand-derived gradients, from tapegrad's general
//! derivation checker ([`tapegrad::Derivation`]): the 8 published entries are handed in as
//! they are published (4 entries of `dE_tok`, 4 of `dW_V`), judged against the tape's
//! gradients, and explained by the single slip, anywhere in the model's backward pass, that
//! reproduces all 8. No slip is written for this model: the search tries the generic slips at
//! every node and each op's own.
//!
//! The twenty slips of [`crate::slips`], written by hand for this one model, stay as an
//! independent cross-check (`tests/suite/derivation_verdict.rs` shows both name the same slip).
//!
//! ```
//! use tapegrad::{SlipKind, Tape};
//! use tapegrad_seed::model::SeedParams;
//! use tapegrad_seed::verdict::published_derivation;
//! let tape = Tape::new();
//! let (derivation, acts) = published_derivation(&tape, &SeedParams::init());
//! let report = derivation.check();
//! assert_eq!(report.wrong(), ["dE_tok", "dW_V"]);
//! let slip = &report.explanations()[0];
//! assert_eq!((slip.at(), slip.op(), slip.kind()), (acts.concat.id(), "matmul", &SlipKind::Transpose));
//! ```

use tapegrad::{Derivation, Tape};

use crate::chapter::{TARGETS, TOKENS};
use crate::model::{Activations, PARAM_NAMES, SeedParams};
use crate::published::{PUBLISHED, PUBLISHED_ENTRIES};

/// The seed model's forward pass on `tape` and a [`Derivation`] of its SUM loss holding the 8
/// published entries (`dE_tok`, `dW_V`), with every parameter and activation named for the
/// report. Returns the activations too, to compare the slip's node with them.
pub fn published_derivation<'t>(tape: &'t Tape, params: &SeedParams) -> (Derivation<'t>, Activations<'t>) {
    let vars = params.vars(tape);
    let acts = vars.forward(&TOKENS);
    let loss = vars.sum_loss(acts.logits, &TARGETS);
    let mut derivation = Derivation::new(loss);
    for (name, var) in PARAM_NAMES.iter().zip(vars.all) {
        derivation = derivation.name(name, var);
    }
    let named = [
        ("X", acts.x),
        ("weights", acts.weights),
        ("concat", acts.concat),
        ("mh", acts.mh),
        ("res", acts.res),
        ("ln", acts.ln),
        ("logits", acts.logits),
    ];
    for (name, var) in named {
        derivation = derivation.name(name, var);
    }
    // The published entries, by parameter, in the order they are published.
    for (param, hand) in [(0, "dE_tok"), (4, "dW_V")] {
        let entries: Vec<(usize, f64)> = PUBLISHED_ENTRIES
            .iter()
            .zip(PUBLISHED)
            .filter(|((p, _), _)| *p == param)
            .map(|(&(_, at), value)| (at, value))
            .collect();
        derivation = derivation.hand_at(hand, vars.all[param], &entries);
    }
    (derivation, acts)
}
