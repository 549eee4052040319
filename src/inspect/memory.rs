//! What each node keeps alive for backward, and the tape's memory accounting.
//!
//! The definition of "kept alive for backward" is in the [module docs](crate::inspect).
//! Each op declares what its rule reads, once, in its home (`Rule::saved`); the dump, the DOT
//! picture and [`MemoryReport`] all derive from that declaration. The tests at the bottom check it
//! against the rules themselves: they overwrite every value that is *not* kept with NaN and
//! check that backward still gives bit-identical gradients.

use std::mem::size_of;
use std::panic::Location;

use crate::autograd::rule::declared_by;
use crate::autograd::{Node, Rule, Saved, Tape};

/// What node `id`'s rule declares it reads ([`Rule::saved`]), with inputs as node ids:
/// nothing when the node needs no gradient (its rule never runs).
pub(crate) fn saved_by(nodes: &[Node], id: usize) -> Saved {
    let mut saved = declared_by(nodes, id, |op, wants| op.saved(wants));
    saved.inputs.sort_unstable();
    saved.inputs.dedup();
    saved
}

/// One node's row of a [`MemoryReport`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct NodeMemory {
    /// The node's id on its tape.
    pub id: usize,
    /// The op as users write it (`"var"` and `"constant"` for leaves).
    pub op: String,
    /// The ids of the nodes it reads in the forward pass.
    pub inputs: Vec<usize>,
    /// The shape of its value.
    pub shape: Vec<usize>,
    /// Whether a gradient flows through it (some input is, transitively, a `Tape::var`).
    pub needs_grad: bool,
    /// Bytes of its forward value (`8 * elements`). A `reshape` (`squeeze`, `unsqueeze`) of
    /// a large value shares its input's buffer, and a `transpose` or `narrow` of one is a view
    /// of it, so totals over nodes count such a buffer once per node that holds it: an upper
    /// bound on the memory held.
    pub value_bytes: usize,
    /// The nodes whose backward rules read this node's value (itself included when its rule
    /// reads its own output). Non-empty means the value is kept alive for backward.
    pub value_read_by: Vec<usize>,
    /// Whether its own backward rule reads its own output.
    pub reads_output: bool,
    /// The inputs whose values its own backward rule reads.
    pub reads_inputs: Vec<usize>,
    /// Data its op saved for backward beyond values, `(name, bytes)`.
    pub extras: Vec<(&'static str, usize)>,
    /// The line of user code that recorded it.
    pub location: &'static Location<'static>,
}

impl NodeMemory {
    /// Whether some backward rule reads this node's value.
    pub fn value_kept(&self) -> bool {
        !self.value_read_by.is_empty()
    }

    /// Bytes of the extras its op saved.
    pub fn extra_bytes(&self) -> usize {
        self.extras.iter().map(|&(_, bytes)| bytes).sum()
    }

    /// Bytes charged to this node: its value if kept, plus its extras.
    pub fn kept_bytes(&self) -> usize {
        if self.value_kept() { self.value_bytes } else { 0 }.saturating_add(self.extra_bytes())
    }
}

/// The memory accounting of a whole tape: one [`NodeMemory`] per node, and totals. See the
/// [module docs](crate::inspect) for what "kept alive for backward" means.
///
/// ```
/// use tapegrad::{Tape, Tensor};
/// let tape = Tape::new();
/// let logits = tape.var(Tensor::zeros(&[4, 6]));
/// let _loss = logits.softmax(1).log().nll_loss(&[3, 4, 5, 2]);
/// let m = tape.memory();
/// // softmax's rule reads its output P, log's rule reads its input P: one buffer, counted once.
/// // log's output is not read by anyone, nor are the logits.
/// assert_eq!(m.kept_values(), 1);
/// assert_eq!(m.kept_value_bytes(), 4 * 6 * 8);
/// assert_eq!(m.extra_bytes(), 4 * 8); // nll_loss's targets
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryReport {
    /// One row per node, in tape order.
    pub nodes: Vec<NodeMemory>,
}

impl MemoryReport {
    /// Accounts for every node of `tape`.
    pub fn of(tape: &Tape) -> MemoryReport {
        let nodes = tape.nodes.borrow();
        let saved: Vec<Saved> = (0..nodes.len()).map(|id| saved_by(&nodes, id)).collect();
        let mut read_by: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for (id, s) in saved.iter().enumerate() {
            s.values(id).for_each(|j| read_by[j].push(id));
        }
        let rows = nodes
            .iter()
            .zip(saved)
            .zip(read_by)
            .enumerate()
            .map(|(id, ((node, s), mut value_read_by))| {
                value_read_by.sort_unstable();
                NodeMemory {
                    id,
                    op: node.label(),
                    inputs: node.inputs.to_vec(),
                    shape: node.value.shape().to_vec(),
                    needs_grad: node.needs_grad,
                    value_bytes: node.value.numel() * size_of::<f64>(),
                    value_read_by,
                    reads_output: s.output,
                    reads_inputs: s.inputs.to_vec(),
                    extras: s.extras.to_vec(),
                    location: node.location,
                }
            })
            .collect();
        MemoryReport { nodes: rows }
    }

    /// Bytes of all forward values on the tape (what the tape holds until it is dropped).
    pub fn value_bytes(&self) -> usize {
        self.nodes.iter().map(|n| n.value_bytes).sum()
    }

    /// How many node values are kept alive for backward.
    pub fn kept_values(&self) -> usize {
        self.nodes.iter().filter(|n| n.value_kept()).count()
    }

    /// Bytes of the node values kept alive for backward, each counted once.
    pub fn kept_value_bytes(&self) -> usize {
        self.nodes.iter().filter(|n| n.value_kept()).map(|n| n.value_bytes).sum()
    }

    /// Bytes of the extras saved for backward (targets, log-sum-exp, arg-max, ...).
    pub fn extra_bytes(&self) -> usize {
        self.nodes.iter().map(NodeMemory::extra_bytes).sum()
    }

    /// All bytes kept alive for backward: kept values plus extras.
    pub fn kept_bytes(&self) -> usize {
        self.kept_value_bytes() + self.extra_bytes()
    }
}

impl Tape {
    /// The memory accounting of this tape: for every node, its value's bytes and what its
    /// backward keeps alive (see [`MemoryReport`]).
    pub fn memory(&self) -> MemoryReport {
        MemoryReport::of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Var;
    use crate::tensor::Tensor;
    use rand::SeedableRng;

    /// Builds a graph with `build`, runs backward, then overwrites with NaN every value that
    /// `Rule::saved` says is not kept and runs backward again: the gradients of every node must
    /// be bit-identical. This is what keeps the accounting honest about the rules.
    fn check_unkept_values_are_unread(build: impl for<'t> Fn(&'t Tape) -> Var<'t>) {
        let tape = Tape::new();
        let out = build(&tape);
        let before = out.backward();
        let report = tape.memory();
        {
            let mut nodes = tape.nodes.borrow_mut();
            for row in report.nodes.iter().filter(|row| !row.value_kept()) {
                if row.id != out.id() {
                    nodes[row.id].value.data_mut().iter_mut().for_each(|v| *v = f64::NAN);
                }
            }
        }
        let after = out.backward();
        for id in 0..tape.len() {
            let (b, a) = (before.by_id(id), after.by_id(id));
            let same = match (b, a) {
                (Some(b), Some(a)) => b.data().iter().zip(a.data()).all(|(x, y)| x.to_bits() == y.to_bits()),
                (None, None) => true,
                _ => false,
            };
            assert!(same, "node {id} ({}): gradient changed after poisoning unkept values", report.nodes[id].op);
        }
    }

    fn t(shape: &[usize], seed: f64) -> Tensor {
        Tensor::from_fn(shape, |ix| {
            let k = ix.iter().fold(seed, |acc, &i| acc * 1.7 + i as f64);
            0.5 + (k * 0.37).sin().abs()
        })
    }

    #[test]
    fn unary_rules_read_only_what_saved_says() {
        // Each function gets its own input `x + 0.0`, which only it reads: poisoning shows
        // whether its rule reads that input (or its own output) when `saved` says it does not.
        check_unkept_values_are_unread(|tape| {
            let x = tape.var(t(&[2, 3], 1.0));
            let fresh = || x + 0.0;
            let ys = [
                -fresh(),
                fresh() * 2.0,
                fresh() / 3.0,
                2.0 - fresh(),
                3.0 / fresh(),
                fresh().powf(1.5),
                fresh().exp(),
                fresh().log(),
                fresh().sqrt(),
                fresh().tanh(),
                fresh().relu(),
                fresh().sigmoid(),
                fresh().gelu(),
                fresh().abs(),
                fresh().clamp(0.6, 1.2),
                fresh().log1p(),
                fresh().expm1(),
                fresh().sin(),
                fresh().cos(),
                fresh().softplus(),
                fresh().silu(),
                fresh().leaky_relu(0.1),
                fresh().elu(0.7),
            ];
            ys.iter().fold(x.sum(), |acc, &y| acc + y.sum())
        });
    }

    #[test]
    fn binary_and_matmul_rules_read_only_what_saved_says() {
        check_unkept_values_are_unread(|tape| {
            let a = tape.var(t(&[2, 3], 1.0));
            let b = tape.var(t(&[3], 2.0));
            let c = tape.constant(t(&[2, 3], 3.0));
            let w = tape.var(t(&[3, 4], 4.0));
            let y = (a + b) * c - a / b + c / b;
            let z = c.matmul(w) + y.matmul(w) * c.matmul(w);
            (z * a.sum()).transpose(0, 1).reshape(&[8]).sum()
        });
    }

    #[test]
    fn linear_and_addmm_read_only_what_saved_says() {
        check_unkept_values_are_unread(|tape| {
            let x = tape.var(t(&[2, 3, 4], 1.0));
            let w = tape.var(t(&[5, 4], 2.0));
            let b = tape.var(t(&[5], 3.0));
            let c = tape.constant(t(&[6, 4], 4.0));
            let y = x.linear(w, Some(b)).tanh().reshape(&[6, 5]);
            let z = b.addmm(c, w.transpose(0, 1)) * y + c.linear(w, None);
            z.sum()
        });
    }

    #[test]
    fn reductions_softmax_and_losses_read_only_what_saved_says() {
        check_unkept_values_are_unread(|tape| {
            let x = tape.var(t(&[3, 4], 1.0));
            let m = x.max_axis(1, true);
            let s = (x - m).softmax(1).log().nll_loss(&[0, 1, 3]);
            let l = x.log_softmax(1).nll_loss(&[2, 2, 0]);
            let ce = (x.sum_axis(0, true) + x.mean_axis(1, true)).cross_entropy(&[1, 0, 3]);
            s + l * ce + x.mean() * x.sum()
        });
    }

    #[test]
    fn transformer_ops_read_only_what_saved_says() {
        check_unkept_values_are_unread(|tape| {
            let table = tape.var(t(&[5, 4], 1.0));
            let gamma = tape.var(t(&[4], 2.0));
            let beta = tape.var(t(&[4], 3.0));
            let x = table.embedding(&[1, 3, 3]);
            let y = x.layer_norm(gamma, beta, 1e-5);
            let z = y.matmul(y.transpose(0, 1)).masked_fill(&crate::causal_mask(3), f64::NEG_INFINITY).softmax(1);
            let c = Var::concat(&[z, y.narrow(1, 1, 2)], 1);
            (c * c).sum()
        });
    }

    #[test]
    fn small_graph_ops_read_only_what_saved_says() {
        check_unkept_values_are_unread(|tape| {
            let x = tape.var(t(&[2, 3, 4], 1.0));
            let b = tape.var(t(&[3, 1], 2.0));
            let fresh = || x + 0.0;
            let cond = Tensor::from_fn(&[4], |ix| (ix[0] % 2) as f64);
            let index = Tensor::from_fn(&[2, 2, 4], |ix| ((ix[1] + ix[2]) % 3) as f64);
            let ys = [
                fresh().maximum(b + 0.0),
                fresh().minimum(b + 0.0),
                Var::where_(&cond, fresh(), b + 0.0),
                fresh().gather(1, &index).sum_axes(&[0, 1], false).broadcast_to(&[2, 3, 4]),
                fresh().index_select(2, &[3, 0]).mean_axes(&[2], true),
                fresh().var_axis(1, 1, true),
                fresh().std_axis(2, 0, true),
                fresh().min_axis(0, false).unsqueeze(0),
                Var::stack(&[fresh(), fresh()], 1).sum_axis(1, false).squeeze(0),
                fresh().dropout(0.5, &mut rand::rngs::StdRng::seed_from_u64(0)),
                fresh() * fresh().detach(),
            ];
            ys.iter().fold(x.sum(), |acc, &y| acc + y.sum())
        });
    }

    #[test]
    fn a_constant_operand_of_matmul_is_kept_and_the_var_is_not() {
        let tape = Tape::new();
        let x = tape.constant(Tensor::ones(&[3, 2]));
        let w = tape.var(Tensor::ones(&[2, 5]));
        let _ = x.matmul(w).sum();
        let m = tape.memory();
        assert_eq!(m.nodes[x.id()].value_read_by, vec![2]);
        assert!(!m.nodes[w.id()].value_kept());
    }
}
