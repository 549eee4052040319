//! `broadcast_to(shape)` and `sum_to_size(shape)`: each is the other's backward.
//!
//! `broadcast_to` repeats an array along broadcast axes (NumPy's rules, as a binary op reads
//! its operands); `sum_to_size` sums an array back over those axes. Broadcasting's backward
//! in every binary op is a `sum_to_size`, and so it is in their differentiable forms
//! ([`Rule::backward_graph`]).

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::kernels::broadcast::{self as kernels, expand};
use crate::tensor::Tensor;
use crate::tensor::shape::broadcast_shapes;

/// Whether `small` broadcasts to exactly `big`.
fn broadcasts_to(small: &[usize], big: &[usize]) -> bool {
    broadcast_shapes(small, big).is_some_and(|s| s.as_slice() == big)
}

/// `x` (which broadcasts to `shape`) repeated to `shape`.
fn broadcast(x: &Tensor, shape: &[usize]) -> Tensor {
    Tensor::from_parts(expand(x.data(), x.shape(), shape), shape)
}

/// `x` summed over the axes along which `shape` broadcasts to `x`'s shape (`x` itself, its
/// buffer shared, when the shapes are equal).
pub(crate) fn sum_to(x: &Tensor, shape: &[usize]) -> Tensor {
    if x.shape() == shape {
        return x.clone();
    }
    Tensor::from_parts(kernels::sum_to(x.data(), x.shape(), shape), shape)
}

impl<'t> Var<'t> {
    /// This value repeated along broadcast axes to `shape` (NumPy's broadcasting rules), like
    /// PyTorch's `broadcast_to` (a copy here).
    ///
    /// Panics when the value does not broadcast to `shape`.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![1.0, 2.0], &[2, 1])?);
    /// assert_eq!(x.broadcast_to(&[2, 3]).value().data(), &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn broadcast_to(self, shape: &[usize]) -> Var<'t> {
        let y = {
            let x = self.value_ref();
            assert!(
                broadcasts_to(x.shape(), shape),
                "broadcast_to: shape {:?} does not broadcast to {shape:?}",
                x.shape()
            );
            broadcast(&x, shape)
        };
        self.tape.record(BroadcastTo, &[self], y)
    }

    /// Sums this value over the axes along which `shape` broadcasts to it, so the result has
    /// `shape`: PyTorch's `sum_to_size`, the backward of broadcasting.
    ///
    /// Panics when `shape` does not broadcast to this value's shape.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?);
    /// assert_eq!(x.sum_to_size(&[3]).value().data(), &[5.0, 7.0, 9.0]);
    /// assert_eq!(x.sum_to_size(&[2, 1]).value().data(), &[6.0, 15.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn sum_to_size(self, shape: &[usize]) -> Var<'t> {
        let y = {
            let x = self.value_ref();
            assert!(
                broadcasts_to(shape, x.shape()),
                "sum_to_size: shape {shape:?} does not broadcast to input of shape {:?}",
                x.shape()
            );
            sum_to(&x, shape)
        };
        self.tape.record(SumToSize, &[self], y)
    }
}

/// `broadcast_to(shape)` (the output's shape).
#[derive(Clone, Debug)]
pub(crate) struct BroadcastTo;

impl Rule for BroadcastTo {
    fn name(&self) -> String {
        "broadcast_to".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    /// An input element was copied to every output element along the broadcast axes, so it
    /// receives the sum of their gradients: `dx = sum_to_size(g, x.shape)`.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| sum_to(cx.upstream(), cx.input_shape(0)));
    }

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| cx.upstream().sum_to_size(&cx.input_shape(0)));
    }
}

/// `sum_to_size(shape)` (the output's shape).
#[derive(Clone, Debug)]
pub(crate) struct SumToSize;

impl Rule for SumToSize {
    fn name(&self) -> String {
        "sum_to_size".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    /// Every input element entered its sum with weight 1: `dx = broadcast_to(g, x.shape)`.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| broadcast(cx.upstream(), cx.input_shape(0)));
    }

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| cx.upstream().broadcast_to(&cx.input_shape(0)));
    }
}

/// `full` (a gradient over the broadcast shape) read at the first position of every axis along
/// which `shape` was broadcast, instead of summed over them: the gradient of a broadcast
/// operand with the sum over the broadcast axes dropped, a slip ops declare for
/// [`Derivation`](crate::Derivation).
pub(crate) fn first_of_broadcast(full: &Tensor, shape: &[usize]) -> Tensor {
    let out = full.shape();
    let lead = out.len() - shape.len();
    let mut at = vec![0; out.len()];
    Tensor::from_fn(shape, |ix| {
        for (j, (&i, &size)) in ix.iter().zip(shape).enumerate() {
            at[lead + j] = if size == 1 { 0 } else { i };
        }
        full.get(&at)
    })
}

/// `x` repeated to `shape` along its broadcast axes (a plain tensor, no tape).
pub(crate) fn expanded(x: &Tensor, shape: &[usize]) -> Tensor {
    broadcast(x, shape)
}

/// `g` summed to `shape` as a recorded op, or `g` itself when it already has that shape: the
/// broadcasting step of every binary op's differentiable backward.
#[track_caller]
pub(crate) fn sum_to_shape<'t>(g: Var<'t>, shape: &[usize]) -> Var<'t> {
    if g.shape() == shape { g } else { g.sum_to_size(shape) }
}
