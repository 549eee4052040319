//! The autograd core: the [`Tape`] that records nodes, the [`Var`] handle, the backward loop
//! that returns [`Grads`], the [`Rule`](rule::Rule) contract every op fulfils, and anomaly
//! checks. It knows ops only through that contract and the list of them in `ops`.

pub(crate) mod anomaly;
mod backward;
mod grad_graph;
pub(crate) mod leaf;
mod release;
pub(crate) mod rule;
pub(crate) mod slip;
pub(crate) mod tape;
mod var;

pub use anomaly::{Anomaly, Phase};
pub use backward::Grads;
pub(crate) use backward::run_rule;
pub use grad_graph::GradGraph;
pub(crate) use rule::{BackwardCx, GraphCx, Rule, Saved, Wants, bytes_of, short};
pub use slip::SlipKind;
pub(crate) use slip::{OpSlip, SlipCx};
pub(crate) use tape::Node;
pub use tape::Tape;
pub use var::Var;
