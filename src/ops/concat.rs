//! `concat` (join along an axis) and `narrow` (a contiguous slice along an axis): the two are
//! each other's backward.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::ops::check_axis;
use crate::tensor::Tensor;
use crate::tensor::buffer;
use crate::tensor::shape::{AxisSplit, split_at_axis};

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
            let values: Vec<_> = parts.iter().map(|p| p.value_ref()).collect();
            let shapes: Vec<&[usize]> = values.iter().map(|v| v.shape()).collect();
            check_axis("concat", axis, shapes[0]);
            let agree = shapes.iter().all(|s| {
                s.len() == shapes[0].len() && s.iter().zip(shapes[0]).enumerate().all(|(i, (a, b))| i == axis || a == b)
            });
            assert!(agree, "concat: shapes {shapes:?} differ outside axis {axis}");
            let sizes: Vec<usize> = shapes.iter().map(|s| s[axis]).collect();
            let AxisSplit { outer, inner, .. } = split_at_axis(shapes[0], axis);
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
        first.tape.record(Concat { axis, sizes }, parts, y)
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
        self.tape.record(Narrow { axis, start }, &[self], y)
    }
}

/// Elements `start..start + len` of `axis` of `t` (a copy): narrow's forward, and the block of
/// concat's upstream gradient that belongs to one part.
fn slice_along(t: &Tensor, axis: usize, start: usize, len: usize) -> Tensor {
    let AxisSplit { outer, len: n, inner } = split_at_axis(t.shape(), axis);
    let mut out = buffer::with_capacity(outer * len * inner);
    for o in 0..outer {
        let base = (o * n + start) * inner;
        out.extend_from_slice(&t.data()[base..base + len * inner]);
    }
    let mut shape = t.shape().to_vec();
    shape[axis] = len;
    Tensor::from_parts(out, &shape)
}

/// Join along an axis; `sizes` are the parts' sizes along it.
#[derive(Clone, Debug)]
pub(crate) struct Concat {
    axis: usize,
    sizes: Vec<usize>,
}

impl Rule for Concat {
    fn name(&self) -> String {
        format!("concat({})", self.axis)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("sizes", bytes_of(&self.sizes))
    }

    /// Each part's elements were copied into its own block of the output, so its gradient is
    /// that block of `g` (a `narrow` of `g`).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let mut start = 0;
        for (k, &len) in self.sizes.iter().enumerate() {
            cx.add_with(k, |cx| slice_along(cx.upstream(), self.axis, start, len));
            start += len;
        }
    }

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        let mut start = 0;
        for (k, &len) in self.sizes.iter().enumerate() {
            cx.add_with(k, |cx| cx.upstream().narrow(self.axis, start, len));
            start += len;
        }
    }
}

/// The slice `start..start + len` along an axis (`len` is the output's size there).
#[derive(Clone, Debug)]
pub(crate) struct Narrow {
    axis: usize,
    start: usize,
}

impl Rule for Narrow {
    fn name(&self) -> String {
        format!("narrow({}, {})", self.axis, self.start)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    /// The slice's elements are copies of the input's, the rest of the input was not read, so
    /// `dx` is zero with `g` written into the slice (a concat of zeros, `g`, zeros).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let (shape, g) = (cx.input_shape(0), cx.upstream());
            let AxisSplit { outer, len: n, inner } = split_at_axis(shape, self.axis);
            let len = g.shape()[self.axis];
            let mut dx = buffer::zeroed(outer * n * inner);
            for o in 0..outer {
                let base = (o * n + self.start) * inner;
                dx[base..base + len * inner].copy_from_slice(&g.data()[o * len * inner..(o + 1) * len * inner]);
            }
            Tensor::from_parts(dx, shape)
        });
    }

    /// `g` between constant zeros: `concat([0, g, 0], axis)` (empty blocks left out).
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let (shape, g) = (cx.input_shape(0), cx.upstream());
            let len = g.shape()[self.axis];
            let zeros = |size: usize| {
                let mut s = shape.clone();
                s[self.axis] = size;
                cx.constant(Tensor::zeros(&s))
            };
            let after = shape[self.axis] - self.start - len;
            let mut parts = Vec::with_capacity(3);
            if self.start > 0 {
                parts.push(zeros(self.start));
            }
            parts.push(g);
            if after > 0 {
                parts.push(zeros(after));
            }
            if parts.len() == 1 { g } else { Var::concat(&parts, self.axis) }
        });
    }
}
