//! Releasing values during a backward pass ([`Var::backward_wrt_releasing`]): each value is
//! dropped as soon as no backward rule still to run touches it, as PyTorch frees a graph's
//! saved tensors during `backward()`.
//!
//! The tape cannot free a value during the forward pass: a `Var` is a `Copy` handle, so the
//! tape never learns that the last one is gone, and any later op may still read it. The
//! backward pass is the first moment when what is left to read is known: the rules that have
//! not run yet. Node `j`'s value is read by the rules of the nodes that list it in
//! [`Rule::touched`] (its consumers, and itself when its rule reads its own output); those all
//! have ids `>= j`, and the pass visits ids in decreasing order, so after it has visited the
//! smallest of them, nothing reads the value again.

use crate::autograd::Var;
use crate::autograd::rule::{Rule, Saved, declared_by};
use crate::autograd::tape::Node;

/// What node `id`'s rule touches ([`Rule::touched`]), with inputs as node ids.
fn touched_by(nodes: &[Node], id: usize) -> Saved {
    declared_by(nodes, id, |op, wants| op.touched(wants))
}

/// When each value of the nodes `0..=root` may go: `now` before the pass (values no rule
/// reads), `after[r]` once the pass has visited node `r` (the last reader of those values).
pub(crate) struct ReleasePlan {
    now: Vec<usize>,
    after: Vec<Vec<usize>>,
}

impl ReleasePlan {
    /// The plan for a pass from `root`; the values of `root` and of the nodes `keep` marks
    /// stay.
    pub(crate) fn new(nodes: &[Node], root: usize, keep: &[bool]) -> ReleasePlan {
        // The first reader met in increasing id order is the last one the pass visits.
        let mut last_reader: Vec<Option<usize>> = vec![None; root + 1];
        for reader in 0..=root {
            for j in touched_by(nodes, reader).values(reader) {
                last_reader[j].get_or_insert(reader);
            }
        }
        let mut plan = ReleasePlan { now: Vec::new(), after: vec![Vec::new(); root + 1] };
        for (j, reader) in last_reader.into_iter().enumerate() {
            if j == root || keep[j] || nodes[j].released {
                continue;
            }
            match reader {
                None => plan.now.push(j),
                Some(r) => plan.after[r].push(j),
            }
        }
        plan
    }

    /// Releases the values nothing in the pass reads.
    pub(crate) fn release_unread(&self, nodes: &mut [Node]) {
        self.now.iter().for_each(|&j| release(&mut nodes[j]));
    }

    /// Releases the values whose last reader was node `visited`.
    pub(crate) fn release_after(&self, visited: usize, nodes: &mut [Node]) {
        self.after[visited].iter().for_each(|&j| release(&mut nodes[j]));
    }
}

fn release(node: &mut Node) {
    node.value.release();
    node.released = true;
}

/// Panics, naming both nodes, when node `id`'s rule would touch a value an earlier
/// [`Var::backward_wrt_releasing`] released (a second backward through the same graph).
#[track_caller]
pub(crate) fn check_values_present(nodes: &[Node], id: usize) {
    if let Some(j) = touched_by(nodes, id).values(id).find(|&j| nodes[j].released) {
        panic!(
            "backward: the rule of node #{id} ({}, recorded at {}) needs the value of node #{j} ({}), which \
             backward_wrt_releasing released; a graph can be differentiated once that way (build it again, \
             or use backward_wrt, which keeps every value)",
            nodes[id].label(),
            nodes[id].location,
            nodes[j].label()
        );
    }
}

/// Panics, naming the node, when `v`'s value was released. (One branch on every value read:
/// the message is built out of line.)
#[track_caller]
#[inline(always)]
pub(crate) fn check_not_released(v: Var<'_>, node: &Node) {
    if node.released {
        released(v, node);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn released(v: Var<'_>, node: &Node) -> ! {
    panic!(
        "the value of node #{} ({}, recorded at {}) was released by backward_wrt_releasing; keep it by \
         listing the Var in backward_wrt_releasing's `wrt`, or use backward_wrt, which keeps every value",
        v.id,
        node.label(),
        node.location
    )
}
