//! Locating where a derivation first went wrong: the wrong gradient nearest the loss whose
//! consumers' gradients are right; the op between them holds the slip.
//!
//! "Nearer the loss" is backward order: a node's gradient is complete once its last consumer
//! (in backward order, the one with the smallest id) has run, so of two gradients the one
//! whose earliest consumer has the larger id is derived first.

use super::judge::Judged;
use super::names::{Names, op_of};
use crate::autograd::{Grads, Node};

/// For every node, which wrong hand nodes it depends on (itself included), as a bitset over
/// the wrong hand nodes: a slip whose gradient goes wrong first at node `m` reaches exactly
/// the nodes `m` depends on, so it can explain the wrong values only where `m` covers them
/// all.
pub(crate) struct Ancestry {
    /// The number of nodes up to the loss.
    pub(crate) len: usize,
    words: usize,
    bits: Vec<u64>,
    /// The wrong hand nodes' ids, in bit order.
    wrong: Vec<usize>,
}

impl Ancestry {
    pub(crate) fn new(nodes: &[Node], last: usize, judged: &Judged) -> Ancestry {
        let wrong: Vec<usize> = judged.wrong().map(|n| n.id).collect();
        let words = wrong.len().div_ceil(64);
        let mut bits = vec![0u64; (last + 1) * words];
        for (id, node) in nodes.iter().enumerate().take(last + 1) {
            let (before, row) = bits.split_at_mut(id * words);
            let row = &mut row[..words];
            for &input in node.inputs.iter() {
                let from = &before[input * words..(input + 1) * words];
                row.iter_mut().zip(from).for_each(|(r, f)| *r |= f);
            }
            if let Ok(bit) = wrong.binary_search(&id) {
                row[bit / 64] |= 1 << (bit % 64);
            }
        }
        Ancestry { len: last + 1, words, bits, wrong }
    }

    fn row(&self, id: usize) -> &[u64] {
        &self.bits[id * self.words..(id + 1) * self.words]
    }

    /// Whether node `id` depends on every wrong hand node (is one of, or is computed from,
    /// all of them).
    pub(crate) fn covers_all_wrong(&self, id: usize) -> bool {
        let full = self.wrong.len();
        self.row(id).iter().enumerate().all(|(w, &word)| {
            let bits_here = (full - w * 64).min(64);
            let mask = if bits_here == 64 { u64::MAX } else { (1u64 << bits_here) - 1 };
            word & mask == mask
        })
    }

    /// Whether wrong hand node `wrong_id` is `id` or a node `id` depends on.
    fn depends_on_wrong(&self, id: usize, wrong_id: usize) -> bool {
        let bit = self.wrong.binary_search(&wrong_id).expect("a wrong hand node");
        self.row(id)[bit / 64] >> (bit % 64) & 1 == 1
    }
}

/// A consumer of the located node: the op between its gradient and the located one.
#[derive(Clone, Debug)]
pub(crate) struct Consumer {
    pub(crate) op: String,
    pub(crate) gradient: String,
    /// Its hand gradient's verdict, if one was given.
    pub(crate) right: Option<bool>,
}

/// Where the derivation first went wrong.
#[derive(Clone, Debug)]
pub(crate) struct Located {
    pub(crate) gradient: String,
    pub(crate) consumers: Vec<Consumer>,
}

impl Located {
    /// Whether every consumer's gradient was given and is right: the slip is then in one of
    /// their ops' backward steps.
    pub(crate) fn pinned(&self) -> bool {
        !self.consumers.is_empty() && self.consumers.iter().all(|c| c.right == Some(true))
    }
}

/// The wrong hand gradient nearest the loss with no wrong hand gradient between it and the
/// loss.
pub(crate) fn locate(
    nodes: &[Node],
    grads: &Grads,
    judged: &Judged,
    ancestry: &Ancestry,
    names: &Names,
) -> Option<Located> {
    // The consumers (with a gradient: on a path to the loss) of each node, by id.
    let consumers_of = |m: usize| {
        (m + 1..ancestry.len).filter(|&c| grads.by_id(c).is_some() && nodes[c].inputs.contains(&m)).collect::<Vec<_>>()
    };
    // A wrong node no other wrong node depends on: nothing wrong between it and the loss.
    let first = judged
        .wrong()
        .filter(|h| judged.wrong().all(|other| other.id == h.id || !ancestry.depends_on_wrong(other.id, h.id)))
        .map(|h| (h.id, consumers_of(h.id)))
        .max_by_key(|(id, consumers)| (consumers.first().copied().unwrap_or(usize::MAX), *id))?;
    let (node, consumers) = first;
    let verdict = |c: usize| judged.nodes.iter().find(|n| n.id == c).map(|n| n.right);
    Some(Located {
        gradient: names.gradient(nodes, node),
        consumers: consumers
            .into_iter()
            .map(|c| Consumer { op: op_of(nodes, c), gradient: names.gradient(nodes, c), right: verdict(c) })
            .collect(),
    })
}
