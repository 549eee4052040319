//! A leaf: a value brought onto the tape by `Tape::var` (it gets a gradient) or
//! `Tape::constant` (it gets none). It has no inputs, so its backward has nothing to do.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Wants};

/// The recorded state of a leaf: nothing.
#[derive(Clone, Debug)]
pub(crate) struct Leaf;

impl Rule for Leaf {
    fn name(&self) -> String {
        "leaf".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    fn backward(&self, _: &mut BackwardCx<'_>) {}

    fn backward_graph<'t>(&self, _: &mut GraphCx<'_, 't>) {}
}
