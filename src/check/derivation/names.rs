//! The learner's names for nodes: those given with the hand gradients and
//! [`Derivation::name`](super::Derivation::name), `X^T` for a transpose of a named `X`, and
//! `op#id` for the rest.

use std::collections::HashMap;

use super::judge::Hand;
use crate::autograd::slip::transposed_name;
use crate::autograd::{Node, Rule};
use crate::ops::Op;

pub(crate) struct Names {
    given: HashMap<usize, String>,
}

/// The node's own name in a hand gradient's name: `W` for `dL/dW` or `dW`, `x` for `x`.
fn node_part(name: &str) -> &str {
    match name.strip_prefix("dL/d") {
        Some(node) => node,
        None if name.len() >= 2 && name.starts_with('d') => &name[1..],
        None => name,
    }
}

impl Names {
    pub(crate) fn new(nodes: &[Node], hands: &[Hand], named: &[(usize, String)]) -> Names {
        let mut given = HashMap::new();
        // Explicit names first; a hand gradient's name where none was given.
        for (id, name) in named {
            given.entry(*id).or_insert_with(|| node_part(name).to_string());
        }
        for hand in hands {
            given.entry(hand.node).or_insert_with(|| node_part(&hand.name).to_string());
        }
        // A transpose of a named node is named after it.
        for (id, node) in nodes.iter().enumerate() {
            if let (Op::Transpose(_), Some(&input)) = (&node.op, node.inputs.first())
                && !given.contains_key(&id)
                && let Some(inner) = given.get(&input)
            {
                let name = transposed_name(inner);
                given.insert(id, name);
            }
        }
        Names { given }
    }

    /// The node's name: given, or `op#id` (`matmul#12`, `var#3`).
    pub(crate) fn node(&self, nodes: &[Node], id: usize) -> String {
        match self.given.get(&id) {
            Some(name) => name.clone(),
            None => format!("{}#{id}", bare_op(&nodes[id].label())),
        }
    }

    /// The name of the node's gradient: `dL/dW_O`.
    pub(crate) fn gradient(&self, nodes: &[Node], id: usize) -> String {
        format!("dL/d{}", self.node(nodes, id))
    }
}

/// An op's bare name, without its parameters: `softmax` for `softmax(1)`.
pub(crate) fn bare_op(label: &str) -> String {
    label.split('(').next().unwrap_or(label).to_string()
}

/// The bare name of node `id`'s op.
pub(crate) fn op_of(nodes: &[Node], id: usize) -> String {
    bare_op(&nodes[id].op.name())
}
