//! `tape.profile()`: where the time of a step goes, per node and per kind of op. Only a tape
//! made with [`Tape::with_profiling`] has one.

use std::fmt;
use std::time::Duration;

use crate::autograd::Tape;

/// One node's times (see [`Tape::with_profiling`] for what they measure).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NodeTime {
    /// The node's id on its tape.
    pub id: usize,
    /// The op as users write it (`"var"` and `"constant"` for leaves).
    pub op: String,
    /// From the previous node's recording to this one's: the forward, and code in between.
    pub forward: Duration,
    /// Its backward rule in the last backward pass (`None`: it did not run).
    pub backward: Option<Duration>,
}

/// The totals of one kind of op (its name without parameters: `softmax(3)` is `softmax`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct OpTime {
    /// The kind of op.
    pub op: String,
    /// How many nodes of this kind.
    pub count: usize,
    /// Their forward times, summed.
    pub forward: Duration,
    /// Their backward times, summed.
    pub backward: Duration,
}

impl OpTime {
    /// Forward plus backward.
    pub fn total(&self) -> Duration {
        self.forward + self.backward
    }
}

/// The per-node times of a profiling tape, and their totals by kind of op. `Display` prints
/// the totals, largest first, with each kind's share of the step.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Profile {
    /// One row per node, in tape order.
    pub nodes: Vec<NodeTime>,
}

impl Tape {
    /// The times of a tape made with [`Tape::with_profiling`] (`None` for any other tape).
    pub fn profile(&self) -> Option<Profile> {
        let timings = self.profile.as_ref()?;
        let nodes = self.nodes.borrow();
        let (forward, backward) = (timings.forward.borrow(), timings.backward.borrow());
        let rows = nodes
            .iter()
            .enumerate()
            .map(|(id, node)| NodeTime {
                id,
                op: node.label(),
                forward: forward[id],
                backward: backward.get(id).copied().flatten(),
            })
            .collect();
        Some(Profile { nodes: rows })
    }
}

impl Profile {
    /// Forward and backward time of every node, summed.
    pub fn total(&self) -> Duration {
        self.nodes.iter().map(|n| n.forward + n.backward.unwrap_or_default()).sum()
    }

    /// Totals per kind of op, largest (forward + backward) first.
    pub fn by_op(&self) -> Vec<OpTime> {
        let mut kinds: Vec<OpTime> = Vec::new();
        for node in &self.nodes {
            let op = node.op.split('(').next().unwrap_or_default();
            let at = match kinds.iter().position(|k| k.op == op) {
                Some(at) => at,
                None => {
                    kinds.push(OpTime { op: op.into(), count: 0, forward: Duration::ZERO, backward: Duration::ZERO });
                    kinds.len() - 1
                }
            };
            let kind = &mut kinds[at];
            kind.count += 1;
            kind.forward += node.forward;
            kind.backward += node.backward.unwrap_or_default();
        }
        kinds.sort_by_key(|kind| std::cmp::Reverse(kind.total()));
        kinds
    }
}

/// Microseconds with one decimal.
pub(crate) fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// `part` as a percentage of `whole`.
pub(crate) fn share(part: Duration, whole: Duration) -> String {
    if whole.is_zero() { "-".into() } else { format!("{:.1}%", 100.0 * part.as_secs_f64() / whole.as_secs_f64()) }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        writeln!(f, "time by op (forward + backward = {} µs):", micros(total))?;
        writeln!(f, "  {:<16} {:>5} {:>12} {:>12} {:>7}", "op", "nodes", "fwd µs", "bwd µs", "share")?;
        for kind in self.by_op() {
            writeln!(
                f,
                "  {:<16} {:>5} {:>12} {:>12} {:>7}",
                kind.op,
                kind.count,
                micros(kind.forward),
                micros(kind.backward),
                share(kind.total(), total)
            )?;
        }
        Ok(())
    }
}
