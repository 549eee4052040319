//! `concat` (join along an axis) and `narrow` (a contiguous slice along an axis): the two are
//! each other's backward.

use crate::buffer;
use crate::ops::{Op, check_axis};
use crate::shape::split_at_axis;
use crate::tape::{GradSink, Var};
use crate::tensor::Tensor;

impl<'t> Var<'t> {
    /// Joins `parts` along `axis`; every other axis must agree. Like `torch.cat`.
    ///
    /// Panics when `parts` is empty, the parts have different ranks, other axes differ or the
    /// axis is out of range.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor, Var};
    /// let tape = Tape::new();
    /// let a = tape.var(Tensor::new(vec![1.0, 2.0], &[2, 1])?);
    /// let b = tape.var(Tensor::new(vec![3.0, 4.0, 5.0, 6.0], &[2, 2])?);
    /// let c = Var::concat(&[a, b], 1);
    /// assert_eq!(c.value().data(), &[1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn concat(parts: &[Var<'t>], axis: usize) -> Var<'t> {
        let Some(&first) = parts.first() else { panic!("concat: no tensors to join") };
        let (y, sizes) = {
            let values: Vec<_> = parts
                .iter()
                .map(|p| {
                    first.same_tape(*p, "concat");
                    p.value_ref()
                })
                .collect();
            let shapes: Vec<&[usize]> = values.iter().map(|v| v.shape()).collect();
            check_axis("concat", axis, shapes[0]);
            let agree = shapes.iter().all(|s| {
                s.len() == shapes[0].len() && s.iter().zip(shapes[0]).enumerate().all(|(i, (a, b))| i == axis || a == b)
            });
            assert!(agree, "concat: shapes {shapes:?} differ outside axis {axis}");
            let sizes: Vec<usize> = shapes.iter().map(|s| s[axis]).collect();
            let (outer, _, inner) = split_at_axis(shapes[0], axis);
            let mut out_shape = shapes[0].to_vec();
            out_shape[axis] = sizes.iter().sum();
            let mut out = buffer::with_capacity(out_shape.iter().product());
            for o in 0..outer {
                for (v, &len) in values.iter().zip(&sizes) {
                    out.extend_from_slice(&v.data()[o * len * inner..(o + 1) * len * inner]);
                }
            }
            (Tensor::from_parts(out, &out_shape), sizes)
        };
        let xs = parts.iter().map(|p| p.id).collect();
        first.tape.record(Op::Concat { xs, axis, sizes }, y)
    }

    /// The slice `start..start + len` along `axis` (a copy), like `torch.narrow`.
    ///
    /// Panics when the axis is out of range or the slice does not fit.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::from_fn(&[2, 3], |ix| (ix[0] * 3 + ix[1]) as f64));
    /// assert_eq!(x.narrow(1, 1, 2).value().data(), &[1.0, 2.0, 4.0, 5.0]);
    /// ```
    #[track_caller]
    pub fn narrow(self, axis: usize, start: usize, len: usize) -> Var<'t> {
        let y = {
            let x = self.value_ref();
            check_axis("narrow", axis, x.shape());
            let n = x.shape()[axis];
            assert!(
                start + len <= n,
                "narrow: slice {start}..{} of axis {axis} is out of range for shape {:?}",
                start + len,
                x.shape()
            );
            slice_along(&x, axis, start, len)
        };
        self.tape.record(Op::Narrow { x: self.id, axis, start }, y)
    }
}

/// Elements `start..start + len` of `axis` of `t` (a copy): narrow's forward, and the block of
/// concat's upstream gradient that belongs to one part.
fn slice_along(t: &Tensor, axis: usize, start: usize, len: usize) -> Tensor {
    let (outer, n, inner) = split_at_axis(t.shape(), axis);
    let mut out = buffer::with_capacity(outer * len * inner);
    for o in 0..outer {
        let base = (o * n + start) * inner;
        out.extend_from_slice(&t.data()[base..base + len * inner]);
    }
    let mut shape = t.shape().to_vec();
    shape[axis] = len;
    Tensor::from_parts(out, &shape)
}

/// Concat backward: each part's elements were copied into its own block of the output, so its
/// gradient is that block of `g` (a `narrow` of `g`).
pub(crate) fn concat_backward(xs: &[usize], axis: usize, sizes: &[usize], g: &Tensor, sink: &mut GradSink) {
    let mut start = 0;
    for (&x_id, &len) in xs.iter().zip(sizes) {
        if sink.wants(x_id) {
            sink.add(x_id, slice_along(g, axis, start, len));
        }
        start += len;
    }
}

/// Narrow backward: the slice's elements are copies of the input's, the rest of the input was
/// not read, so `dx` is zero with `g` written into the slice (a concat of zeros, `g`, zeros).
pub(crate) fn narrow_backward(x_id: usize, x: &Tensor, axis: usize, start: usize, g: &Tensor, sink: &mut GradSink) {
    if !sink.wants(x_id) {
        return;
    }
    let (outer, n, inner) = split_at_axis(x.shape(), axis);
    let len = g.shape()[axis];
    let mut dx = buffer::zeroed(x.numel());
    for o in 0..outer {
        let base = (o * n + start) * inner;
        dx[base..base + len * inner].copy_from_slice(&g.data()[o * len * inner..(o + 1) * len * inner]);
    }
    sink.add(x_id, Tensor::from_parts(dx, x.shape()));
}
