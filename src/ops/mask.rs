//! `masked_fill(mask, value)`: replaces the elements where a (broadcast) mask is set by a
//! constant, and [`causal_mask`], the mask of a decoder's attention scores.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::tensor::Tensor;
use crate::tensor::buffer;
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
            let mut filled = vec![false; x.numel()];
            let mut y = buffer::copy(x.data());
            let md = mask.data();
            // The mask usually repeats over leading axes (a [t, t] causal mask over
            // [batch, heads, t, t] scores): then it is one slice loop per repetition.
            let row = match binary_layout(xs, ms, xs) {
                BinaryLayout::Same => Some(x.numel()),
                BinaryLayout::RowsOfB(row) => Some(row),
                _ => None,
            };
            match row {
                Some(row) if row > 0 => {
                    for (yr, fr) in y.chunks_exact_mut(row).zip(filled.chunks_exact_mut(row)) {
                        for ((yi, fi), &m) in yr.iter_mut().zip(fr).zip(md) {
                            if m != 0.0 {
                                (*yi, *fi) = (value, true);
                            }
                        }
                    }
                }
                _ => for_each_binary(xs, ms, xs, |i, _, im| {
                    if md[im] != 0.0 {
                        (y[i], filled[i]) = (value, true);
                    }
                }),
            }
            (Tensor::from_parts(y, xs), filled)
        };
        self.tape.record(MaskedFill { filled }, &[self], y)
    }
}

/// Elements replaced by a constant where a mask is set (`filled`, one flag per element).
#[derive(Clone, Debug)]
pub(crate) struct MaskedFill {
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
            let dx = g.data().iter().zip(&self.filled).map(|(&gi, &f)| if f { 0.0 } else { gi });
            Tensor::from_parts(buffer::collect(g.numel(), dx), g.shape())
        });
    }

    /// `dx = masked_fill(g, filled, 0)`, recorded.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let g = cx.upstream();
            let filled = self.filled.iter().map(|&f| if f { 1.0 } else { 0.0 }).collect();
            g.masked_fill(&Tensor::new(filled, &g.shape()).expect("one flag per element"), 0.0)
        });
    }

    /// The filled elements hold the value the user asked for (often `-inf`).
    fn requested_non_finite(&self, i: usize) -> bool {
        self.filled[i]
    }
}
