//! Ops that move elements without changing them: `transpose` and `reshape`. Their backward
//! rules move the gradient back the same way.

use crate::buffer;
use crate::ops::{Op, check_axis};
use crate::shape::{Shape, for_each_broadcast, numel, strides};
use crate::tape::{GradSink, Var};
use crate::tensor::Tensor;

/// A copy of `x` (of `shape`) with axes `a` and `b` swapped.
fn swap_axes(x: &[f64], shape: &[usize], (a, b): (usize, usize)) -> Tensor {
    let mut out_shape = Shape::from_slice(shape);
    out_shape.swap(a, b);
    // Walk the output in row-major order, reading the input with its strides swapped.
    let mut read = strides(shape);
    read.swap(a, b);
    let mut out = buffer::with_capacity(x.len());
    for_each_broadcast(&out_shape, &read, &read, |at, _| out.push(x[at]));
    Tensor::from_parts(out, &out_shape)
}

impl<'t> Var<'t> {
    /// Swaps axes `a` and `b` (a copy, row-major like every tensor).
    #[track_caller]
    pub fn transpose(self, a: usize, b: usize) -> Var<'t> {
        let y = {
            let v = self.value_ref();
            check_axis("transpose", a, v.shape());
            check_axis("transpose", b, v.shape());
            swap_axes(v.data(), v.shape(), (a, b))
        };
        self.tape.record(Op::Transpose { x: self.id, axes: (a, b) }, y)
    }

    /// The same elements in row-major order with a new shape of the same size.
    #[track_caller]
    pub fn reshape(self, shape: &[usize]) -> Var<'t> {
        let y = {
            let v = self.value_ref();
            assert!(
                numel(shape) == v.numel(),
                "reshape: cannot reshape shape {:?} ({} elements) to {shape:?} ({} elements)",
                v.shape(),
                v.numel(),
                numel(shape)
            );
            Tensor::from_parts(buffer::copy(v.data()), shape)
        };
        self.tape.record(Op::Reshape { x: self.id }, y)
    }
}

/// Transpose backward: the output element at a swapped index came from the input element at
/// the original index, so the gradient is swapped back: `dx = transpose(g)` (same axes).
pub(crate) fn transpose_backward(x_id: usize, axes: (usize, usize), g: &Tensor, sink: &mut GradSink) {
    if sink.wants(x_id) {
        sink.add(x_id, swap_axes(g.data(), g.shape(), axes));
    }
}

/// Reshape backward: element `i` of the output is element `i` of the input, so the gradient
/// is the upstream gradient with the input's shape.
pub(crate) fn reshape_backward(x_id: usize, x: &Tensor, g: &Tensor, sink: &mut GradSink) {
    if sink.wants(x_id) {
        sink.add(x_id, Tensor::from_parts(buffer::copy(g.data()), x.shape()));
    }
}
