//! The report: a table of the hand gradients and their verdicts, where the derivation first
//! went wrong, and each explanation as one sentence in the learner's terms.

use std::fmt;

use super::judge::Row;
use super::locate::Located;
use crate::autograd::SlipKind;

/// One slip of a hand derivation: at which gradient it first shows, in which op's backward
/// step, and what was done instead of what. `Display` is one line a learner understands:
/// `dL/dconcat: dL/dmh W_O^T instead of dL/dmh W_O: W_O^T left untransposed in matmul's
/// backward`.
#[derive(Clone, Debug, PartialEq)]
pub struct Slip {
    at: usize,
    op: String,
    kind: SlipKind,
    gradient: String,
    what: String,
}

impl Slip {
    pub(crate) fn new(at: usize, op: &str, kind: SlipKind, gradient: String, what: String) -> Slip {
        Slip { at, op: op.to_string(), kind, gradient, what }
    }

    /// The node id ([`Var::id`](crate::Var::id)) whose gradient the slip makes wrong first
    /// (nearest the loss): the input whose gradient the slipped backward step hands on.
    pub fn at(&self) -> usize {
        self.at
    }

    /// The op whose backward step holds the slip, by its bare name (`"matmul"`, `"add"`,
    /// `"softmax"`, `"cross_entropy"`, `"tanh"`, ...).
    pub fn op(&self) -> &str {
        &self.op
    }

    /// What kind of slip it is.
    pub fn kind(&self) -> &SlipKind {
        &self.kind
    }

    /// The name of the gradient it first makes wrong: `dL/dconcat` (`op#id` for a node
    /// without a name).
    pub fn gradient(&self) -> &str {
        &self.gradient
    }
}

impl fmt::Display for Slip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} in {}'s backward", self.gradient, self.what, self.op)
    }
}

/// What a search cost: candidates, and the partial backward passes run for them, against
/// the rules one full backward pass runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// The nodes whose backward step could hold a slip (ops on a path to the loss).
    pub nodes: usize,
    /// The (node, slip) candidates: the generic slips of every edge and the ops' own.
    pub candidates: usize,
    /// Candidates dismissed without a pass: they cannot reach every wrong hand value.
    pub skipped: usize,
    /// Partial backward passes run (one per edge for the generic slips together, one per
    /// op-declared slip), never more than `candidates`.
    pub passes: usize,
    /// Backward rules those passes ran, in all.
    pub rules_run: usize,
    /// Backward rules one full backward pass runs.
    pub rules_per_backward: usize,
}

impl fmt::Display for SearchStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} candidate slips at {} nodes ({} dismissed without a pass); {} partial backward passes running {} rules, \
             {:.2} full backward passes' worth ({} rules each)",
            self.candidates,
            self.nodes,
            self.skipped,
            self.passes,
            self.rules_run,
            self.rules_run as f64 / self.rules_per_backward.max(1) as f64,
            self.rules_per_backward
        )
    }
}

/// What [`Derivation::check`](crate::Derivation::check) found. `Display` is a table of the
/// hand gradients (name, max |hand - true|, right/wrong), where the derivation first went
/// wrong, then each explanation as one sentence.
#[derive(Clone, Debug)]
pub struct DerivationReport {
    rows: Vec<Row>,
    located: Option<Located>,
    explanations: Vec<Slip>,
    stats: SearchStats,
}

impl DerivationReport {
    pub(crate) fn new(
        rows: Vec<Row>,
        located: Option<Located>,
        explanations: Vec<Slip>,
        stats: SearchStats,
    ) -> DerivationReport {
        DerivationReport { rows, located, explanations, stats }
    }

    /// Whether every hand gradient is right.
    pub fn all_correct(&self) -> bool {
        self.rows.iter().all(|r| r.right)
    }

    /// The names of the hand gradients that are wrong, in the order given.
    pub fn wrong(&self) -> Vec<String> {
        self.rows.iter().filter(|r| !r.right).map(|r| r.name.clone()).collect()
    }

    /// The single slips that reproduce EVERY hand value given, most specific first (an op's
    /// own slips, then a path left out, a sign, a constant factor; nearest the loss first
    /// among equals); empty when all are right or no single slip does.
    pub fn explanations(&self) -> &[Slip] {
        &self.explanations
    }

    /// The name of the gradient where the derivation first went wrong: the wrong hand
    /// gradient nearest the loss with nothing wrong between it and the loss.
    pub fn first_wrong(&self) -> Option<String> {
        self.located.as_ref().map(|l| l.gradient.clone())
    }

    /// What the search for explanations cost.
    pub fn search_stats(&self) -> SearchStats {
        self.stats
    }

    /// The largest `|hand - true|` of the hand gradient named `name`, if there is one.
    pub fn max_diff(&self, name: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.name == name).map(|r| r.max_diff)
    }
}

/// `0`, or three significant digits.
fn diff(d: f64) -> String {
    if d == 0.0 { "0".into() } else { format!("{d:.3e}") }
}

impl fmt::Display for DerivationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A node's name as a gradient's (`x` as `dL/dx`); a gradient's name as given.
        let label = |r: &Row| {
            let name = if r.name.starts_with('d') { r.name.clone() } else { format!("dL/d{}", r.name) };
            if r.whole { name } else { format!("{name} ({} entries)", r.values) }
        };
        let width = self.rows.iter().map(|r| label(r).len()).max().unwrap_or(0).max("hand gradient".len());
        writeln!(f, "{:width$}  {:>17}  verdict", "hand gradient", "max |hand - true|")?;
        for r in &self.rows {
            let verdict = if r.right { "right" } else { "WRONG" };
            writeln!(f, "{:width$}  {:>17}  {verdict}", label(r), diff(r.max_diff))?;
        }
        if self.all_correct() {
            return writeln!(f, "\nEvery hand gradient is right.");
        }
        if let Some(l) = &self.located {
            write!(f, "\nThe derivation first goes wrong at {}", l.gradient)?;
            let ops: Vec<String> = l.consumers.iter().map(|c| format!("{} (from {})", c.op, c.gradient)).collect();
            if l.pinned() {
                writeln!(
                    f,
                    ": the gradients it is derived from are right, so the slip is in the backward step of {}.",
                    ops.join(" or ")
                )?;
            } else {
                writeln!(
                    f,
                    ", the wrong gradient nearest the loss. Not every gradient it is derived from was given \
                     right ({}), so the slip lies between it and the loss.",
                    l.consumers
                        .iter()
                        .map(|c| format!(
                            "{}: {}",
                            c.gradient,
                            match c.right {
                                Some(true) => "right",
                                Some(false) => "wrong",
                                None => "not given",
                            }
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
            }
        }
        if self.explanations.is_empty() {
            return writeln!(
                f,
                "\nNo single slip reproduces every hand value given: look for two slips, or one of a kind not searched."
            );
        }
        writeln!(f, "\nSingle slips that reproduce every hand value given, most specific first:")?;
        for (i, slip) in self.explanations.iter().enumerate() {
            writeln!(f, "{:>3}. {slip}.", i + 1)?;
        }
        Ok(())
    }
}
