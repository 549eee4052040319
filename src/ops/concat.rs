//! `concat` (join along an axis), `stack` (join along a new axis) and `narrow` (a contiguous
//! slice along an axis): narrow is the backward of the other two, and they of it.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::ops::{resolve_axis, resolve_new_axis};
use crate::tensor::Tensor;
use crate::tensor::axis::Axis;
use crate::tensor::buffer::{self, Data};
use crate::tensor::parallel::{for_each_block, rows_per_block};
use crate::tensor::shape::{AxisSplit, numel, split_at_axis};

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
    pub fn concat(parts: &[Var<'t>], axis: impl Axis) -> Var<'t> {
        let Some(&first) = parts.first() else { panic!("concat: no tensors to join") };
        let (y, axis, sizes) = {
            let values: Vec<_> = parts.iter().map(|p| p.value_ref()).collect();
            let shapes: Vec<&[usize]> = values.iter().map(|v| v.shape()).collect();
            let axis = resolve_axis("concat", axis, shapes[0]);
            let agree = shapes.iter().all(|s| {
                s.len() == shapes[0].len() && s.iter().zip(shapes[0]).enumerate().all(|(i, (a, b))| i == axis || a == b)
            });
            assert!(agree, "concat: shapes {shapes:?} differ outside axis {axis}");
            let sizes: Vec<usize> = shapes.iter().map(|s| s[axis]).collect();
            let AxisSplit { outer, inner, .. } = split_at_axis(shapes[0], axis);
            let mut out_shape = shapes[0].to_vec();
            out_shape[axis] = crate::tensor::shape::checked_sum("concat", &shapes, &sizes);
            crate::tensor::shape::check_shape("concat", &shapes, &out_shape);
            (Tensor::from_parts(join(&values, &sizes, outer, inner), &out_shape), axis, sizes)
        };
        first.tape.record(Concat { axis, sizes }, parts, y)
    }

    /// Joins `parts`, all of one shape, along a new axis inserted at `axis` (`0..=rank`), as
    /// `torch.stack`: the output has shape `[.., parts.len(), ..]` with the new axis at
    /// `axis`, and `Var::stack(&[a, b], k)` is `Var::concat(&[a.unsqueeze(k), b.unsqueeze(k)], k)`
    /// recorded as one node.
    ///
    /// Panics when `parts` is empty, the shapes differ or `axis > rank`.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor, Var};
    /// let tape = Tape::new();
    /// let a = tape.var(Tensor::new(vec![1.0, 2.0], &[2])?);
    /// let b = tape.var(Tensor::new(vec![3.0, 4.0], &[2])?);
    /// assert_eq!(Var::stack(&[a, b], 0).value().data(), &[1.0, 2.0, 3.0, 4.0]);
    /// let c = Var::stack(&[a, b], 1);
    /// assert_eq!((c.shape(), c.value().data()), (vec![2, 2], &[1.0, 3.0, 2.0, 4.0][..]));
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn stack(parts: &[Var<'t>], axis: impl Axis) -> Var<'t> {
        let Some(&first) = parts.first() else { panic!("stack: no tensors to stack") };
        let (y, axis) = {
            let values: Vec<_> = parts.iter().map(|p| p.value_ref()).collect();
            let shapes: Vec<&[usize]> = values.iter().map(|v| v.shape()).collect();
            assert!(
                shapes.iter().all(|s| *s == shapes[0]),
                "stack: shapes {shapes:?} differ; stack needs equal shapes"
            );
            let axis = resolve_new_axis("stack", axis, shapes[0]);
            // Each part is a block of size 1 along the new axis.
            let (outer, inner) = (numel(&shapes[0][..axis]), numel(&shapes[0][axis..]));
            let mut out_shape = shapes[0].to_vec();
            out_shape.insert(axis, parts.len());
            crate::tensor::shape::check_shape("stack", &shapes, &out_shape);
            (Tensor::from_parts(join(&values, &vec![1; parts.len()], outer, inner), &out_shape), axis)
        };
        first.tape.record(Stack { axis }, parts, y)
    }

    /// The slice `start..start + len` along `axis`, like `torch.narrow`: of a large tensor, a
    /// view of its buffer (no copy; see [`Var::transpose`]), which `reshape` keeps a view when
    /// strides can read it with the new shape, and `matmul` reads in place.
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
    pub fn narrow(self, axis: impl Axis, start: usize, len: usize) -> Var<'t> {
        let x = self.value_ref();
        let axis = narrow_axis(x.shape(), axis, start, len);
        let y = x.narrowed(axis, start, len);
        drop(x);
        self.tape.record(Narrow { axis, start }, &[self], y)
    }
}

/// `narrow`'s axis resolved (`-1` is the last), with the slice checked to fit.
#[track_caller]
fn narrow_axis(shape: &[usize], axis: impl Axis, start: usize, len: usize) -> usize {
    let axis = resolve_axis("narrow", axis, shape);
    crate::tensor::shape::check_slice("narrow", shape, axis, start, len);
    axis
}

impl Tensor {
    /// The slice `start..start + len` along `axis` (`-1`: the last), as `torch.narrow`,
    /// outside any tape (of a large tensor, a view, as [`Var::narrow`]'s).
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let t = Tensor::from_fn(&[2, 3], |ix| (ix[0] * 3 + ix[1]) as f64);
    /// assert_eq!(t.narrow(-1, 1, 2).data(), &[1.0, 2.0, 4.0, 5.0]);
    /// ```
    #[track_caller]
    pub fn narrow(&self, axis: impl Axis, start: usize, len: usize) -> Tensor {
        self.narrowed(narrow_axis(self.shape(), axis, start, len), start, len)
    }
}

/// The blocks of `values` joined along an axis: for each of the `outer` positions before the
/// axis, each part's `sizes[k] * inner` elements in turn. Concat's and stack's forward.
fn join<T: std::ops::Deref<Target = Tensor>>(values: &[T], sizes: &[usize], outer: usize, inner: usize) -> Data {
    // A row of the output: a factor of its (checked) size, or 0 when `inner` is.
    let row = sizes.iter().sum::<usize>() * inner;
    if row == 0 {
        // Nothing to copy, however many rows of nothing: a shape like [2^40, 0] joined along
        // its second axis must not loop 2^40 times.
        return buffer::with_capacity(0);
    }
    let mut out = buffer::with_capacity(outer * row);
    for o in 0..outer {
        for (v, &len) in values.iter().zip(sizes) {
            out.extend_from_slice(&v.data()[o * len * inner..(o + 1) * len * inner]);
        }
    }
    out
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
    /// that block of `g` (a `narrow` of `g`: a view of it when it is large).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let mut start = 0;
        for (k, &len) in self.sizes.iter().enumerate() {
            cx.add_with(k, |cx| cx.upstream().narrowed(self.axis, start, len));
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

/// Join along a new axis.
#[derive(Clone, Debug)]
pub(crate) struct Stack {
    axis: usize,
}

impl Rule for Stack {
    fn name(&self) -> String {
        format!("stack({})", self.axis)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    /// Part `k` was copied to index `k` of the new axis, so its gradient is that slice of `g`
    /// (with the new axis removed: the part's shape; a view of `g` when it is large).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        for k in 0..cx.arity() {
            cx.add_with(k, |cx| cx.upstream().narrowed(self.axis, k, 1).share_as(cx.input_shape(k)));
        }
    }

    /// The same slice, recorded: `g.narrow(axis, k, 1)` with the new axis squeezed away.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        for k in 0..cx.arity() {
            cx.add_with(k, |cx| cx.upstream().narrow(self.axis, k, 1).squeeze(self.axis));
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
    /// `dx` is zero with `g` written into the slice (a concat of zeros, `g`, zeros). Only the
    /// slice is added to the input's gradient: the three narrows that split attention's fused
    /// QKV projection fill one gradient between them.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let (axis, start) = (self.axis, self.start);
        let shape = cx.input_shape(0).to_vec();
        let AxisSplit { outer, len: n, inner } = split_at_axis(&shape, axis);
        // Each outer position is a row of `n * inner` elements of `dx`, whose elements
        // `start * inner..` take the `block` elements of `g` at that position. Large gradients
        // are split over the cores by rows.
        let row = n * inner;
        let offset = start * inner;
        let block_of = |g: &Tensor| g.shape()[axis] * inner;
        let per = rows_per_block(outer, row);
        cx.add_in_place(
            0,
            |g| {
                let block = block_of(g);
                if block == 0 {
                    return Tensor::zeros(&shape);
                }
                // Written whole: zeros around the slice, the slice copied (no zero fill first).
                let mut dx = buffer::scratch(outer * row);
                for_each_block(dx.chunks_mut(per * row).zip(g.data().chunks(per * block)), |(dx, g)| {
                    for (dx, g) in dx.chunks_exact_mut(row).zip(g.chunks_exact(block)) {
                        let (before, rest) = dx.split_at_mut(offset);
                        let (slice, after) = rest.split_at_mut(block);
                        before.fill(0.0);
                        slice.copy_from_slice(g);
                        after.fill(0.0);
                    }
                });
                Tensor::from_parts(dx, &shape)
            },
            |g, dx| {
                let block = block_of(g);
                if block == 0 {
                    return;
                }
                for_each_block(dx.data_mut().chunks_mut(per * row).zip(g.data().chunks(per * block)), |(dx, g)| {
                    for (dx, g) in dx.chunks_exact_mut(row).zip(g.chunks_exact(block)) {
                        dx[offset..offset + block].iter_mut().zip(g).for_each(|(d, &g)| *d += g);
                    }
                });
            },
        );
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
