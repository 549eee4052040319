//! Nodes no gradient flows out of: a leaf, a value brought onto the tape by `Tape::var` (it
//! gets a gradient) or `Tape::constant` (it gets none), which has no inputs; `detach`, a
//! constant copy of a node; and the nodes recorded with gradients off (`Tape::no_grad`,
//! `Tape::without_grad`). Their backward has nothing to do.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::ops::Op;

/// The recorded state of a leaf: nothing.
#[derive(Clone, Debug)]
pub(crate) struct Leaf;

impl Rule for Leaf {
    fn name(&self) -> String {
        "leaf".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    fn backward(&self, _: &mut BackwardCx<'_>) {}

    fn backward_graph<'t>(&self, _: &mut GraphCx<'_, 't>) {}
}

impl<'t> Var<'t> {
    /// A constant copy of this value, as PyTorch's `detach()`: the same value on the same tape,
    /// but no gradient flows back through it to this node (for targets computed by the model,
    /// stop-gradient tricks, or a moving average).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::scalar(3.0));
    /// let y = x * x.detach(); // d/dx = x.detach() = 3, not 2x = 6
    /// assert_eq!(y.backward().wrt(x).unwrap().item(), 3.0);
    /// ```
    #[track_caller]
    pub fn detach(self) -> Var<'t> {
        let y = self.value_ref().clone();
        self.tape.record_constant(Detach, &[self], y)
    }
}

/// `detach()`: a constant copy of its input.
#[derive(Clone, Debug)]
pub(crate) struct Detach;

impl Rule for Detach {
    fn name(&self) -> String {
        "detach".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    /// The node needs no gradient (it is recorded as a constant), so this never runs: the
    /// gradient stops here.
    fn backward(&self, _: &mut BackwardCx<'_>) {}

    /// Nor does this: the gradient of a detached value is none, in a recorded backward too
    /// (PyTorch's `detach`).
    fn backward_graph<'t>(&self, _: &mut GraphCx<'_, 't>) {}
}

/// A node recorded with gradients off: the op's name only, for dumps; whatever the op
/// would have saved for backward is dropped.
#[derive(Clone, Debug)]
pub(crate) struct ForwardOnly {
    name: String,
}

impl ForwardOnly {
    pub(crate) fn of(op: &Op) -> ForwardOnly {
        ForwardOnly { name: op.name() }
    }
}

impl Rule for ForwardOnly {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    /// Never runs: the node needs no gradient.
    fn backward(&self, _: &mut BackwardCx<'_>) {}

    /// Never runs either.
    fn backward_graph<'t>(&self, _: &mut GraphCx<'_, 't>) {}
}

#[cfg(test)]
mod tests {
    use crate::ops::Op;
    use crate::{Tape, Tensor};

    /// With gradients off, an op's saved state (here max_axis's arg-max positions) is not
    /// kept: the node holds its name only.
    #[test]
    fn nodes_recorded_without_grad_drop_what_backward_would_read() {
        let tape = Tape::new();
        let x = tape.var(Tensor::from_fn(&[2, 3], |ix| (ix[0] + ix[1]) as f64));
        let kept = x.max_axis(1, false);
        let dropped = tape.without_grad(|| x.max_axis(1, false));
        let nodes = tape.nodes.borrow();
        assert!(matches!(nodes[kept.id()].op, Op::ExtremumAxis(_)));
        assert!(matches!(&nodes[dropped.id()].op, Op::ForwardOnly(f) if f.name == "max_axis(1)"));
        assert!(!nodes[dropped.id()].needs_grad);
        assert_eq!(nodes[dropped.id()].value, nodes[kept.id()].value);
    }
}
