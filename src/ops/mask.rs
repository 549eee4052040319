//! Ops chosen by a mask: `masked_fill(mask, value)` replaces the elements where a (broadcast)
//! mask is set by a constant; `Var::where_(cond, a, b)` takes each element from `a` or `b`;
//! and [`causal_mask`], the mask of a decoder's attention scores.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::kernels::broadcast::expand;
use crate::ops::broadcast::sum_to_shape;
use crate::tensor::Tensor;
use crate::tensor::buffer;
use crate::tensor::parallel::{for_each_block, rows_per_block};
use crate::tensor::shape::{BinaryLayout, binary_layout, broadcast_shapes, for_each_binary};

/// The causal mask of `t` positions, shape `[t, t]`: 1.0 where position `i` (row) must not
/// see position `j` (column), that is `j > i`; 0.0 elsewhere. Feed it to
/// [`Var::masked_fill`] with `f64::NEG_INFINITY` before a softmax over `j`.
///
/// ```
/// let m = tapegrad::causal_mask(3);
/// assert_eq!(m.data(), &[0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
/// ```
pub fn causal_mask(t: usize) -> Tensor {
    Tensor::from_fn(&[t, t], |ix| if ix[1] > ix[0] { 1.0 } else { 0.0 })
}

impl<'t> Var<'t> {
    /// Replaces every element where `mask` is non-zero by `value`; `mask` is a constant
    /// tensor (1.0 = fill, 0.0 = keep) that broadcasts to this variable's shape, as PyTorch's
    /// `masked_fill`. With `value = -inf` before a softmax, the filled entries get weight 0.
    ///
    /// Panics when the mask does not broadcast to the input's shape.
    ///
    /// ```
    /// use tapegrad::{causal_mask, Tape, Tensor};
    /// let tape = Tape::new();
    /// let scores = tape.var(Tensor::zeros(&[2, 2, 2])); // two heads of 2 x 2 scores
    /// let w = scores.masked_fill(&causal_mask(2), f64::NEG_INFINITY).softmax(2);
    /// assert_eq!(w.value().data(), &[1.0, 0.0, 0.5, 0.5, 1.0, 0.0, 0.5, 0.5]);
    /// ```
    #[track_caller]
    pub fn masked_fill(self, mask: &Tensor, value: f64) -> Var<'t> {
        let (y, filled) = {
            let x = self.value_ref();
            let (xs, ms) = (x.shape(), mask.shape());
            let fits = broadcast_shapes(xs, ms).is_some_and(|s| s.as_slice() == xs);
            assert!(fits, "masked_fill: mask of shape {ms:?} does not broadcast to input of shape {xs:?}");
            let md = mask.data();
            // The mask usually repeats over leading axes (a [t, t] causal mask over
            // [batch, heads, t, t] scores): then one period of flags is kept, and the loops go
            // one repetition at a time.
            let layout = binary_layout(xs, ms, xs);
            let period = match layout {
                BinaryLayout::RowsOfB(row) => row,
                _ => x.numel(),
            };
            let mut filled = vec![false; period];
            match layout {
                BinaryLayout::Same | BinaryLayout::RowsOfB(_) => {
                    filled.iter_mut().zip(md).for_each(|(f, &m)| *f = m != 0.0);
                }
                _ => for_each_binary(xs, ms, xs, |i, _, im| filled[i] = md[im] != 0.0),
            }
            let y = fill_where(x.data(), &filled, value);
            (Tensor::from_parts(y, xs), filled)
        };
        self.tape.record(MaskedFill { filled }, &[self], y)
    }
}

/// `x` with `value` wherever `filled[i % filled.len()]` is set (`filled` is one period of the
/// mask's repetition over `x`): masked_fill's forward (`value`) and backward (`0`). Written
/// whole, without branches (so the loop vectorises), split over the cores when large.
fn fill_where(x: &[f64], filled: &[bool], value: f64) -> buffer::Data {
    let period = filled.len();
    let mut y = buffer::scratch(x.len());
    let per = (rows_per_block(x.len() / period.max(1), period) * period).max(1);
    for_each_block(y.chunks_mut(per).zip(x.chunks(per)), |(y, x)| {
        for (yr, xr) in y.chunks_exact_mut(period).zip(x.chunks_exact(period)) {
            for ((yi, &xi), &f) in yr.iter_mut().zip(xr).zip(filled) {
                *yi = if f { value } else { xi };
            }
        }
    });
    y
}

/// Elements replaced by a constant where a mask is set.
#[derive(Clone, Debug)]
pub(crate) struct MaskedFill {
    /// One flag per element of one period of the mask's repetition over the input (a whole
    /// `[t, t]` causal mask for `[batch, heads, t, t]` scores; every element for a mask of
    /// another layout): element `i` was filled when `filled[i % filled.len()]` is set.
    filled: Vec<bool>,
}

impl Rule for MaskedFill {
    fn name(&self) -> String {
        "masked_fill".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("mask", bytes_of(&self.filled))
    }

    /// A kept element is the identity (`dx = g`), a filled one is a constant that does not
    /// depend on `x` (`dx = 0`).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let g = cx.upstream();
            let dx = fill_where(g.data(), &self.filled, 0.0);
            Tensor::from_parts(dx, g.shape())
        });
    }

    /// `dx = masked_fill(g, filled, 0)`, recorded.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let g = cx.upstream();
            let period = self.filled.len();
            let filled =
                (0..g.shape().iter().product()).map(|i| if self.filled[i % period] { 1.0 } else { 0.0 }).collect();
            g.masked_fill(&Tensor::new(filled, &g.shape()).expect("one flag per element"), 0.0)
        });
    }

    /// The filled elements hold the value the user asked for (often `-inf`).
    fn requested_non_finite(&self, i: usize) -> bool {
        self.filled[i % self.filled.len()]
    }
}

impl<'t> Var<'t> {
    /// Each element from `a` where `cond` is non-zero, else from `b`, as
    /// `torch.where(cond, a, b)` (`where` is a Rust keyword, hence the underscore). `cond` is
    /// a constant tensor (1.0 = take `a`, 0.0 = take `b`; NaN counts as set, as any non-zero);
    /// all three broadcast together, and the output has their broadcast shape. The gradient
    /// goes to the operand each element was taken from (summed over its broadcast axes).
    ///
    /// Panics when the three shapes do not broadcast.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor, Var};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![-1.0, 2.0, -3.0], &[3])?);
    /// let zero = tape.constant(Tensor::scalar(0.0));
    /// let positive = x.value().map(|v| if v > 0.0 { 1.0 } else { 0.0 });
    /// let y = Var::where_(&positive, x, zero); // relu, written with where
    /// assert_eq!(y.value().data(), &[0.0, 2.0, 0.0]);
    /// assert_eq!(y.sum().backward().wrt(x).unwrap().data(), &[0.0, 1.0, 0.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[doc(alias = "where")]
    #[track_caller]
    pub fn where_(cond: &Tensor, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        let (y, op) = {
            let (va, vb) = (a.value_ref(), b.value_ref());
            let (cs, sa, sb) = (cond.shape(), va.shape(), vb.shape());
            let out = broadcast_shapes(sa, sb).and_then(|ab| broadcast_shapes(cs, &ab));
            let Some(out) = out else { panic!("where_: shapes {cs:?}, {sa:?} and {sb:?} do not broadcast") };
            let op = Where { cond: cond.data().iter().map(|&c| c != 0.0).collect(), cond_shape: cs.into() };
            let take = op.take_a(&out);
            let (da, db) = (va.data(), vb.data());
            let mut y = buffer::zeroed(take.len());
            for_each_binary(sa, sb, &out, |i, ia, ib| y[i] = if take[i] != 0.0 { da[ia] } else { db[ib] });
            (Tensor::from_parts(y, &out), op)
        };
        a.tape.record(op, &[a, b], y)
    }
}

/// `where_(cond, a, b)`: `cond` as flags, in its own (unbroadcast) shape.
#[derive(Clone, Debug)]
pub(crate) struct Where {
    cond: Vec<bool>,
    // A boxed slice, not a `Shape`: every node is as large as the largest op (see `Op`).
    cond_shape: Box<[usize]>,
}

impl Where {
    /// 1.0 where the output element comes from `a`, 0.0 where from `b`, over the output shape.
    fn take_a(&self, out: &[usize]) -> buffer::Data {
        let flags: Vec<f64> = self.cond.iter().map(|&c| if c { 1.0 } else { 0.0 }).collect();
        expand(&flags, &self.cond_shape, out)
    }
}

impl Rule for Where {
    fn name(&self) -> String {
        "where".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("cond", bytes_of(&self.cond))
    }

    /// Each output element is a copy of `a`'s or of `b`'s element: `da[ia] += g[i]` where
    /// `cond` holds, `db[ib] += g[i]` where it does not (summed over broadcast axes).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let g = cx.upstream();
        let (sa, sb) = (cx.input_shape(0).to_vec(), cx.input_shape(1).to_vec());
        let take = self.take_a(g.shape());
        let (mut da, mut db) = (buffer::zeroed(sa.iter().product()), buffer::zeroed(sb.iter().product()));
        for_each_binary(&sa, &sb, g.shape(), |i, ia, ib| {
            if take[i] != 0.0 { da[ia] += g.data()[i] } else { db[ib] += g.data()[i] }
        });
        cx.add(0, Tensor::from_parts(da, &sa));
        cx.add(1, Tensor::from_parts(db, &sb));
    }

    /// `g` with the elements taken from the other operand filled with 0 (the condition is a
    /// constant mask), summed to each operand's shape.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        let g = cx.upstream();
        let out = g.shape();
        let take = Tensor::from_parts(self.take_a(&out), &out);
        let from_b = take.map(|t| 1.0 - t);
        cx.add_with(0, |cx| sum_to_shape(g.masked_fill(&from_b, 0.0), &cx.input_shape(0)));
        cx.add_with(1, |cx| sum_to_shape(g.masked_fill(&take, 0.0), &cx.input_shape(1)));
    }
}
