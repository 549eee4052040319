//! Ops that move elements without changing them: `transpose` and `reshape`. Their backward
//! rules move the gradient back the same way.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::ops::check_axis;
use crate::tensor::Tensor;
use crate::tensor::buffer;
use crate::tensor::shape::{Shape, for_each_broadcast, numel, strides};

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
        self.tape.record(Transpose { axes: (a, b) }, &[self], y)
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
        self.tape.record(Reshape, &[self], y)
    }
}

/// `transpose(a, b)`.
#[derive(Clone, Debug)]
pub(crate) struct Transpose {
    axes: (usize, usize),
}

impl Rule for Transpose {
    fn name(&self) -> String {
        format!("transpose({}, {})", self.axes.0, self.axes.1)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    /// The output element at a swapped index came from the input element at the original
    /// index, so the gradient is swapped back: `dx = transpose(g)` (same axes).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| swap_axes(cx.upstream().data(), cx.upstream().shape(), self.axes));
    }

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| cx.upstream().transpose(self.axes.0, self.axes.1));
    }
}

/// `reshape(shape)`.
#[derive(Clone, Debug)]
pub(crate) struct Reshape;

impl Rule for Reshape {
    fn name(&self) -> String {
        "reshape".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    /// Element `i` of the output is element `i` of the input, so the gradient is the upstream
    /// gradient with the input's shape.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| Tensor::from_parts(buffer::copy(cx.upstream().data()), cx.input_shape(0)));
    }

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| cx.upstream().reshape(&cx.input_shape(0)));
    }
}
