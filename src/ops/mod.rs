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
pub(crate) mod embedding;
pub(crate) mod layer_norm;
pub(crate) mod layout;
pub(crate) mod leaf;
pub(crate) mod logsumexp;
pub(crate) mod loss;
pub(crate) mod mask;
pub(crate) mod matmul;
pub(crate) mod reduce;
pub(crate) mod softmax;
pub(crate) mod unary;

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Wants};

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
        }
    };
}

op_list! {
    /// `Tape::var` or `Tape::constant`.
    Leaf(leaf::Leaf),
    /// `-x`, `x + c`, `exp`, `tanh`, ...: elementwise functions of one input.
    Unary(unary::Unary),
    /// `a + b`, `a - b`, `a * b`, `a / b` with broadcasting.
    Binary(binary::Binary),
    /// `sum`, `mean`, `sum_axis`, `mean_axis`.
    Reduce(reduce::Reduce),
    MaxAxis(reduce::MaxAxis),
    MatMul(matmul::MatMul),
    Transpose(layout::Transpose),
    Reshape(layout::Reshape),
    Softmax(softmax::Softmax),
    LogSoftmax(softmax::LogSoftmax),
    LogSumExp(logsumexp::LogSumExp),
    NllLoss(loss::nll::NllLoss),
    CrossEntropy(loss::cross_entropy::FusedCrossEntropy),
    CrossEntropyProbs(loss::cross_entropy::CrossEntropyProbs),
    BceWithLogits(loss::bce::BceNode),
    Regression(loss::regression::RegressionLoss),
    KlDiv(loss::kl_div::KlDivLoss),
    Embedding(embedding::Embedding),
    ScatterRows(embedding::ScatterRows),
    LayerNorm(layer_norm::LayerNorm),
    MaskedFill(mask::MaskedFill),
    Concat(concat::Concat),
    Narrow(concat::Narrow),
    BroadcastTo(broadcast::BroadcastTo),
    SumToSize(broadcast::SumToSize),
    /// An op written by a user ([`CustomOp`](crate::CustomOp)).
    Custom(custom::Custom),
    /// A custom op's gradient recorded without a differentiable form: differentiating it
    /// again panics, naming the op.
    OnceDifferentiable(custom::OnceDifferentiable),
}

/// Panics (at the user's line) unless `axis` is an axis of `shape`.
#[track_caller]
pub(crate) fn check_axis(op: &str, axis: usize, shape: &[usize]) {
    assert!(axis < shape.len(), "{op}: axis {axis} is out of range for shape {shape:?} ({} axes)", shape.len());
}
