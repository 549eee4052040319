//! `tape.to_dot()`: the tape as a Graphviz graph.

use std::fmt::Write;

use crate::autograd::{Grads, Tape};
use crate::inspect::dump::{human_bytes, reads, short};

impl Tape {
    /// The tape as a Graphviz DOT graph: ops are boxes, leaves ellipses (vars filled blue,
    /// constants dashed grey), and every edge carries the shape of the tensor flowing along it.
    /// Nodes that need no gradient are drawn grey and dashed. An op's box also says what its
    /// backward keeps (`keeps: out, #3, lse 32 B`, as in [`Tape::dump`]). Values no node
    /// reads (the output) get an edge to a small point. Nodes of a recorded backward pass
    /// ([`Var::backward_graph`](crate::Var::backward_graph)) are drawn orange, inside a dashed
    /// cluster labelled "recorded backward".
    ///
    /// Render with `dot -Tsvg tape.dot -o tape.svg` (install Graphviz with
    /// `apt-get install graphviz` or `brew install graphviz`).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::zeros(&[2, 3]));
    /// let loss = x.cross_entropy(&[0, 2]);
    /// let dot = tape.to_dot();
    /// assert!(dot.starts_with("digraph tape {"));
    /// assert!(dot.contains("n0 -> n1 [label=\"[2, 3]\"];"));
    /// # let _ = loss;
    /// ```
    pub fn to_dot(&self) -> String {
        self.dot(None)
    }

    /// [`Tape::to_dot`] with gradient norms: every edge also shows `|g|`, the L2 norm of the
    /// gradient of the tensor on it (which flows against the arrow).
    ///
    /// Panics when `grads` were computed on another tape.
    #[track_caller]
    pub fn to_dot_with(&self, grads: &Grads) -> String {
        grads.check_tape(self, "Tape::to_dot_with");
        self.dot(Some(grads))
    }

    fn dot(&self, grads: Option<&Grads>) -> String {
        let report = self.memory();
        let mut consumers = vec![0usize; report.nodes.len()];
        for row in &report.nodes {
            for &i in &row.inputs {
                consumers[i] += 1;
            }
        }
        let edge_label = |id: usize| {
            let shape = format!("{:?}", report.nodes[id].shape);
            match grads.map(|g| g.by_id(id)) {
                Some(Some(g)) => format!("{shape}\\n|g| {}", short(g.norm())),
                _ => shape,
            }
        };
        let mut out = String::new();
        out.push_str("digraph tape {\n");
        out.push_str("  node [fontname=\"Helvetica\", fontsize=10];\n");
        out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
        let recorded: Vec<bool> = (0..report.nodes.len()).map(|id| self.is_recorded_backward(id)).collect();
        let mut in_backward = false;
        for row in &report.nodes {
            let id = row.id;
            if recorded[id] != in_backward {
                in_backward = recorded[id];
                if in_backward {
                    let _ = writeln!(
                        out,
                        "  subgraph cluster_backward{id} {{\n  label=\"recorded backward\"; style=dashed; \
                         color=\"{BACKWARD}\"; fontcolor=\"{BACKWARD}\";"
                    );
                } else {
                    out.push_str("  }\n");
                }
            }
            let style = match (row.inputs.is_empty(), row.needs_grad) {
                (true, true) => "shape=ellipse, style=filled, fillcolor=\"#cfe2ff\"",
                (true, false) => "shape=ellipse, style=dashed, color=gray50, fontcolor=gray30",
                (false, true) => "shape=box",
                (false, false) => "shape=box, style=dashed, color=gray50, fontcolor=gray30",
            };
            let mut label = format!("#{id} {}", row.op);
            if !row.inputs.is_empty() && row.needs_grad {
                let extras = row.extra_bytes();
                let keeps = match reads(row) {
                    none if none == "-" => "nothing".to_string(),
                    keeps => keeps,
                };
                if extras > 0 {
                    let _ = write!(label, "\\nkeeps: {keeps} ({} extras)", human_bytes(extras));
                } else {
                    let _ = write!(label, "\\nkeeps: {keeps}");
                }
            }
            let mark =
                if in_backward { format!(", color=\"{BACKWARD}\", fontcolor=\"{BACKWARD}\"") } else { String::new() };
            let _ = writeln!(out, "  n{id} [label=\"{label}\", {style}{mark}];");
            for &input in &row.inputs {
                let _ = writeln!(out, "  n{input} -> n{id} [label=\"{}\"];", edge_label(input));
            }
            if consumers[id] == 0 && !row.inputs.is_empty() {
                let _ = writeln!(out, "  out{id} [shape=point];");
                let _ = writeln!(out, "  n{id} -> out{id} [label=\"{}\"];", edge_label(id));
            }
        }
        if in_backward {
            out.push_str("  }\n");
        }
        out.push_str("}\n");
        out
    }
}

/// The colour of recorded-backward nodes and their cluster.
const BACKWARD: &str = "#d9480f";
