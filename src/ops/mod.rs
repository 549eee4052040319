//! Every operation the tape can record, one file per family. In each file an op's forward
//! (a method on [`Var`](crate::Var)) and its backward rule sit side by side, with the
//! derivation in the backward's doc comment.
//!
//! [`Op`] is what a node remembers; [`backward`] is one `match` over it in which every arm does
//! the same thing: compute the gradients of the node's inputs from the upstream gradient and
//! hand them to the [`GradSink`], which accumulates them.

pub(crate) mod binary;
pub(crate) mod concat;
pub(crate) mod embedding;
pub(crate) mod layer_norm;
pub(crate) mod layout;
pub(crate) mod loss;
pub(crate) mod mask;
pub(crate) mod matmul;
pub(crate) mod reduce;
pub(crate) mod softmax;
pub(crate) mod unary;

use smallvec::{SmallVec, smallvec};

use crate::tape::{GradSink, Node};
use crate::tensor::Tensor;

pub(crate) use binary::Binary;
pub(crate) use reduce::Reduce;
pub(crate) use unary::Unary;

/// A recorded operation: its kind, its inputs' node ids and whatever its backward needs
/// beyond the values already on the tape.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// A leaf: `Tape::var` or `Tape::constant`.
    Leaf,
    /// Elementwise function of one input (possibly with a constant, e.g. `x * 2.0`).
    Unary { x: usize, f: Unary },
    /// Elementwise function of two inputs with broadcasting.
    Binary { a: usize, b: usize, f: Binary },
    /// Sum or mean, over everything or one axis.
    Reduce { x: usize, f: Reduce },
    /// Max over one axis; remembers where each maximum was (its position along the axis).
    MaxAxis { x: usize, axis: usize, argmax: Vec<usize> },
    /// Matrix product, batched over broadcast leading axes.
    MatMul { a: usize, b: usize },
    /// Swap of two axes.
    Transpose { x: usize, axes: (usize, usize) },
    /// Same elements, new shape.
    Reshape { x: usize },
    /// Softmax along an axis (backward uses the saved output).
    Softmax { x: usize, axis: usize },
    /// Log-softmax along an axis (backward uses the saved output).
    LogSoftmax { x: usize, axis: usize },
    /// Mean negative log-likelihood of the targets over the last axis.
    NllLoss { x: usize, targets: Vec<usize> },
    /// Fused softmax + cross-entropy; saves one log-sum-exp per row, not the probabilities.
    CrossEntropy { x: usize, targets: Vec<usize>, logsumexp: Vec<f64> },
    /// Row gather `table[ids]` along the first axis (an embedding lookup).
    Embedding { table: usize, ids: Vec<usize> },
    /// Fused layer norm over the last axis; saves the mean and `1/std` of every row.
    LayerNorm { x: usize, gamma: usize, beta: usize, mean: Vec<f64>, rstd: Vec<f64> },
    /// Elements replaced by a constant where a mask is set (`filled`, one flag per element).
    MaskedFill { x: usize, filled: Vec<bool> },
    /// Join along an axis; `sizes` are the parts' sizes along it.
    Concat { xs: Vec<usize>, axis: usize, sizes: Vec<usize> },
    /// The slice `start..start + len` along an axis (`len` is the output's size there).
    Narrow { x: usize, axis: usize, start: usize },
}

impl Op {
    /// The ids of the nodes this op reads.
    pub(crate) fn inputs(&self) -> SmallVec<[usize; 2]> {
        match *self {
            Op::Leaf => smallvec![],
            Op::LayerNorm { x, gamma, beta, .. } => smallvec![x, gamma, beta],
            Op::Concat { ref xs, .. } => SmallVec::from_slice(xs),
            Op::Binary { a, b, .. } | Op::MatMul { a, b } => smallvec![a, b],
            Op::Unary { x, .. }
            | Op::Reduce { x, .. }
            | Op::MaxAxis { x, .. }
            | Op::Transpose { x, .. }
            | Op::Reshape { x }
            | Op::Softmax { x, .. }
            | Op::LogSoftmax { x, .. }
            | Op::NllLoss { x, .. }
            | Op::CrossEntropy { x, .. }
            | Op::Embedding { table: x, .. }
            | Op::MaskedFill { x, .. }
            | Op::Narrow { x, .. } => smallvec![x],
        }
    }

    /// A short name, as users write the op.
    pub(crate) fn name(&self) -> String {
        match self {
            Op::Leaf => "leaf".into(),
            Op::Unary { f, .. } => f.name(),
            Op::Binary { f, .. } => f.name().into(),
            Op::Reduce { f, .. } => f.name(),
            Op::MaxAxis { axis, .. } => format!("max_axis({axis})"),
            Op::MatMul { .. } => "matmul".into(),
            Op::Transpose { axes, .. } => format!("transpose({}, {})", axes.0, axes.1),
            Op::Reshape { .. } => "reshape".into(),
            Op::Softmax { axis, .. } => format!("softmax({axis})"),
            Op::LogSoftmax { axis, .. } => format!("log_softmax({axis})"),
            Op::NllLoss { .. } => "nll_loss".into(),
            Op::CrossEntropy { .. } => "cross_entropy".into(),
            Op::Embedding { .. } => "embedding".into(),
            Op::LayerNorm { .. } => "layer_norm".into(),
            Op::MaskedFill { .. } => "masked_fill".into(),
            Op::Concat { axis, .. } => format!("concat({axis})"),
            Op::Narrow { axis, start, .. } => format!("narrow({axis}, {start})"),
        }
    }
}

/// Runs the backward rule of one node: `out` is the node's forward value, `upstream` the
/// gradient of the final output with respect to it.
pub(crate) fn backward(op: &Op, out: &Tensor, upstream: &Tensor, nodes: &[Node], sink: &mut GradSink) {
    let value = |id: usize| &nodes[id].value;
    match op {
        Op::Leaf => {}
        Op::Unary { x, f } => unary::backward(*f, *x, value(*x), out, upstream, sink),
        Op::Binary { a, b, f } => binary::backward(*f, (*a, value(*a)), (*b, value(*b)), upstream, sink),
        Op::Reduce { x, f } => reduce::backward(*f, *x, value(*x), upstream, sink),
        Op::MaxAxis { x, axis, argmax } => reduce::max_axis_backward(*x, value(*x), *axis, argmax, upstream, sink),
        Op::MatMul { a, b } => matmul::backward((*a, value(*a)), (*b, value(*b)), upstream, sink),
        Op::Transpose { x, axes } => layout::transpose_backward(*x, *axes, upstream, sink),
        Op::Reshape { x } => layout::reshape_backward(*x, value(*x), upstream, sink),
        Op::Softmax { x, axis } => softmax::softmax_backward(*x, *axis, out, upstream, sink),
        Op::LogSoftmax { x, axis } => softmax::log_softmax_backward(*x, *axis, out, upstream, sink),
        Op::NllLoss { x, targets } => loss::nll_backward(*x, value(*x), targets, upstream, sink),
        Op::CrossEntropy { x, targets, logsumexp } => {
            loss::cross_entropy_backward(*x, value(*x), targets, logsumexp, upstream, sink)
        }
        Op::Embedding { table, ids } => embedding::embedding_backward(*table, value(*table), ids, upstream, sink),
        Op::LayerNorm { x, gamma, beta, mean, rstd } => layer_norm::layer_norm_backward(
            (*x, value(*x)),
            (*gamma, value(*gamma)),
            *beta,
            (mean, rstd),
            upstream,
            sink,
        ),
        Op::MaskedFill { x, filled } => mask::masked_fill_backward(*x, filled, upstream, sink),
        Op::Concat { xs, axis, sizes } => concat::concat_backward(xs, *axis, sizes, upstream, sink),
        Op::Narrow { x, axis, start } => concat::narrow_backward(*x, value(*x), *axis, *start, upstream, sink),
    }
}

/// Panics (at the user's line) unless `axis` is an axis of `shape`.
#[track_caller]
pub(crate) fn check_axis(op: &str, axis: usize, shape: &[usize]) {
    assert!(axis < shape.len(), "{op}: axis {axis} is out of range for shape {shape:?} ({} axes)", shape.len());
}
