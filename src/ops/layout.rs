//! Ops that move elements without changing them: `transpose`, `reshape`, `squeeze` and
//! `unsqueeze` (`broadcast_to` is in `broadcast`). Their backward rules move the gradient back the same way.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::ops::{resolve_axis, resolve_new_axis};
use crate::tensor::Tensor;
use crate::tensor::axis::Axis;
use crate::tensor::shape::{Shape, numel};

impl<'t> Var<'t> {
    /// Swaps axes `a` and `b`. As in PyTorch, a large tensor's transpose is a view: it shares
    /// the input's buffer and swaps two strides. `matmul` reads it where it is; an op that
    /// needs row-major elements (or [`Tensor::data`](crate::Tensor::data)) gathers them once (see `tensor::view`).
    ///
    /// Axes count from the end when negative: `x.transpose(-2, -1)` swaps the last two.
    #[track_caller]
    pub fn transpose(self, a: impl Axis, b: impl Axis) -> Var<'t> {
        let v = self.value_ref();
        let (a, b) = transpose_axes(a, b, v.shape());
        let y = v.transposed(a, b);
        drop(v);
        self.tape.record(Transpose { axes: (a, b) }, &[self], y)
    }

    /// The transpose of a matrix, as `torch.Tensor.t()`: axes 0 and 1 swapped. As PyTorch, a
    /// scalar or a vector is returned as it is (recorded as a reshape to its own shape).
    ///
    /// Panics, naming the shape, for more than 2 axes (use [`Var::transpose`]).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let w = tape.var(Tensor::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?);
    /// assert_eq!(w.t().shape(), [3, 2]);
    /// assert_eq!(w.t().value(), w.transpose(0, 1).value());
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn t(self) -> Var<'t> {
        let rank = self.value_ref().rank();
        match rank {
            2 => self.transpose(0, 1),
            0 | 1 => self.reshape(&self.shape()),
            _ => not_a_matrix(self.value_ref().shape()),
        }
    }

    /// The same elements in row-major order with a new shape of the same size.
    #[track_caller]
    pub fn reshape(self, shape: &[usize]) -> Var<'t> {
        {
            let v = self.value_ref();
            crate::tensor::shape::check_shape("reshape", &[v.shape()], shape);
            assert!(
                numel(shape) == v.numel(),
                "reshape: cannot reshape shape {:?} ({}) to {shape:?} ({})",
                v.shape(),
                crate::error::elements(v.numel()),
                crate::error::elements(numel(shape))
            );
        }
        let y = self.value_shared_as(shape);
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
    pub fn squeeze(self, axis: impl Axis) -> Var<'t> {
        let (shape, axis) = squeezed(self.value_ref().shape(), axis);
        self.reshaped(&shape, ReshapeKind::Squeeze(axis))
    }

    /// Inserts an axis of size 1 at position `axis` (`0..=rank`; `-1` puts it last), as
    /// `torch.unsqueeze`.
    ///
    /// Panics when the axis is out of range.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::zeros(&[2, 3]));
    /// assert_eq!(x.unsqueeze(0).shape(), [1, 2, 3]);
    /// assert_eq!(x.unsqueeze(2).shape(), [2, 3, 1]);
    /// ```
    #[track_caller]
    pub fn unsqueeze(self, axis: impl Axis) -> Var<'t> {
        let (shape, axis) = unsqueezed(self.value_ref().shape(), axis);
        self.reshaped(&shape, ReshapeKind::Unsqueeze(axis))
    }

    /// A copy of the value with `shape` (same elements), recorded as a reshape of `kind`.
    #[track_caller]
    fn reshaped(self, shape: &[usize], kind: ReshapeKind) -> Var<'t> {
        let y = self.value_shared_as(shape);
        self.tape.record(Reshape { kind }, &[self], y)
    }
}

/// `transpose`'s two axes, resolved against `shape` (`-1` is the last).
#[track_caller]
fn transpose_axes(a: impl Axis, b: impl Axis, shape: &[usize]) -> (usize, usize) {
    (resolve_axis("transpose", a, shape), resolve_axis("transpose", b, shape))
}

/// `t()` of more than 2 axes.
#[cold]
#[track_caller]
fn not_a_matrix(shape: &[usize]) -> ! {
    panic!("t: shape {shape:?} has {} axes; t() transposes at most 2 (use transpose(a, b))", shape.len())
}

/// `squeeze(axis)`'s output shape and the axis resolved: `axis` removed if its size is 1. A
/// scalar accepts axis 0 (and -1) and stays a scalar, as PyTorch.
#[track_caller]
fn squeezed(shape: &[usize], axis: impl Axis) -> (Shape, usize) {
    let mut out = Shape::from_slice(shape);
    if shape.is_empty() && matches!(axis.signed(), 0 | -1) {
        return (out, 0);
    }
    let axis = resolve_axis("squeeze", axis, shape);
    if out[axis] == 1 {
        out.remove(axis);
    }
    (out, axis)
}

/// `unsqueeze(axis)`'s output shape (a size-1 axis inserted) and the axis resolved among the
/// `rank + 1` places.
#[track_caller]
fn unsqueezed(shape: &[usize], axis: impl Axis) -> (Shape, usize) {
    let axis = resolve_new_axis("unsqueeze", axis, shape);
    let mut out = Shape::from_slice(shape);
    out.insert(axis, 1);
    (out, axis)
}

/// The same moves on plain tensors, outside any tape (a large tensor's transpose is a view,
/// as [`Var::transpose`]'s).
impl Tensor {
    /// Swaps axes `a` and `b` (`-1`: the last).
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let t = Tensor::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(t.transpose(0, -1).data(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    /// assert_eq!(t.t(), t.transpose(0, 1));
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn transpose(&self, a: impl Axis, b: impl Axis) -> Tensor {
        let (a, b) = transpose_axes(a, b, self.shape());
        self.transposed(a, b)
    }

    /// The transpose of a matrix, as `torch.Tensor.t()` (a scalar or vector as it is);
    /// panics for more than 2 axes.
    #[track_caller]
    pub fn t(&self) -> Tensor {
        match self.rank() {
            2 => self.transposed(0, 1),
            0 | 1 => self.clone(),
            _ => not_a_matrix(self.shape()),
        }
    }

    /// Removes `axis` (`-1`: the last) if its size is 1, as `torch.squeeze(x, dim)`.
    #[track_caller]
    pub fn squeeze(&self, axis: impl Axis) -> Tensor {
        self.share_as(&squeezed(self.shape(), axis).0)
    }

    /// Inserts an axis of size 1 at `axis` (`0..=rank`; `-1` puts it last), as
    /// `torch.unsqueeze`.
    #[track_caller]
    pub fn unsqueeze(&self, axis: impl Axis) -> Tensor {
        self.share_as(&unsqueezed(self.shape(), axis).0)
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
    /// index, so the gradient is swapped back: `dx = transpose(g)` (same axes; a view of the
    /// upstream gradient when it is large).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| cx.upstream().transposed(self.axes.0, self.axes.1));
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
        if cx.wants(0) {
            let shape = cx.input_shape(0).to_vec();
            let dx = cx.upstream_as(&shape);
            cx.add(0, dx);
        }
    }

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| cx.upstream().reshape(&cx.input_shape(0)));
    }
}

#[cfg(test)]
mod tests {
    use crate::tensor::Tensor;
    use crate::tensor::shape::{numel, strides, unravel};

    /// A transpose against the definition, element by element, for every pair of axes of
    /// shapes with and without size-1 and size-0 axes (inner runs of 1 and more): small ones
    /// (copies) and large ones (views, read through `data`).
    #[test]
    fn transpose_moves_every_element_where_the_definition_puts_it() {
        let shapes: [&[usize]; 9] = [
            &[3, 4],
            &[2, 3, 4],
            &[2, 1, 3, 5],
            &[2, 3, 2, 4, 3],
            &[4, 0, 3],
            &[1, 7],
            &[40, 50],
            &[4, 16, 2, 8],
            &[3, 1, 20, 30],
        ];
        for shape in shapes {
            let x: Vec<f64> = (0..numel(shape)).map(|i| i as f64 + 0.5).collect();
            let large = x.len() >= crate::tensor::storage::SHARE_MIN_LEN;
            let t = Tensor::new(x.clone(), shape).unwrap();
            for a in 0..shape.len() {
                for b in 0..shape.len() {
                    let y = t.transposed(a, b);
                    let mut expected_shape = shape.to_vec();
                    expected_shape.swap(a, b);
                    assert_eq!(y.shape(), expected_shape.as_slice());
                    let read = strides(shape);
                    let expected: Vec<f64> = (0..x.len())
                        .map(|at| {
                            let mut index = unravel(at, &expected_shape);
                            index.swap(a, b);
                            x[index.iter().zip(&read).map(|(i, s)| i * s).sum::<usize>()]
                        })
                        .collect();
                    assert_eq!(y.data(), expected.as_slice(), "{shape:?} axes ({a}, {b})");
                    // A view exactly when the elements move and the buffer is large enough to share.
                    assert_eq!(y.is_view(), large && expected != x, "{shape:?} axes ({a}, {b})");
                    // Swapping back reads the input's order again: an ordinary tensor, equal to it.
                    let back = y.transposed(a, b);
                    assert!(!back.is_view() && back == t, "{shape:?} axes ({a}, {b}) and back");
                }
            }
        }
    }
}
