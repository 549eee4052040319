//! Judging: each hand value against the tape's gradient, at a tolerance that suits rounded
//! hand work.

use crate::autograd::Grads;

/// One hand gradient: its name, the node it is the gradient of, and what was given.
pub(crate) struct Hand {
    pub(crate) name: String,
    pub(crate) node: usize,
    /// `(row-major index, value)`: every element for a whole tensor.
    pub(crate) entries: Vec<(usize, f64)>,
    /// Whether the whole tensor was given (else: published entries).
    pub(crate) whole: bool,
}

/// `|hand - true| <= atol + rtol |true|` (as `numpy.isclose`, with the tape's value as the
/// reference).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tolerance {
    pub(crate) atol: f64,
    pub(crate) rtol: f64,
}

impl Default for Tolerance {
    fn default() -> Tolerance {
        Tolerance { atol: 1e-6, rtol: 1e-4 }
    }
}

impl Tolerance {
    /// Whether `hand` is `expected` within the tolerance (never for NaN).
    pub(crate) fn close(self, hand: f64, expected: f64) -> bool {
        (hand - expected).abs() <= self.atol + self.rtol * expected.abs()
    }
}

/// One hand value beside the tape's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub(crate) index: usize,
    pub(crate) hand: f64,
    pub(crate) truth: f64,
}

/// Every hand value given for one node (from one or more hand gradients), and the verdict.
#[derive(Clone, Debug)]
pub(crate) struct HandNode {
    pub(crate) id: usize,
    pub(crate) entries: Vec<Entry>,
    pub(crate) right: bool,
}

/// One row of the report: a hand gradient as given, and its verdict.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) name: String,
    /// How many values were given (all of the node's, or the published entries).
    pub(crate) values: usize,
    pub(crate) whole: bool,
    pub(crate) max_diff: f64,
    pub(crate) right: bool,
}

/// The hand gradients judged: per hand gradient (in the order given) and per node.
pub(crate) struct Judged {
    pub(crate) rows: Vec<Row>,
    /// By increasing node id.
    pub(crate) nodes: Vec<HandNode>,
}

impl Judged {
    pub(crate) fn all_right(&self) -> bool {
        self.rows.iter().all(|r| r.right)
    }

    /// The nodes whose hand values are wrong, by increasing id.
    pub(crate) fn wrong(&self) -> impl Iterator<Item = &HandNode> {
        self.nodes.iter().filter(|n| !n.right)
    }
}

/// Judges every hand gradient against `grads` (the tape's; a node the loss does not depend on
/// has gradient zero).
pub(crate) fn judge(hands: &[Hand], grads: &Grads, tolerance: Tolerance) -> Judged {
    let mut rows = Vec::with_capacity(hands.len());
    let mut nodes: Vec<HandNode> = Vec::new();
    for hand in hands {
        let truth = grads.by_id(hand.node);
        let entries: Vec<Entry> = hand
            .entries
            .iter()
            .map(|&(index, value)| Entry { index, hand: value, truth: truth.map_or(0.0, |t| t.data()[index]) })
            .collect();
        let right = entries.iter().all(|e| tolerance.close(e.hand, e.truth));
        let max_diff = entries.iter().map(|e| (e.hand - e.truth).abs()).fold(0.0, f64::max);
        rows.push(Row { name: hand.name.clone(), values: entries.len(), whole: hand.whole, max_diff, right });
        match nodes.iter_mut().find(|n| n.id == hand.node) {
            Some(node) => {
                node.entries.extend(entries);
                node.right &= right;
            }
            None => nodes.push(HandNode { id: hand.node, entries, right }),
        }
    }
    nodes.sort_by_key(|n| n.id);
    Judged { rows, nodes }
}
