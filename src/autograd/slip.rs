//! What an op declares about the ways a hand derivation of its backward goes wrong
//! ([`Rule::slips`](super::Rule::slips)), for the derivation checker
//! ([`Derivation`](crate::Derivation)).
//!
//! A slip is one local change of one backward step: instead of the gradient its rule hands to
//! input `k`, the op hands on what a learner with that slip would have written (`G B` for
//! `G B^T`, softmax's Jacobian without `-p p^T`, layer norm without its mean term). The
//! checker recomputes everything below it from there. Generic slips (a sign, a constant
//! factor, a path left out) are the checker's own; an op declares only what is particular to
//! its derivative, in its own home, so a new op brings its own.

use std::fmt;

use crate::autograd::tape::Node;
use crate::tensor::Tensor;

/// The kind of a slip in a hand-derived backward pass (see [`Slip`](crate::Slip)).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SlipKind {
    /// The gradient's sign flipped.
    Sign,
    /// The right gradient times a constant: a forgotten `1/N`, a mean taken for a sum, a stray
    /// 2. The constant is the factor found.
    Scale(f64),
    /// A matrix factor of a product's backward used untransposed (or transposed) where it must
    /// not be.
    Transpose,
    /// A node used more than once, and one use left out of its gradient (a residual, a shared
    /// weight).
    MissingPath,
    /// A term of the op's own derivative left out (softmax's `-p p^T`, layer norm's mean or
    /// variance term, the onehot in `P - onehot`, the sum over broadcast axes).
    DroppedTerm,
}

impl fmt::Display for SlipKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlipKind::Sign => write!(f, "sign"),
            SlipKind::Scale(c) => write!(f, "scale({})", crate::autograd::short(*c)),
            SlipKind::Transpose => write!(f, "transpose"),
            SlipKind::MissingPath => write!(f, "missing path"),
            SlipKind::DroppedTerm => write!(f, "dropped term"),
        }
    }
}

/// One slip an op declares: the gradient it would hand to input `input` (by position) under
/// it, and what was done, in the learner's terms.
#[derive(Clone, Debug)]
pub(crate) struct OpSlip {
    pub(crate) input: usize,
    pub(crate) kind: SlipKind,
    /// What the learner did instead of what: "dL/dmh W_O^T instead of dL/dmh W_O".
    pub(crate) what: String,
    /// The slipped gradient of that input, shaped like it.
    pub(crate) grad: Tensor,
}

/// What [`Rule::slips`](super::Rule::slips) works with: the node's values, its (true)
/// upstream gradient, the true gradient its rule hands to each input, and the learner's names
/// for its inputs and its output.
pub(crate) struct SlipCx<'a> {
    pub(crate) nodes: &'a [Node],
    pub(crate) inputs: &'a [usize],
    pub(crate) output: &'a Tensor,
    pub(crate) upstream: &'a Tensor,
    /// The rule's true gradient for each input position; `None` where the input wants no
    /// gradient, or appears at another position too (its uses cannot be told apart).
    pub(crate) grads: &'a [Option<Tensor>],
    pub(crate) names: &'a [String],
    pub(crate) out_name: &'a str,
}

impl<'a> SlipCx<'a> {
    /// Whether a slip of input `k`'s gradient can be judged (see [`SlipCx::grads`]).
    pub(crate) fn wants(&self, k: usize) -> bool {
        self.grads.get(k).is_some_and(Option::is_some)
    }

    /// The forward value of input `k`.
    pub(crate) fn input(&self, k: usize) -> &'a Tensor {
        &self.nodes[self.inputs[k]].value
    }

    /// The node's own forward value.
    pub(crate) fn output(&self) -> &'a Tensor {
        self.output
    }

    /// The (true) gradient of the loss with respect to this node.
    pub(crate) fn upstream(&self) -> &'a Tensor {
        self.upstream
    }

    /// The true gradient the rule hands to input `k` (only where [`SlipCx::wants`]).
    pub(crate) fn grad(&self, k: usize) -> &'a Tensor {
        self.grads[k].as_ref().expect("asked only where the slip can be judged")
    }

    /// The learner's name of input `k` ("W_O", "W_O^T", "node 12 (reshape)").
    pub(crate) fn name(&self, k: usize) -> &'a str {
        &self.names[k]
    }

    /// The name of input `k`'s transpose: "W_O" for "W_O^T", "W^T" for "W".
    pub(crate) fn name_t(&self, k: usize) -> String {
        transposed_name(&self.names[k])
    }

    /// The learner's name of the node itself.
    pub(crate) fn out_name(&self) -> &'a str {
        self.out_name
    }

    /// The node's number of inputs.
    pub(crate) fn arity(&self) -> usize {
        self.inputs.len()
    }

    /// Declares a slip of input `k`'s gradient, when it can be judged.
    pub(crate) fn slip(&self, k: usize, kind: SlipKind, what: String, grad: impl FnOnce() -> Tensor) -> Option<OpSlip> {
        self.wants(k).then(|| OpSlip { input: k, kind, what, grad: grad() })
    }
}

/// `name`'s transpose, as a learner writes it: `X^T` for `X`, `X` for `X^T`.
pub(crate) fn transposed_name(name: &str) -> String {
    match name.strip_suffix("^T") {
        Some(inner) => inner.to_string(),
        None if name.contains(' ') => format!("({name})^T"),
        None => format!("{name}^T"),
    }
}

/// `f(a_i, b_i)` over two tensors of one shape: for the slipped gradients ops declare.
pub(crate) fn zip_with(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Tensor {
    let data = a.data().iter().zip(b.data()).map(|(&x, &y)| f(x, y)).collect();
    Tensor::new(data, a.shape()).expect("both operands have one shape")
}
