//! Ops that move elements without changing them: `transpose`, `reshape`, `squeeze` and
//! `unsqueeze` (`broadcast_to` is in `broadcast`). Their backward rules move the gradient back the same way.

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
            crate::tensor::shape::check_shape("reshape", &[v.shape()], shape);
            assert!(
                numel(shape) == v.numel(),
                "reshape: cannot reshape shape {:?} ({}) to {shape:?} ({})",
                v.shape(),
                crate::error::elements(v.numel()),
                crate::error::elements(numel(shape))
            );
            Tensor::from_parts(buffer::copy(v.data()), shape)
        };
        self.tape.record(Reshape { kind: ReshapeKind::Reshape }, &[self], y)
    }

    /// Removes `axis` if its size is 1, as `torch.squeeze(x, dim)`; an axis of another size is
    /// left as it is (PyTorch does the same), so the output then has the input's shape. A
    /// scalar accepts axis 0 and stays a scalar (as PyTorch).
    ///
    /// Panics when the axis is out of range.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::zeros(&[2, 1, 3]));
    /// assert_eq!(x.squeeze(1).shape(), [2, 3]);
    /// assert_eq!(x.squeeze(0).shape(), [2, 1, 3]); // size 2: unchanged
    /// ```
    #[track_caller]
    pub fn squeeze(self, axis: usize) -> Var<'t> {
        let shape = {
            let v = self.value_ref();
            let mut shape = Shape::from_slice(v.shape());
            if !(shape.is_empty() && axis == 0) {
                check_axis("squeeze", axis, &shape);
                if shape[axis] == 1 {
                    shape.remove(axis);
                }
            }
            shape
        };
        self.reshaped(&shape, ReshapeKind::Squeeze(axis))
    }

    /// Inserts an axis of size 1 at position `axis` (`0..=rank`), as `torch.unsqueeze`.
    ///
    /// Panics when `axis > rank`.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::zeros(&[2, 3]));
    /// assert_eq!(x.unsqueeze(0).shape(), [1, 2, 3]);
    /// assert_eq!(x.unsqueeze(2).shape(), [2, 3, 1]);
    /// ```
    #[track_caller]
    pub fn unsqueeze(self, axis: usize) -> Var<'t> {
        let shape = {
            let v = self.value_ref();
            let mut shape = Shape::from_slice(v.shape());
            assert!(
                axis <= shape.len(),
                "unsqueeze: axis {axis} is out of range for shape {shape:?} (a new axis goes at 0..={})",
                shape.len()
            );
            shape.insert(axis, 1);
            shape
        };
        self.reshaped(&shape, ReshapeKind::Unsqueeze(axis))
    }

    /// A copy of the value with `shape` (same elements), recorded as a reshape of `kind`.
    #[track_caller]
    fn reshaped(self, shape: &[usize], kind: ReshapeKind) -> Var<'t> {
        let y = Tensor::from_parts(buffer::copy(self.value_ref().data()), shape);
        self.tape.record(Reshape { kind }, &[self], y)
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

/// `reshape(shape)`, `squeeze(axis)` or `unsqueeze(axis)`: the same elements with another
/// shape; `kind` says which, for the label.
#[derive(Clone, Debug)]
pub(crate) struct Reshape {
    kind: ReshapeKind,
}

#[derive(Clone, Copy, Debug)]
enum ReshapeKind {
    Reshape,
    Squeeze(usize),
    Unsqueeze(usize),
}

impl Rule for Reshape {
    fn name(&self) -> String {
        match self.kind {
            ReshapeKind::Reshape => "reshape".into(),
            ReshapeKind::Squeeze(axis) => format!("squeeze({axis})"),
            ReshapeKind::Unsqueeze(axis) => format!("unsqueeze({axis})"),
        }
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
