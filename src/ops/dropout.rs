//! `dropout(p, rng)`: zeroes each element with probability `p` and scales the kept ones by
//! `1 / (1 - p)`, as PyTorch's `F.dropout(x, p, training=True)`, so that the expected value
//! is unchanged. The mask is kept as one flag per element, not as a float buffer.

use rand::{Rng, RngExt};

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of, short};
use crate::tensor::Tensor;
use crate::tensor::buffer;

/// `dropout(p)`: which elements were kept, and their scale `1 / (1 - p)`.
#[derive(Clone, Debug)]
pub(crate) struct Dropout {
    p: f64,
    keep: Vec<bool>,
}

impl Dropout {
    /// The factor element `i` was multiplied by: `1/(1-p)` if kept, else 0 (as PyTorch's CPU
    /// kernel, which multiplies by the mask, so that a dropped NaN or inf gives NaN).
    fn factor(&self, kept: bool) -> f64 {
        if kept { 1.0 / (1.0 - self.p) } else { 0.0 }
    }
}

impl Rule for Dropout {
    fn name(&self) -> String {
        format!("dropout({})", short(self.p))
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("mask", bytes_of(&self.keep))
    }

    /// `y_i = x_i m_i` with the constant factor `m_i` (`1/(1-p)` or 0), so `dx_i = g_i m_i`.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let g = cx.upstream();
            let dx = g.data().iter().zip(&self.keep).map(|(&gi, &k)| gi * self.factor(k));
            Tensor::from_parts(buffer::collect(g.numel(), dx), g.shape())
        });
    }

    /// `dx = g * m`, the mask of factors a constant (it does not depend on `x`).
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let shape = cx.input_shape(0);
            let m = buffer::collect(self.keep.len(), self.keep.iter().map(|&k| self.factor(k)));
            cx.upstream() * cx.constant(Tensor::from_parts(m, &shape))
        });
    }
}

impl<'t> Var<'t> {
    /// Training-time dropout, as `torch.nn.functional.dropout(x, p, training=True)`: each
    /// element is zeroed with probability `p` (drawn from `rng`) and the others are multiplied
    /// by `1 / (1 - p)`. The gradient flows through the kept elements with the same factor.
    /// `p = 0` is the identity and `p = 1` gives zeros, neither drawing from `rng` (as
    /// PyTorch). For evaluation, do not call it (PyTorch's `training=False`).
    ///
    /// Panics when `p` is outside `[0, 1]` (or NaN).
    ///
    /// ```
    /// use rand::SeedableRng;
    /// use tapegrad::{Tape, Tensor};
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::ones(&[1000]));
    /// let y = x.dropout(0.25, &mut rng);
    /// // Every element is 0 or 1 / 0.75, and about a quarter are 0.
    /// let zeros = y.value().data().iter().filter(|&&v| v == 0.0).count();
    /// assert!(y.value().data().iter().all(|&v| v == 0.0 || v == 1.0 / 0.75));
    /// assert!((200..300).contains(&zeros));
    /// ```
    #[track_caller]
    pub fn dropout<R: Rng + ?Sized>(self, p: f64, rng: &mut R) -> Var<'t> {
        let (y, op) = {
            let x = self.value_ref();
            assert!(
                (0.0..=1.0).contains(&p),
                "dropout: probability {p} is outside [0, 1] (input of shape {:?})",
                x.shape()
            );
            let keep: Vec<bool> = match p {
                0.0 => vec![true; x.numel()],
                1.0 => vec![false; x.numel()],
                _ => (0..x.numel()).map(|_| !rng.random_bool(p)).collect(),
            };
            let op = Dropout { p, keep };
            let y = x.data().iter().zip(&op.keep).map(|(&xi, &k)| xi * op.factor(k));
            (Tensor::from_parts(buffer::collect(x.numel(), y), x.shape()), op)
        };
        self.tape.record(op, &[self], y)
    }
}
