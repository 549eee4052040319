//! [`Derivation`]: checks a learner's hand-derived backward pass against the tape's.
//!
//! A learner derives gradients by hand, as the seed chapter does (`P - onehot`, then `dW_lm`,
//! `dh`, ... back to the embeddings), and hands some of them in: whole tensors
//! ([`Derivation::hand`]) or only the entries a text publishes ([`Derivation::hand_at`]).
//! [`Derivation::check`] then
//!
//! 1. **judges** each against the tape's own gradient ([`judge`]);
//! 2. **locates** where the derivation first went wrong: the wrong gradient nearest the loss
//!    whose consumers' gradients are right ([`locate`]); the op between them holds the slip;
//! 3. **explains** it: searches the single slips, one local change of one backward step with
//!    everything below recomputed from it, that reproduce EVERY hand value given ([`search`]):
//!    the generic ones (a sign, a constant factor, a path left out) at every node, and those
//!    each op declares in its own home ([`Rule::slips`](crate::autograd::Rule::slips));
//! 4. **reports** it in the learner's terms ([`report`]).
//!
//! ```
//! use tapegrad::{Derivation, SlipKind, Tape, Tensor};
//! let tape = Tape::new();
//! let x = tape.var(Tensor::new(vec![0.5, -1.0, 2.0], &[3])?);
//! let h = x.tanh();
//! let loss = (h * 3.0).sum();
//! // dL/dh = 3 is right; dL/dx = 3 (1 - tanh^2 x) was taken as 3: tanh's -tanh^2 dropped.
//! let report = Derivation::new(loss)
//!     .hand("h", h, &Tensor::full(&[3], 3.0))
//!     .hand("x", x, &Tensor::full(&[3], 3.0))
//!     .check();
//! assert_eq!(report.wrong(), ["x"]);
//! let slip = &report.explanations()[0];
//! assert_eq!((slip.at(), slip.op(), slip.kind()), (x.id(), "tanh", &SlipKind::DroppedTerm));
//! println!("{report}");
//! # Ok::<(), tapegrad::Error>(())
//! ```

mod judge;
mod locate;
mod names;
mod report;
mod search;

pub use report::{DerivationReport, SearchStats, Slip};

use crate::autograd::Var;
use crate::tensor::Tensor;
use judge::{Hand, Tolerance};

/// A learner's hand-derived gradients of one loss, to be checked against the tape's: judged,
/// located and explained (`docs/derivation.md`, section 8). Built with [`Derivation::new`], then [`Derivation::hand`] /
/// [`Derivation::hand_at`] for each gradient derived, and [`Derivation::check`].
pub struct Derivation<'t> {
    loss: Var<'t>,
    hands: Vec<Hand>,
    /// Names given to nodes without a hand gradient ([`Derivation::name`]).
    names: Vec<(usize, String)>,
    tolerance: Tolerance,
}

impl<'t> Derivation<'t> {
    /// Starts a check of the hand gradients of `loss`, which must be one value.
    #[track_caller]
    pub fn new(loss: Var<'t>) -> Derivation<'t> {
        let shape = loss.shape();
        assert!(
            shape.iter().product::<usize>() == 1,
            "Derivation::new: the loss has shape {shape:?}; a derivation starts from one value (reduce it first)"
        );
        Derivation { loss, hands: Vec::new(), names: Vec::new(), tolerance: Tolerance::default() }
    }

    /// A whole hand-derived gradient `dL/d(at)`, named `name`: the gradient's name as the
    /// learner writes it (`dL/dW_O` or `dW_O`), or the node's (`W_O`; a name starting with `d`
    /// is read as a gradient's, so name such a node with [`Derivation::name`]). Panics, naming it and both shapes, when `grad`'s shape is not
    /// `at`'s, and when `at` is a constant (the tape computes no gradient for it).
    #[track_caller]
    pub fn hand(mut self, name: &str, at: Var<'t>, grad: &Tensor) -> Derivation<'t> {
        let shape = self.node_shape("hand", name, at);
        assert!(
            grad.shape() == shape.as_slice(),
            "Derivation::hand: {name} has shape {:?}, but the node it is the gradient of has shape {shape:?}",
            grad.shape()
        );
        let entries = grad.data().iter().copied().enumerate().collect();
        self.hands.push(Hand { name: name.to_string(), node: at.id(), entries, whole: true });
        self
    }

    /// Only some entries of a hand-derived gradient `dL/d(at)`, as a text publishes them:
    /// `(row-major index, value)`. Panics, naming it and the node's shape, when an index is
    /// past the node's size, and when `at` is a constant.
    #[track_caller]
    pub fn hand_at(mut self, name: &str, at: Var<'t>, entries: &[(usize, f64)]) -> Derivation<'t> {
        let shape = self.node_shape("hand_at", name, at);
        let size: usize = shape.iter().product();
        for &(index, _) in entries {
            assert!(
                index < size,
                "Derivation::hand_at: {name}: entry {index} is past the end of its node's shape {shape:?} \
                 ({size} elements)"
            );
        }
        self.hands.push(Hand { name: name.to_string(), node: at.id(), entries: entries.to_vec(), whole: false });
        self
    }

    /// Names a node for the report without handing in its gradient ("concat", "W_O"), so
    /// that a slip found there is told in the learner's terms ("dL/dconcat", and "W_O^T" for
    /// a transpose of it). Unnamed nodes are shown as `op#id`.
    pub fn name(mut self, name: &str, at: Var<'t>) -> Derivation<'t> {
        self.names.push((at.id(), name.to_string()));
        self
    }

    /// The tolerance a hand value must meet: `|hand - true| <= atol + rtol |true|`. The
    /// default, atol 1e-6 and rtol 1e-4, suits values published to 6 decimals; loosen it for
    /// work rounded further (4 decimals: atol 1e-4).
    pub fn tolerance(mut self, atol: f64, rtol: f64) -> Derivation<'t> {
        self.tolerance = Tolerance { atol, rtol };
        self
    }

    /// Judges every hand gradient, locates where the derivation first went wrong, and
    /// searches the single slips that reproduce every hand value given (`docs/derivation.md`,
    /// section 8).
    #[track_caller]
    pub fn check(self) -> DerivationReport {
        let grads = self.loss.backward();
        let tape = self.loss.tape();
        let nodes = tape.nodes.borrow();
        let names = names::Names::new(&nodes, &self.hands, &self.names);
        let judged = judge::judge(&self.hands, &grads, self.tolerance);
        if judged.all_right() {
            return DerivationReport::new(judged.rows, None, Vec::new(), SearchStats::default());
        }
        let ancestry = locate::Ancestry::new(&nodes, self.loss.id(), &judged);
        let located = locate::locate(&nodes, &grads, &judged, &ancestry, &names);
        let (explanations, stats) =
            search::search(&nodes, &grads, self.loss.id(), &judged, &ancestry, &names, self.tolerance);
        DerivationReport::new(judged.rows, located, explanations, stats)
    }

    /// The shape of `at`'s value; panics, naming the hand gradient, for a constant.
    #[track_caller]
    fn node_shape(&self, method: &str, name: &str, at: Var<'t>) -> Vec<usize> {
        assert!(
            std::ptr::eq(at.tape(), self.loss.tape()),
            "Derivation::{method}: {name} is a node of another tape than the loss's"
        );
        let needs_grad = at.tape().nodes.borrow()[at.id()].needs_grad;
        assert!(
            needs_grad,
            "Derivation::{method}: {name} is the gradient of a constant, which the tape computes no gradient for; \
             record it with tape.var to check it"
        );
        at.shape()
    }
}
