//! Picking elements by position: `index_select(axis, ids)` (whole slices along an axis, as
//! `embedding` picks rows) and `gather(axis, index)` (one element per index entry). The
//! backward of both is a scatter-add: an element picked several times gets every pick's
//! gradient. For `backward_graph` each scatter-add is an op of its own ([`IndexAdd`],
//! [`ScatterAdd`]), whose backward is again the pick.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::error::Error;
use crate::ops::resolve_axis;
use crate::tensor::Tensor;
use crate::tensor::axis::Axis;
use crate::tensor::buffer::{self, Data};
use crate::tensor::indices::{AsIndices, GatherIndex};
use crate::tensor::parallel::{for_each_block, rows_per_block};
use crate::tensor::shape::{AxisSplit, Shape, for_each_broadcast, numel, split_at_axis, strides, unravel};

/// The slices `ids` of the middle axis of `x` viewed as `[outer, len, inner]`, in that order:
/// `[outer, ids.len(), inner]`.
pub(crate) fn select_along(x: &[f64], AxisSplit { outer, len, inner }: AxisSplit, ids: &[usize]) -> Data {
    // Every element is written: one slice of `inner` per (outer position, id); a large result is
    // split over the cores by slices.
    let slices = outer * ids.len();
    let mut out = buffer::scratch(slices * inner);
    if inner == 0 || ids.is_empty() {
        return out;
    }
    let per = rows_per_block(slices, inner);
    for_each_block(out.chunks_mut(per * inner).enumerate(), |(b, out)| {
        for (k, out) in out.chunks_exact_mut(inner).enumerate() {
            let slice = b * per + k;
            let (o, id) = (slice / ids.len(), ids[slice % ids.len()]);
            let at = (o * len + id) * inner;
            out.copy_from_slice(&x[at..at + inner]);
        }
    });
    out
}

/// The adjoint of [`select_along`]: `g` (`[outer, ids.len(), inner]`) added into zeros of
/// `[outer, len, inner]` at the slices `ids`; a slice picked twice gets both.
pub(crate) fn scatter_add_along(g: &[f64], AxisSplit { outer, len, inner }: AxisSplit, ids: &[usize]) -> Data {
    let mut dx = buffer::zeroed(outer * len * inner);
    for o in 0..outer {
        for (i, &id) in ids.iter().enumerate() {
            let (to, from) = ((o * len + id) * inner, (o * ids.len() + i) * inner);
            for (d, gi) in dx[to..to + inner].iter_mut().zip(&g[from..from + inner]) {
                *d += gi;
            }
        }
    }
    dx
}

/// `x[from[i]]` for each `i`: gather's forward, by flat offsets.
fn take(x: &[f64], from: &[usize]) -> Data {
    buffer::collect(from.len(), from.iter().map(|&f| x[f]))
}

/// The adjoint of [`take`]: `g[i]` added into zeros of length `n` at `from[i]`; an offset
/// taken twice gets both.
fn put_add(g: &[f64], from: &[usize], n: usize) -> Data {
    let mut dx = buffer::zeroed(n);
    for (&f, gi) in from.iter().zip(g) {
        dx[f] += gi;
    }
    dx
}

impl<'t> Var<'t> {
    /// The slices `ids` along `axis`, in that order, as `torch.index_select(x, dim, ids)`: the
    /// output has `ids.len()` on `axis`. An id may repeat (its slice's gradient is summed).
    ///
    /// `ids` is a flat list or 1-D [`Indices`](crate::Indices) (a rank-0 one picks one slice),
    /// as PyTorch's.
    ///
    /// Panics when the axis is out of range, `ids` has more than one axis, or an id is outside
    /// `0..shape[axis]`.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::from_fn(&[2, 3], |ix| (ix[0] * 3 + ix[1]) as f64));
    /// let y = x.index_select(1, &[2, 0, 2]);
    /// assert_eq!(y.value().data(), &[2.0, 0.0, 2.0, 5.0, 3.0, 5.0]);
    /// assert_eq!(y.sum().backward().wrt(x).unwrap().data(), &[1.0, 0.0, 2.0, 1.0, 0.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn index_select(self, axis: impl Axis, ids: impl AsIndices) -> Var<'t> {
        let ids = ids.as_indices();
        let (y, axis) = {
            let x = self.value_ref();
            let shape = x.shape();
            let axis = resolve_axis("index_select", axis, shape);
            let ids = ids.list("index_select", shape);
            let n = shape[axis];
            if let Some((at, &id)) = ids.iter().enumerate().find(|&(_, &id)| id >= n) {
                panic!(
                    "index_select: id {id} at position {at} is outside 0..{n} for axis {axis} of input shape {shape:?}"
                );
            }
            let mut out_shape = Shape::from_slice(shape);
            out_shape[axis] = ids.len();
            (Tensor::from_parts(select_along(x.data(), split_at_axis(shape, axis), ids), &out_shape), axis)
        };
        self.tape.record(IndexSelect { axis, ids: ids.into_owned().into_data() }, &[self], y)
    }

    /// Picks one element per entry of `index` along `axis`, as `torch.gather(x, dim, index)`:
    /// `out[i][j][k] = x[index[i][j][k]][j][k]` for `axis = 0` (and likewise for the others).
    /// `index` is [`Indices`](crate::Indices) (PyTorch's `LongTensor`) or an `f64` tensor of
    /// whole numbers; it has the input's rank and is no larger than the input on the other
    /// axes; the output has `index`'s shape. An element picked several times gets the sum of
    /// their gradients.
    ///
    /// Panics when the ranks differ, `index` is larger than the input on another axis, or an
    /// entry is not a whole number in `0..shape[axis]`.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?);
    /// let index = Tensor::new(vec![0.0, 0.0, 1.0, 0.0], &[2, 2])?;
    /// let y = x.gather(1, &index); // torch.gather(x, 1, tensor([[0, 0], [1, 0]]))
    /// assert_eq!(y.value().data(), &[1.0, 1.0, 4.0, 3.0]);
    /// assert_eq!(y.sum().backward().wrt(x).unwrap().data(), &[2.0, 0.0, 1.0, 1.0]);
    /// // The value at each row's arg-max (index shape [2, 1]):
    /// let argmax: Vec<f64> = x.value().argmax_axis(1).iter().map(|&i| i as f64).collect();
    /// let best = x.gather(1, &Tensor::new(argmax, &[2, 1])?);
    /// assert_eq!(best.value().data(), &[2.0, 4.0]);
    /// // The same pick with integer indices:
    /// let y2 = x.gather(1, &tapegrad::Indices::from([[0, 0], [1, 0]]));
    /// assert_eq!(y2.value(), y.value());
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn gather(self, axis: impl Axis, index: impl GatherIndex) -> Var<'t> {
        let (y, axis, from) = {
            let x = self.value_ref();
            let xs = x.shape();
            let axis = resolve_axis("gather", axis, xs);
            let n = xs[axis];
            let index = index.to_indices().unwrap_or_else(|e| match e {
                Error::NotAnIndex { value, position, shape, .. } => panic!(
                    "gather: index {value} at {position:?} is outside 0..{n} (or not a whole number) for axis {axis} of \
                     input shape {xs:?} (index shape {shape:?})"
                ),
                other => panic!("gather: {other}"),
            });
            let is = index.shape();
            assert!(is.len() == xs.len(), "gather: index of shape {is:?} and input of shape {xs:?} differ in rank");
            if let Some(d) = (0..xs.len()).find(|&d| d != axis && is[d] > xs[d]) {
                panic!("gather: index of shape {is:?} is larger than input of shape {xs:?} on axis {d}");
            }
            // The input offset of each index entry without its `axis` part, visited row-major.
            let mut base = strides(xs);
            let step = std::mem::replace(&mut base[axis], 0);
            let data = index.data();
            let mut from = Vec::with_capacity(index.numel());
            for_each_broadcast(is, &base, &base, |at, _| {
                let (i, v) = (from.len(), data[from.len()]);
                if v >= n {
                    panic!(
                        "gather: index {v} at {:?} is outside 0..{n} (or not a whole number) for axis {axis} of input \
                         shape {xs:?} (index shape {is:?})",
                        unravel(i, is)
                    );
                }
                from.push(at + v * step);
            });
            let out = take(x.data(), &from);
            (Tensor::from_parts(out, is), axis, from)
        };
        self.tape.record(Gather { axis, from }, &[self], y)
    }
}

/// `index_select(axis, ids)`.
#[derive(Clone, Debug)]
pub(crate) struct IndexSelect {
    axis: usize,
    ids: Vec<usize>,
}

impl Rule for IndexSelect {
    fn name(&self) -> String {
        format!("index_select({})", self.axis)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("ids", bytes_of(&self.ids))
    }

    /// Output slice `i` is a copy of input slice `ids[i]`, so
    /// `dx[.., r, ..] = sum_{i : ids[i] = r} g[.., i, ..]`, a scatter-add along the axis.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let shape = cx.input_shape(0);
            Tensor::from_parts(
                scatter_add_along(cx.upstream().data(), split_at_axis(shape, self.axis), &self.ids),
                shape,
            )
        });
    }

    /// The same scatter-add, recorded as an [`IndexAdd`] node.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| IndexAdd::record(cx.upstream(), self.axis, &self.ids, &cx.input_shape(0)));
    }
}

/// The backward of `index_select(axis, ids)` (and of `embedding`, along axis 0) as a node,
/// recorded by `backward_graph` only: PyTorch's `index_add` into zeros. Input slice `i` along
/// `axis` is added into output slice `ids[i]`.
#[derive(Clone, Debug)]
pub(crate) struct IndexAdd {
    axis: usize,
    ids: Vec<usize>,
}

impl IndexAdd {
    /// Records `g` scattered into zeros of `shape` (which has `g`'s shape but on `axis`).
    #[track_caller]
    pub(crate) fn record<'t>(g: Var<'t>, axis: usize, ids: &[usize], shape: &[usize]) -> Var<'t> {
        let y = Tensor::from_parts(scatter_add_along(g.value_ref().data(), split_at_axis(shape, axis), ids), shape);
        g.tape.record(IndexAdd { axis, ids: ids.to_vec() }, &[g], y)
    }
}

impl Rule for IndexAdd {
    fn name(&self) -> String {
        format!("index_add({})", self.axis)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("ids", bytes_of(&self.ids))
    }

    /// Input slice `i` went into output slice `ids[i]` with weight 1: `dx[.., i, ..] =
    /// g[.., ids[i], ..]`, the `index_select`.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let g = cx.upstream();
            let data = select_along(g.data(), split_at_axis(g.shape(), self.axis), &self.ids);
            Tensor::from_parts(data, cx.input_shape(0))
        });
    }

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| cx.upstream().index_select(self.axis, &self.ids));
    }
}

/// `gather(axis, index)`: `from[i]` is the input offset output element `i` was read from.
#[derive(Clone, Debug)]
pub(crate) struct Gather {
    axis: usize,
    from: Vec<usize>,
}

impl Rule for Gather {
    fn name(&self) -> String {
        format!("gather({})", self.axis)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("index", bytes_of(&self.from))
    }

    /// Output element `i` is a copy of input element `from[i]`: `dx[from[i]] += g[i]` (PyTorch's
    /// `scatter_add`), zero where nothing was picked.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let shape = cx.input_shape(0);
            Tensor::from_parts(put_add(cx.upstream().data(), &self.from, numel(shape)), shape)
        });
    }

    /// The same scatter-add, recorded as a [`ScatterAdd`] node.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let (g, shape) = (cx.upstream(), cx.input_shape(0));
            let y = Tensor::from_parts(put_add(g.value_ref().data(), &self.from, numel(&shape)), &shape);
            g.tape.record(ScatterAdd { axis: self.axis, from: self.from.clone() }, &[g], y)
        });
    }
}

/// The backward of `gather(axis, index)` as a node, recorded by `backward_graph` only:
/// PyTorch's `scatter_add` into zeros. Input element `i` is added into output element
/// `from[i]` (the gather's offsets).
#[derive(Clone, Debug)]
pub(crate) struct ScatterAdd {
    axis: usize,
    from: Vec<usize>,
}

impl Rule for ScatterAdd {
    fn name(&self) -> String {
        format!("scatter_add({})", self.axis)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("index", bytes_of(&self.from))
    }

    /// Input element `i` went into output element `from[i]` with weight 1: `dx[i] =
    /// g[from[i]]`, the gather.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| Tensor::from_parts(take(cx.upstream().data(), &self.from), cx.input_shape(0)));
    }

    /// The gather, recorded as a [`Gather`] node with the same offsets.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let g = cx.upstream();
            let y = Tensor::from_parts(take(g.value_ref().data(), &self.from), &cx.input_shape(0));
            g.tape.record(Gather { axis: self.axis, from: self.from.clone() }, &[g], y)
        });
    }
}
