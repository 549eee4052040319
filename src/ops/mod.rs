//! Every operation the tape can record: one home per op (a file, or a section of a family
//! file), holding the op's recorded state (a struct), its forward (a method on
//! [`Var`](crate::Var)), and its [`Rule`]: name, what its backward reads, and the backward with
//! the derivation beside it.
//!
//! [`Op`] is generated from the one list below: adding an op is its home plus one line here.
//! The tape stores an `Op` per node (static dispatch: one `match`, no boxed closure), and
//! the backward loop, the memory accounting, the dump and anomaly mode all ask it through
//! [`Rule`]. Ops users write themselves go through [`CustomOp`](crate::CustomOp) instead.

pub(crate) mod binary;
pub(crate) mod broadcast;
pub(crate) mod concat;
pub(crate) mod custom;
pub(crate) mod dropout;
pub(crate) mod embedding;
pub(crate) mod extrema;
pub(crate) mod index;
pub(crate) mod layer_norm;
pub(crate) mod layout;
pub(crate) mod linear;
pub(crate) mod logsumexp;
pub(crate) mod loss;
pub(crate) mod mask;
pub(crate) mod matmul;
pub(crate) mod moments;
pub(crate) mod reduce;
pub(crate) mod softmax;
pub(crate) mod unary;

use crate::autograd::leaf;
use crate::autograd::{BackwardCx, GraphCx, OpSlip, Rule, Saved, SlipCx, Wants};

/// Generates [`Op`], one variant per listed rule type, its `From` conversions (so a forward
/// records `tape.record(MatMul, &[a, b], y)`) and its [`Rule`] impl, which hands every call to
/// the variant's own rule.
macro_rules! op_list {
    ($($(#[$doc:meta])* $variant:ident($rule:ty),)*) => {
        /// A recorded operation: one variant per op, holding that op's recorded state.
        #[derive(Clone, Debug)]
        pub(crate) enum Op {
            $($(#[$doc])* $variant($rule),)*
        }

        $(impl From<$rule> for Op {
            fn from(rule: $rule) -> Op {
                Op::$variant(rule)
            }
        })*

        impl Rule for Op {
            fn name(&self) -> String {
                match self { $(Op::$variant(rule) => rule.name(),)* }
            }
            fn saved(&self, wants: Wants<'_>) -> Saved {
                match self { $(Op::$variant(rule) => rule.saved(wants),)* }
            }
            fn touched(&self, wants: Wants<'_>) -> Saved {
                match self { $(Op::$variant(rule) => rule.touched(wants),)* }
            }
            #[inline]
            fn backward(&self, cx: &mut BackwardCx<'_>) {
                match self { $(Op::$variant(rule) => rule.backward(cx),)* }
            }
            fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
                match self { $(Op::$variant(rule) => rule.backward_graph(cx),)* }
            }
            fn requested_non_finite(&self, i: usize) -> bool {
                match self { $(Op::$variant(rule) => rule.requested_non_finite(i),)* }
            }
            fn slips(&self, cx: &SlipCx<'_>) -> Vec<OpSlip> {
                match self { $(Op::$variant(rule) => rule.slips(cx),)* }
            }
        }
    };
}

op_list! {
    /// `Tape::var` or `Tape::constant`.
    Leaf(leaf::Leaf),
    Detach(leaf::Detach),
    /// A node recorded with gradients off (`Tape::no_grad`, `Tape::without_grad`).
    ForwardOnly(leaf::ForwardOnly),
    /// `-x`, `x + c`, `exp`, `tanh`, ...: elementwise functions of one input.
    Unary(unary::Unary),
    /// `a + b`, `a - b`, `a * b`, `a / b` with broadcasting.
    Binary(binary::Binary),
    /// `sum`, `mean`, `sum_axis`, `mean_axis`.
    Reduce(reduce::Reduce),
    /// `sum_axes`, `mean_axes`.
    ReduceAxes(reduce::ReduceAxes),
    /// `max_axis`, `min_axis`.
    ExtremumAxis(extrema::ExtremumAxis),
    /// `var_axis`, `std_axis`.
    Moments(moments::Moments),
    MatMul(matmul::MatMul),
    /// `linear`, `addmm`.
    Affine(linear::Affine),
    Transpose(layout::Transpose),
    /// `reshape`, `squeeze`, `unsqueeze`.
    Reshape(layout::Reshape),
    Softmax(softmax::Softmax),
    LogSoftmax(softmax::LogSoftmax),
    LogSumExp(logsumexp::LogSumExp),
    NllLoss(loss::nll::NllLoss),
    // The loss nodes carry their options and per-row data: boxed, so that they do not set the
    // size of every node (see `an_op_is_at_most_seven_words`); one allocation per loss node.
    CrossEntropy(Box<loss::cross_entropy::FusedCrossEntropy>),
    CrossEntropyProbs(Box<loss::cross_entropy::CrossEntropyProbs>),
    BceWithLogits(Box<loss::bce::BceNode>),
    Regression(loss::regression::RegressionLoss),
    KlDiv(loss::kl_div::KlDivLoss),
    Embedding(embedding::Embedding),
    IndexSelect(index::IndexSelect),
    Gather(index::Gather),
    IndexAdd(index::IndexAdd),
    ScatterAdd(index::ScatterAdd),
    LayerNorm(layer_norm::LayerNorm),
    MaskedFill(mask::MaskedFill),
    Where(mask::Where),
    Dropout(dropout::Dropout),
    Concat(concat::Concat),
    Stack(concat::Stack),
    Narrow(concat::Narrow),
    BroadcastTo(broadcast::BroadcastTo),
    SumToSize(broadcast::SumToSize),
    /// An op written by a user ([`CustomOp`](crate::CustomOp)).
    Custom(custom::Custom),
    /// A custom op's gradient recorded without a differentiable form: differentiating it
    /// again panics, naming the op.
    OnceDifferentiable(custom::OnceDifferentiable),
}

/// A boxed op is recorded from its plain state, like any other.
macro_rules! record_boxed {
    ($($rule:ty),*) => {
        $(impl From<$rule> for Op {
            fn from(rule: $rule) -> Op {
                Op::from(Box::new(rule))
            }
        })*
    };
}

record_boxed!(loss::cross_entropy::FusedCrossEntropy, loss::cross_entropy::CrossEntropyProbs, loss::bce::BceNode);

pub(crate) use crate::tensor::axis::{resolve_axis, resolve_new_axis};
/// Every node holds an `Op`, so the largest op's state sets the size of all of them (and the
/// per-op cost of recording: W1 measures it). Keep large state behind a `Vec` or `Box`.
#[cfg(test)]
#[test]
fn an_op_is_at_most_seven_words() {
    assert!(std::mem::size_of::<Op>() <= 56, "Op is {} bytes", std::mem::size_of::<Op>());
}
