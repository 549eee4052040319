//! Explaining: the single slips that reproduce EVERY hand value given.
//!
//! A slip is one local change of one backward step: node `n`'s rule hands input `m` a wrong
//! gradient, and everything below `m` is recomputed from it, as a learner's later steps
//! inherit an early mistake. Backward rules are linear in the upstream gradient, so a slip
//! changes the gradients below `m` by exactly the backward of `delta = slipped - true`, seeded
//! at `m`. The search therefore
//!
//! - runs the true backward once (the tape's gradients, already computed for judging);
//! - per candidate node `n`, runs `n`'s rule alone once, for the true gradient it hands to
//!   each input, shared by all of `n`'s candidates;
//! - skips every candidate whose `m` does not depend on all the wrong hand nodes (a slip
//!   reaches only the nodes `m` depends on; the wrong ones must all be among them), without a
//!   pass;
//! - per remaining candidate, runs ONE partial pass: the backward of `delta` from `m` down
//!   to the lowest hand node, running only the rules of nodes whose inputs lead to a hand
//!   node, and stopping at the first hand node whose values the slip does not reproduce. The
//!   generic slips of one edge (sign, a constant factor, the path left out) share one pass:
//!   each is `c` times the edge's true gradient (`c = -1`, the factor, `0`), so one pass of
//!   the true gradient, `D`, gives all three as `true + (c - 1) D`.
//!
//! So a search costs at most one partial pass per (node, slip) candidate, each no longer than
//! a backward pass ([`SearchStats`] counts them).

use super::judge::{Entry, Judged, Tolerance};
use super::locate::Ancestry;
use super::names::{Names, op_of};
use super::report::{SearchStats, Slip};
use crate::autograd::slip::zip_with;
use crate::autograd::{Grads, Node, Rule, SlipCx, SlipKind, run_rule};
use crate::tensor::Tensor;

/// A slip found, with what orders it: `rank` (most specific first), then nearest the loss.
struct Found {
    slip: Slip,
    rank: u8,
}

/// The single slips that reproduce every hand value, most specific first, and what the
/// search cost.
pub(crate) fn search(
    nodes: &[Node],
    grads: &Grads,
    last: usize,
    judged: &Judged,
    ancestry: &Ancestry,
    names: &Names,
    tolerance: Tolerance,
) -> (Vec<Slip>, SearchStats) {
    let mut search = Search::new(nodes, last, judged, tolerance);
    let mut found = Vec::new();
    for n in (0..=last).rev() {
        let node = &nodes[n];
        let Some(upstream) = grads.by_id(n) else { continue };
        if node.inputs.is_empty() || !node.needs_grad {
            continue;
        }
        search.stats.nodes += 1;
        search.stats.rules_per_backward += 1;
        // The inputs that get a gradient, each once.
        let mut inputs: Vec<usize> = node.inputs.iter().copied().filter(|&m| nodes[m].needs_grad).collect();
        inputs.sort_unstable();
        inputs.dedup();
        if !inputs.iter().any(|&m| ancestry.covers_all_wrong(m)) {
            search.stats.skipped += inputs.len();
            continue;
        }
        // The true gradient the rule hands to each input (summed over repeated positions).
        run_rule(nodes, n, upstream, &mut search.scratch);
        let handed: Vec<(usize, Tensor)> = inputs
            .iter()
            .map(|&m| (m, search.scratch[m].take().unwrap_or_else(|| Tensor::zeros(nodes[m].value.shape()))))
            .collect();
        let handed_to = |m: usize| &handed.iter().find(|(id, _)| *id == m).expect("an input").1;
        let op = op_of(nodes, n);
        // Generic slips: one pass per edge.
        for &(m, ref edge) in &handed {
            search.stats.candidates += if search.uses[m] >= 2 { 3 } else { 2 };
            if !ancestry.covers_all_wrong(m) {
                search.stats.skipped += 1;
                continue;
            }
            for (kind, what) in search.generic(m, edge.clone(), names.node(nodes, m), &op) {
                let rank = match kind {
                    SlipKind::MissingPath => 3,
                    SlipKind::Sign => 4,
                    _ => 5,
                };
                found.push(Found { slip: Slip::new(m, &op, kind, names.gradient(nodes, m), what), rank });
            }
        }
        // The op's own slips, one pass each.
        let position_grads: Vec<Option<Tensor>> = node
            .inputs
            .iter()
            .map(|&m| {
                let unique = node.inputs.iter().filter(|&&i| i == m).count() == 1;
                (unique && nodes[m].needs_grad).then(|| handed_to(m).clone())
            })
            .collect();
        let position_names: Vec<String> = node.inputs.iter().map(|&m| names.node(nodes, m)).collect();
        let out_name = names.node(nodes, n);
        let cx = SlipCx {
            nodes,
            inputs: &node.inputs,
            output: &node.value,
            upstream,
            grads: &position_grads,
            names: &position_names,
            out_name: &out_name,
        };
        for slip in node.op.slips(&cx) {
            search.stats.candidates += 1;
            let m = node.inputs[slip.input];
            if !ancestry.covers_all_wrong(m) || slip.grad.shape() != nodes[m].value.shape() {
                search.stats.skipped += 1;
                continue;
            }
            let delta = zip_with(&slip.grad, handed_to(m), |s, t| s - t);
            if search.reproduces(m, delta) {
                let rank = match slip.kind {
                    SlipKind::Transpose => 0,
                    SlipKind::DroppedTerm => 1,
                    _ => 2,
                };
                found.push(Found { slip: Slip::new(m, &op, slip.kind, names.gradient(nodes, m), slip.what), rank });
            }
        }
    }
    // Most specific first, then nearest the loss; one slip per (gradient, op, kind): an op's
    // own description over the generic one.
    found.sort_by(|a, b| a.rank.cmp(&b.rank).then(b.slip.at().cmp(&a.slip.at())));
    let mut slips: Vec<Slip> = Vec::new();
    for f in found {
        if !slips.iter().any(|s| s.at() == f.slip.at() && s.op() == f.slip.op() && s.kind() == f.slip.kind()) {
            slips.push(f.slip);
        }
    }
    (slips, search.stats)
}

/// The search's state: the hand values by node, which rules a pass must run, and the
/// buffers the passes reuse.
struct Search<'a> {
    nodes: &'a [Node],
    judged: &'a Judged,
    tolerance: Tolerance,
    /// Each node's index into `judged.nodes`, when it has hand values.
    hand_of: Vec<Option<usize>>,
    /// Whether some input of the node leads to a hand node (a pass must run its rule).
    feeds_hand: Vec<bool>,
    /// The lowest hand node: a pass ends there.
    lowest_hand: usize,
    /// How many nodes (with a gradient) use each node: more than one makes "a path left out" a
    /// slip.
    uses: Vec<usize>,
    /// A pass's gradient changes, by node id (all `None` between passes).
    delta: Vec<Option<Tensor>>,
    /// One rule's gradients, by node id (all `None` between rules).
    scratch: Vec<Option<Tensor>>,
    stats: SearchStats,
}

impl<'a> Search<'a> {
    fn new(nodes: &'a [Node], last: usize, judged: &'a Judged, tolerance: Tolerance) -> Search<'a> {
        let len = last + 1;
        let mut hand_of = vec![None; len];
        for (i, h) in judged.nodes.iter().enumerate() {
            hand_of[h.id] = Some(i);
        }
        let (mut reaches, mut feeds_hand, mut uses) = (vec![false; len], vec![false; len], vec![0; len]);
        for id in 0..len {
            let node = &nodes[id];
            feeds_hand[id] = node.inputs.iter().any(|&i| reaches[i]);
            reaches[id] = hand_of[id].is_some() || feeds_hand[id];
            let mut inputs: Vec<usize> = node.inputs.to_vec();
            inputs.dedup();
            if node.needs_grad {
                inputs.iter().for_each(|&i| uses[i] += 1);
            }
        }
        let lowest_hand = judged.nodes.first().map_or(0, |h| h.id);
        Search {
            nodes,
            judged,
            tolerance,
            hand_of,
            feeds_hand,
            lowest_hand,
            uses,
            delta: vec![None; len],
            scratch: vec![None; len],
            stats: SearchStats::default(),
        }
    }

    /// One partial pass: the backward of `seed` from node `m` down to the lowest hand node,
    /// with `judge(hand node, its change)` at every hand node on the way; stops as soon as
    /// `judge` says no. Returns whether every hand node passed.
    fn pass(&mut self, m: usize, seed: Tensor, mut judge: impl FnMut(&[Entry], Option<&Tensor>) -> bool) -> bool {
        self.stats.passes += 1;
        self.delta[m] = Some(seed);
        let mut agreed = true;
        for id in (self.lowest_hand..=m).rev() {
            let change = self.delta[id].take();
            if let Some(h) = self.hand_of[id]
                && !judge(&self.judged.nodes[h].entries, change.as_ref())
            {
                agreed = false;
                break;
            }
            if let Some(change) = change
                && self.feeds_hand[id]
            {
                run_rule(self.nodes, id, &change, &mut self.delta);
                self.stats.rules_run += 1;
            }
        }
        // Rules write below the lowest hand node too, and an early stop leaves changes behind.
        self.delta[..=m].iter_mut().for_each(|d| *d = None);
        agreed
    }

    /// Whether the fixed change `delta` at `m` reproduces every hand value.
    fn reproduces(&mut self, m: usize, delta: Tensor) -> bool {
        let tolerance = self.tolerance;
        self.pass(m, delta, |entries, change| {
            entries.iter().all(|e| tolerance.close(e.hand, e.truth + change.map_or(0.0, |d| d.data()[e.index])))
        })
    }

    /// The generic slips of the edge that hands `edge` to `m` that reproduce every hand value:
    /// `c` times the edge's gradient, for `c = -1` (the sign), `0` (the path left out, for a
    /// node used more than once) and a constant fitted to the hand values (snapped to a
    /// simple one: `4`, `1/4`, `sqrt(8)`, ...). One pass serves all three.
    fn generic(&mut self, m: usize, edge: Tensor, name: String, op: &str) -> Vec<(SlipKind, String)> {
        let tolerance = self.tolerance;
        let mut sign = true;
        let mut missing = self.uses[m] >= 2;
        let mut scale = Scale::Unfitted;
        let close_all = |entries: &[Entry], d: &[f64], c: f64| {
            entries.iter().zip(d).all(|(e, d)| tolerance.close(e.hand, e.truth + (c - 1.0) * d))
        };
        self.pass(m, edge, |entries, change| {
            let d: Vec<f64> = entries.iter().map(|e| change.map_or(0.0, |t| t.data()[e.index])).collect();
            sign &= close_all(entries, &d, -1.0);
            missing &= close_all(entries, &d, 0.0);
            scale = match std::mem::replace(&mut scale, Scale::Dead) {
                Scale::Unfitted if d.iter().any(|d| d.abs() > tolerance.atol) => {
                    let (num, den) = entries
                        .iter()
                        .zip(&d)
                        .fold((0.0, 0.0), |(num, den), (e, d)| (num + d * (e.hand - e.truth), den + d * d));
                    match Nice::snap(1.0 + num / den) {
                        Some(c) if close_all(entries, &d, c.value) => Scale::Fitted(c),
                        _ => Scale::Dead,
                    }
                }
                Scale::Unfitted if close_all(entries, &d, 1.0) => Scale::Unfitted,
                Scale::Fitted(c) if close_all(entries, &d, c.value) => Scale::Fitted(c),
                _ => Scale::Dead,
            };
            sign || missing || !matches!(scale, Scale::Dead)
        });
        let mut slips = Vec::new();
        if missing {
            let what = format!(
                "the use by {op} left out ({name} has {} uses, and its gradient sums all of them)",
                self.uses[m]
            );
            slips.push((SlipKind::MissingPath, what));
        }
        if sign {
            slips.push((SlipKind::Sign, "the sign flipped".to_string()));
        }
        if let Scale::Fitted(c) = scale {
            slips.push((SlipKind::Scale(c.value), format!("{} times the right gradient{}", c.label, c.hint())));
        }
        slips
    }
}

/// The constant factor of a scale slip, while a pass fits it.
enum Scale {
    /// No hand value has told it yet.
    Unfitted,
    Fitted(Nice),
    Dead,
}

/// A constant a learner's slip plausibly multiplies by: `±n`, `±1/n`, `±sqrt(n)`,
/// `±1/sqrt(n)` for `2 <= n <= 4096` (a batch size, a mean's count, `sqrt(d_k)`, a stray 2).
#[derive(Clone, Debug)]
struct Nice {
    value: f64,
    label: String,
}

impl Nice {
    const LARGEST: f64 = 4096.0;

    /// The simple constant within 0.1% of `c`, if any (never 1, -1 or 0: those are no slip, a
    /// sign, a path left out).
    fn snap(c: f64) -> Option<Nice> {
        if !c.is_finite() || c == 0.0 {
            return None;
        }
        let sign = if c < 0.0 { "-" } else { "" };
        let a = c.abs();
        let mut candidates = Vec::new();
        let n = a.round();
        if (2.0..=Self::LARGEST).contains(&n) {
            candidates.push((n, format!("{sign}{n}")));
        }
        let n = (1.0 / a).round();
        if (2.0..=Self::LARGEST).contains(&n) {
            candidates.push((1.0 / n, format!("{sign}1/{n}")));
        }
        let n = (a * a).round();
        if (2.0..=Self::LARGEST).contains(&n) && n.sqrt().fract() != 0.0 {
            candidates.push((n.sqrt(), format!("{sign}sqrt({n})")));
        }
        let n = (1.0 / (a * a)).round();
        if (2.0..=Self::LARGEST).contains(&n) && n.sqrt().fract() != 0.0 {
            candidates.push((1.0 / n.sqrt(), format!("{sign}1/sqrt({n})")));
        }
        candidates
            .into_iter()
            .filter(|(v, _)| (a - v).abs() <= 1e-3 * v)
            .min_by(|x, y| (a - x.0).abs().total_cmp(&(a - y.0).abs()))
            .map(|(v, label)| Nice { value: v.copysign(c), label })
    }

    /// What the factor usually means.
    fn hint(&self) -> String {
        let (negative, form) = match self.label.strip_prefix('-') {
            Some(form) => (true, form),
            None => (false, self.label.as_str()),
        };
        let sign = if negative { ", and the sign flipped" } else { "" };
        if form.contains("sqrt") {
            if negative { " (and the sign flipped)".to_string() } else { String::new() }
        } else if let Some(n) = form.strip_prefix("1/") {
            format!(" (a mean taken for a sum, or a stray 1/{n}{sign})")
        } else {
            format!(" (a 1/{form} forgotten, or a sum taken for a mean{sign})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Nice;

    #[test]
    fn constants_snap_to_simple_ones() {
        assert_eq!(Nice::snap(4.0000012).unwrap().label, "4");
        assert_eq!(Nice::snap(-0.25).unwrap().label, "-1/4");
        assert_eq!(Nice::snap(8f64.sqrt() * 1.00001).unwrap().label, "sqrt(8)");
        assert_eq!(Nice::snap(1.0 / 8f64.sqrt()).unwrap().label, "1/sqrt(8)");
        assert!(Nice::snap(1.0).is_none() && Nice::snap(-1.0).is_none() && Nice::snap(1.37).is_none());
    }
}
