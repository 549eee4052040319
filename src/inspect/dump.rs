//! `tape.dump()`: the tape as a table, one row per node, with its memory accounting.

use std::fmt;
use std::time::Duration;

use crate::autograd::{Grads, Node, Tape};
use crate::inspect::memory::NodeMemory;
use crate::inspect::profile::{micros, share};
use crate::tensor::Tensor;

/// A printable table of a tape: `print!("{}", tape.dump())`. Made by [`Tape::dump`]; add
/// columns with [`Dump::values`], [`Dump::grads`] and [`Dump::locations`].
///
/// Columns: the node's id, its op (`var` / `constant` for leaves), the ids of its inputs, its
/// shape, the bytes of its value, what its backward rule reads besides the upstream gradient
/// (`out` = its own value, `#i` = the value of node `i`, and named extras its op saved), and
/// the bytes *kept alive for backward* charged to it (its value if any rule reads it, plus its
/// extras; see the [module docs](crate::inspect) for the precise definition). A legend and the
/// totals follow the table. Nodes recorded by [`Var::backward_graph`](crate::Var::backward_graph)
/// (a backward pass recorded to be differentiated again) come under a line
/// `— recorded backward —`, and the nodes after them under `— forward —` again.
///
/// ```
/// use tapegrad::{Tape, Tensor};
/// let tape = Tape::new();
/// let x = tape.var(Tensor::new(vec![1.0, 2.0], &[2])?);
/// let y = (x * x).sum();
/// let grads = y.backward();
/// let text = tape.dump().values().grads(&grads).to_string();
/// assert!(text.lines().nth(3).unwrap().starts_with("   1  mul"));
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Dump<'a> {
    tape: &'a Tape,
    values: bool,
    grads: Option<&'a Grads>,
    locations: bool,
    profile: bool,
}

impl Tape {
    /// The tape as a table, one row per node: see [`Dump`]. `Display` for `Tape` prints the
    /// same table.
    pub fn dump(&self) -> Dump<'_> {
        Dump { tape: self, values: false, grads: None, locations: false, profile: false }
    }
}

impl fmt::Display for Tape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.dump().fmt(f)
    }
}

impl<'a> Dump<'a> {
    /// Adds a column summarising each value: the number itself for one element, else
    /// `min..max`.
    pub fn values(mut self) -> Dump<'a> {
        self.values = true;
        self
    }

    /// Adds a column with the L2 norm of each node's gradient from `grads` (`-` where none).
    ///
    /// Panics when `grads` were computed on another tape.
    #[track_caller]
    pub fn grads(mut self, grads: &'a Grads) -> Dump<'a> {
        grads.check_tape(self.tape, "Dump::grads");
        self.grads = Some(grads);
        self
    }

    /// Adds each node's forward and backward time and its share of the step, and the totals
    /// by kind of op under the table (a tape made with
    /// [`Tape::with_profiling`](crate::Tape::with_profiling); no effect on another tape).
    pub fn profile(mut self) -> Dump<'a> {
        self.profile = true;
        self
    }

    /// Adds a column with the line of user code that recorded each node.
    pub fn locations(mut self) -> Dump<'a> {
        self.locations = true;
        self
    }
}

/// The legend printed under every dump.
const LEGEND: &str = "\
legend: backward reads = what the node's backward rule reads besides the upstream gradient
        (out: its own value, #i: node i's value, and named extras its op saved).
        kept B = bytes kept alive for backward, charged to the node that owns them: its value
        if any rule reads it, plus its extras. Each buffer counts once. Rules of nodes that need
        no gradient never run, so they read nothing.
";

/// A number in at most ~10 characters: fixed point where that is readable, else scientific.
pub(crate) fn short(x: f64) -> String {
    if x == 0.0 || (1e-3..1e5).contains(&x.abs()) || !x.is_finite() { format!("{x:.4}") } else { format!("{x:.3e}") }
}

/// Bytes for people: exact below 10 KiB, else KiB / MiB with one decimal.
pub(crate) fn human_bytes(bytes: usize) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 10 * 1024 {
        format!("{bytes} B")
    } else if b < 10.0 * KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{:.1} MiB", b / (KIB * KIB))
    }
}

/// `min..max` of a tensor (or its one value).
fn value_summary(t: &Tensor) -> String {
    match t.data() {
        [] => "(empty)".into(),
        [v] => short(*v),
        data => {
            let min = data.iter().copied().fold(f64::INFINITY, f64::min);
            let max = data.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let nan = if data.iter().any(|v| v.is_nan()) { " NaN!" } else { "" };
            format!("{}..{}{nan}", short(min), short(max))
        }
    }
}

/// What a node's backward rule reads: `out`, `#i`, extras' names; `-` for nothing, and
/// `(no grad)` when the rule never runs.
pub(crate) fn reads(row: &NodeMemory) -> String {
    if !row.needs_grad {
        return "(no grad)".into();
    }
    let mut parts: Vec<String> = Vec::new();
    if row.reads_output {
        parts.push("out".into());
    }
    parts.extend(row.reads_inputs.iter().map(|i| format!("#{i}")));
    parts.extend(row.extras.iter().map(|(name, _)| (*name).to_string()));
    if parts.is_empty() { "-".into() } else { parts.join(", ") }
}

/// The input ids, `-` for a leaf.
fn inputs(row: &NodeMemory) -> String {
    if row.inputs.is_empty() {
        "-".into()
    } else {
        row.inputs.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Dump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.tape.memory();
        let nodes = self.tape.nodes.borrow();
        // (header, right-aligned, cells)
        let mut columns: Vec<(&str, bool, Vec<String>)> = vec![
            ("id", true, report.nodes.iter().map(|r| r.id.to_string()).collect()),
            ("op", false, report.nodes.iter().map(|r| r.op.clone()).collect()),
            ("inputs", false, report.nodes.iter().map(inputs).collect()),
            ("shape", false, report.nodes.iter().map(|r| format!("{:?}", r.shape)).collect()),
            ("value B", true, report.nodes.iter().map(|r| r.value_bytes.to_string()).collect()),
            ("backward reads", false, report.nodes.iter().map(reads).collect()),
            ("kept B", true, report.nodes.iter().map(|r| r.kept_bytes().to_string()).collect()),
        ];
        if self.values {
            let summary = |n: &Node| if n.released { "(released)".into() } else { value_summary(&n.value) };
            columns.push(("value", false, nodes.iter().map(summary).collect()));
        }
        if let Some(grads) = self.grads {
            let norms = (0..nodes.len()).map(|id| grads.by_id(id).map_or("-".into(), |g| short(g.norm())));
            columns.push(("|grad|", true, norms.collect()));
        }
        let profile = if self.profile { self.tape.profile() } else { None };
        if let Some(profile) = &profile {
            let total = profile.total();
            let time = |t: Option<Duration>| t.map_or("-".into(), micros);
            columns.push(("fwd µs", true, profile.nodes.iter().map(|n| micros(n.forward)).collect()));
            columns.push(("bwd µs", true, profile.nodes.iter().map(|n| time(n.backward)).collect()));
            let shares = profile.nodes.iter().map(|n| share(n.forward + n.backward.unwrap_or_default(), total));
            columns.push(("share", true, shares.collect()));
        }
        if self.locations {
            columns.push(("recorded at", false, report.nodes.iter().map(|r| r.location.to_string()).collect()));
        }
        let widths: Vec<usize> = columns
            .iter()
            .map(|(head, _, cells)| cells.iter().map(|c| c.chars().count()).chain([head.len()]).max().unwrap_or(0))
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, cell: &dyn Fn(usize) -> String| -> fmt::Result {
            let mut text = String::new();
            for (c, ((_, right, _), &w)) in columns.iter().zip(&widths).enumerate() {
                let s = cell(c);
                let cell = if *right { format!("{s:>w$}") } else { format!("{s:<w$}") };
                text.push_str("  ");
                text.push_str(&cell);
            }
            writeln!(f, "{}", text.trim_end())
        };
        writeln!(f, "tape: {} nodes", report.nodes.len())?;
        line(f, &|c| columns[c].0.to_string())?;
        let mut in_backward = false;
        for row in 0..report.nodes.len() {
            if self.tape.is_recorded_backward(row) != in_backward {
                in_backward = !in_backward;
                writeln!(f, "  {}", if in_backward { "— recorded backward —" } else { "— forward —" })?;
            }
            line(f, &|c| columns[c].2[row].clone())?;
        }
        let vars = report.nodes.iter().filter(|r| r.op == "var").count();
        let constants = report.nodes.iter().filter(|r| r.op == "constant").count();
        writeln!(
            f,
            "totals: {} nodes ({vars} var, {constants} constant, {} ops); values {}; kept for backward {} \
             = {} values {} + extras {}",
            report.nodes.len(),
            report.nodes.len() - vars - constants,
            human_bytes(report.value_bytes()),
            human_bytes(report.kept_bytes()),
            report.kept_values(),
            human_bytes(report.kept_value_bytes()),
            human_bytes(report.extra_bytes()),
        )?;
        if let Some(profile) = &profile {
            write!(f, "{profile}")?;
        }
        f.write_str(LEGEND)
    }
}
