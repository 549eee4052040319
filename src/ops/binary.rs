//! Elementwise functions of two inputs with NumPy broadcasting: `+ - * /`, `maximum`,
//! `minimum`, and the operator overloads (`Var` with `Var`, `Var` with `f64` on either side, `-Var`).
//!
//! Broadcasting's backward: an input element that was read for several output elements (a
//! broadcast axis) receives the sum of their gradients. One rule, [`backward`], does that for
//! every binary op in one pass (the loops of `kernels::binary`: slice loops for the common
//! layouts, [`for_each_binary`] for the rest), so no op writes its own reduction.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::autograd::{BackwardCx, GraphCx, OpSlip, Rule, Saved, SlipCx, SlipKind, Var, Wants};
pub(crate) use crate::kernels::binary::Binary;
use crate::kernels::binary::{AddOp, Arithmetic, ChainRule, DivOp, MaximumOp, MinimumOp, MulOp, SubOp, eval};
use crate::kernels::broadcast::sum_rows;
use crate::ops::broadcast::{expanded, first_of_broadcast, sum_to_shape};
use crate::ops::unary::{Unary, unary};
use crate::tensor::Tensor;
use crate::tensor::buffer;
use crate::tensor::parallel;
use crate::tensor::shape::{BinaryLayout, binary_layout, broadcast_shapes, for_each_binary, numel};

/// The partial derivatives of one op's [`Arithmetic`] (where each is derived) as recorded
/// ops: the differentiable backward.
trait Chain: Arithmetic {
    /// `g * dy/da` as recorded ops (the differentiable form of the first partial).
    fn chain_a<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t>;
    /// `g * dy/db` as recorded ops.
    fn chain_b<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t>;
}

impl Chain for AddOp {
    fn chain_a<'t>(g: Var<'t>, _: Var<'t>, _: Var<'t>) -> Var<'t> {
        g
    }
    fn chain_b<'t>(g: Var<'t>, _: Var<'t>, _: Var<'t>) -> Var<'t> {
        g
    }
}

impl Chain for SubOp {
    fn chain_a<'t>(g: Var<'t>, _: Var<'t>, _: Var<'t>) -> Var<'t> {
        g
    }
    fn chain_b<'t>(g: Var<'t>, _: Var<'t>, _: Var<'t>) -> Var<'t> {
        -g
    }
}

impl Chain for MulOp {
    fn chain_a<'t>(g: Var<'t>, _: Var<'t>, b: Var<'t>) -> Var<'t> {
        g * b
    }
    fn chain_b<'t>(g: Var<'t>, a: Var<'t>, _: Var<'t>) -> Var<'t> {
        g * a
    }
}

impl Chain for DivOp {
    fn chain_a<'t>(g: Var<'t>, _: Var<'t>, b: Var<'t>) -> Var<'t> {
        g / b
    }
    fn chain_b<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        g * (-(a / b) / b)
    }
}

impl Chain for MaximumOp {
    fn chain_a<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        masked_times::<Self>(g, a, b, Operand::A)
    }
    fn chain_b<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        masked_times::<Self>(g, a, b, Operand::B)
    }
}

impl Chain for MinimumOp {
    fn chain_a<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        masked_times::<Self>(g, a, b, Operand::A)
    }
    fn chain_b<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        masked_times::<Self>(g, a, b, Operand::B)
    }
}

/// The differentiable backward: `g * dy/da` (and `dy/db`) as recorded ops, summed back to each
/// operand's shape with `sum_to_size`.
fn graph_chain_rule<F: Chain>(cx: &mut GraphCx<'_, '_>) {
    let (g, a, b) = (cx.upstream(), cx.input(0), cx.input(1));
    cx.add_with(0, |cx| sum_to_shape(F::chain_a(g, a, b), &cx.input_shape(0)));
    cx.add_with(1, |cx| sum_to_shape(F::chain_b(g, a, b), &cx.input_shape(1)));
}

/// Which operand a partial derivative is taken with respect to.
#[derive(Clone, Copy, PartialEq)]
enum Operand {
    A,
    B,
}

/// The partial derivative of `F` with respect to one operand at the values of `a` and `b`, on
/// their broadcast shape, as a constant on the tape: the differentiable form for ops whose
/// partials are locally constant (maximum, minimum: 1, 0 or 1/2 away from the measure-zero
/// set where the winner changes), so their second derivative is 0. The same [`F::partials`]
/// as the fast backward, so ties and NaN get the same gradient.
#[track_caller]
fn constant_partial<'t, F: Arithmetic>(a: Var<'t>, b: Var<'t>, wrt: Operand) -> Var<'t> {
    let d = {
        let (av, bv) = (a.value_ref(), b.value_ref());
        let shape = broadcast_shapes(av.shape(), bv.shape()).expect("a recorded op's operands broadcast");
        let mut d = buffer::zeroed(numel(&shape));
        for_each_binary(av.shape(), bv.shape(), &shape, |i, ia, ib| {
            let (da, db) = F::partials(av.data()[ia], bv.data()[ib]);
            d[i] = if wrt == Operand::A { da } else { db };
        });
        Tensor::from_parts(d, &shape)
    };
    a.tape.constant(d)
}

/// `g` times the constant partial with respect to `wrt`, filled with 0 where the partial is 0
/// (the recorded form of [`Arithmetic::times`] for `maximum` and `minimum`).
#[track_caller]
fn masked_times<'t, F: Arithmetic>(g: Var<'t>, a: Var<'t>, b: Var<'t>, wrt: Operand) -> Var<'t> {
    let partial = constant_partial::<F>(a, b, wrt);
    let zero = partial.value_ref().map(|p| if p == 0.0 { 1.0 } else { 0.0 });
    g.masked_fill(&zero, 0.0) * partial
}

/// Forward: `y = f(a, b)` on the broadcast shape of `a` and `b`.
#[track_caller]
fn binary<'t>(a: Var<'t>, b: Var<'t>, f: Binary) -> Var<'t> {
    let y = eval(f, &a.value_ref(), &b.value_ref());
    a.tape.record(f, &[a, b], y)
}

impl Rule for Binary {
    fn name(&self) -> String {
        self.label().into()
    }

    /// `+` and `-` read nothing; `*` reads each operand for the other's gradient; `/` reads
    /// `b` for either gradient and `a` for `b`'s; `maximum` and `minimum` read both (see the partials on each [`Arithmetic`]).
    fn saved(&self, wants: Wants<'_>) -> Saved {
        let (a, b) = (wants.input(0), wants.input(1));
        match self {
            Binary::Add | Binary::Sub => Saved::nothing(),
            Binary::Mul => Saved::nothing().input_if(b, 0).input_if(a, 1),
            Binary::Div => Saved::nothing().input_if(a || b, 1).input_if(b, 0),
            // Which operand wins is read from both.
            Binary::Maximum | Binary::Minimum => Saved::nothing().input_if(a || b, 0).input_if(a || b, 1),
        }
    }

    /// The loops below stream both operand buffers whenever a gradient is wanted, whether or
    /// not the arithmetic uses their values (`+` in the general layout, `*` for one operand).
    fn touched(&self, wants: Wants<'_>) -> Saved {
        if wants.input(0) || wants.input(1) { Saved::nothing().input(0).input(1) } else { Saved::nothing() }
    }

    /// `da = sum over broadcast axes of g * dy/da`, and likewise for `b` (the partials are on
    /// each op's [`Arithmetic`] impl). An input element read for several output elements (a
    /// broadcast axis) receives the sum of their gradients: `da[ia] += g[i] * dy/da` for every
    /// output `i`.
    ///
    /// The loops stream both operand buffers; the arithmetic of each op uses only the values
    /// [`Rule::saved`] declares (the memory tests overwrite the others with NaN to prove it).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let (want_a, want_b) = (cx.wants(0), cx.wants(1));
        let (a, b) = (cx.operand(0), cx.operand(1));
        let layout = binary_layout(a.shape(), b.shape(), cx.upstream().shape());
        if let Some(partials) = self.constant_partials()
            && layout != BinaryLayout::General
        {
            for (k, wanted, partial) in [(0, want_a, partials.0), (1, want_b, partials.1)] {
                if wanted {
                    let shape = cx.input_shape(k).to_vec();
                    let grad = pass_on(cx, layout, k, partial, &shape);
                    cx.add(k, grad);
                }
            }
            return;
        }
        let (da, db) = self.dispatch(ChainRule { a, b, g: cx.upstream(), layout, want_a, want_b });
        let (shape_a, shape_b) = (a.shape().to_vec(), b.shape().to_vec());
        if let Some(da) = da {
            cx.add(0, Tensor::from_parts(da, &shape_a));
        }
        if let Some(db) = db {
            cx.add(1, Tensor::from_parts(db, &shape_b));
        }
    }

    /// Each op's [`Chain`], chosen as [`Binary::dispatch`] chooses its arithmetic.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        match self {
            Binary::Add => graph_chain_rule::<AddOp>(cx),
            Binary::Sub => graph_chain_rule::<SubOp>(cx),
            Binary::Mul => graph_chain_rule::<MulOp>(cx),
            Binary::Div => graph_chain_rule::<DivOp>(cx),
            Binary::Maximum => graph_chain_rule::<MaximumOp>(cx),
            Binary::Minimum => graph_chain_rule::<MinimumOp>(cx),
        }
    }

    /// Broadcasting without the sum over the broadcast axes: a broadcast operand's gradient
    /// read at the first position of those axes (one row, for a bias) instead of summed over
    /// all of them.
    fn slips(&self, cx: &SlipCx<'_>) -> Vec<OpSlip> {
        let (a, b, g, y) = (cx.input(0), cx.input(1), cx.upstream(), cx.out_name());
        let out = g.shape();
        (0..2)
            .filter(|&k| cx.input(k).shape() != out)
            .filter_map(|k| {
                let what = format!(
                    "dL/d{y}'s term at the first position of the broadcast axes instead of the sum over them: \
                     the sum over the axes {} was broadcast along dropped",
                    cx.name(k)
                );
                cx.slip(k, SlipKind::DroppedTerm, what, || {
                    // Each output element's term: the gradient of the operand repeated to the
                    // output's shape.
                    let tape = crate::Tape::new();
                    let operand = |i: usize, t: &Tensor| {
                        if i == k { tape.var(expanded(t, out)) } else { tape.constant(t.clone()) }
                    };
                    let (va, vb) = (operand(0, a), operand(1, b));
                    let grads = binary(va, vb, *self).backward_with(g.clone());
                    let terms = grads.wrt(if k == 0 { va } else { vb }).expect("the repeated operand is a var");
                    first_of_broadcast(terms, cx.input(k).shape())
                })
            })
            .collect()
    }
}

/// The backward of `+` and `-` in the common layouts, for input `k` (of `shape`): the upstream
/// gradient times its constant partial `p` (1 or -1). For a full-shape operand that is `g`
/// itself, passed on sharing its buffer (see `tensor::storage`), or `-g`; for a repeated one
/// (the bias of a Linear layer) the sum of `p g` over the rows.
fn pass_on(cx: &mut BackwardCx<'_>, layout: BinaryLayout, k: usize, p: f64, shape: &[usize]) -> Tensor {
    let repeated_row = match (layout, k) {
        (BinaryLayout::RowsOfB(row), 1) | (BinaryLayout::RowsOfA(row), 0) => Some(row),
        (BinaryLayout::General, _) => unreachable!("the general walk has its own loop"),
        _ => None,
    };
    let g = cx.upstream();
    match repeated_row {
        None if p == 1.0 => cx.upstream_as(shape),
        None => {
            let mut d = buffer::scratch(g.numel());
            parallel::map(&mut d, g.data(), |g| p * g);
            Tensor::from_parts(d, shape)
        }
        Some(row) => Tensor::from_parts(sum_rows(g.data(), row, p), shape),
    }
}

/// Implements an operator for `Var op Var`, `Var op f64` and `f64 op Var`. Each is one
/// recorded node; a constant operand is folded into a [`Unary`] op, not put on the tape.
macro_rules! operator {
    ($trait:ident, $method:ident, $binary:expr, |$x:ident, $c:ident| $var_scalar:expr, $scalar_var:expr) => {
        impl<'t> $trait<Var<'t>> for Var<'t> {
            type Output = Var<'t>;
            #[track_caller]
            fn $method(self, rhs: Var<'t>) -> Var<'t> {
                binary(self, rhs, $binary)
            }
        }
        impl<'t> $trait<f64> for Var<'t> {
            type Output = Var<'t>;
            #[track_caller]
            fn $method(self, $c: f64) -> Var<'t> {
                let $x = self;
                $var_scalar
            }
        }
        impl<'t> $trait<Var<'t>> for f64 {
            type Output = Var<'t>;
            #[track_caller]
            fn $method(self, rhs: Var<'t>) -> Var<'t> {
                let ($x, $c) = (rhs, self);
                $scalar_var
            }
        }
    };
}

operator!(Add, add, Binary::Add, |x, c| unary(x, Unary::AddScalar(c)), unary(x, Unary::AddScalar(c)));
operator!(Sub, sub, Binary::Sub, |x, c| unary(x, Unary::AddScalar(-c)), unary(x, Unary::ScalarSub(c)));
operator!(Mul, mul, Binary::Mul, |x, c| unary(x, Unary::MulScalar(c)), unary(x, Unary::MulScalar(c)));
operator!(Div, div, Binary::Div, |x, c| unary(x, Unary::DivScalar(c)), unary(x, Unary::ScalarDiv(c)));

impl<'t> Var<'t> {
    /// The elementwise maximum of two variables, with broadcasting, as `torch.maximum`: NaN
    /// where either is NaN. The gradient goes to the larger; at a tie it is split, half to
    /// each (as PyTorch).
    ///
    /// Panics when the shapes do not broadcast.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let a = tape.var(Tensor::new(vec![1.0, 5.0, 2.0], &[3])?);
    /// let b = tape.var(Tensor::new(vec![3.0, 4.0, 2.0], &[3])?);
    /// let y = a.maximum(b);
    /// assert_eq!(y.value().data(), &[3.0, 5.0, 2.0]);
    /// let grads = y.sum().backward();
    /// assert_eq!(grads.wrt(a).unwrap().data(), &[0.0, 1.0, 0.5]);
    /// assert_eq!(grads.wrt(b).unwrap().data(), &[1.0, 0.0, 0.5]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn maximum(self, other: Var<'t>) -> Var<'t> {
        binary(self, other, Binary::Maximum)
    }

    /// The elementwise minimum of two variables, with broadcasting, as `torch.minimum`: NaN
    /// where either is NaN. The gradient goes to the smaller; at a tie it is split, half to
    /// each (as PyTorch).
    ///
    /// Panics when the shapes do not broadcast.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let a = tape.var(Tensor::new(vec![1.0, 5.0], &[2])?);
    /// let b = tape.constant(Tensor::scalar(2.0));
    /// assert_eq!(a.minimum(b).value().data(), &[1.0, 2.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn minimum(self, other: Var<'t>) -> Var<'t> {
        binary(self, other, Binary::Minimum)
    }
}

impl<'t> Neg for Var<'t> {
    type Output = Var<'t>;
    #[track_caller]
    fn neg(self) -> Var<'t> {
        unary(self, Unary::Neg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;

    /// The slice loops of the common layouts against the general walk, value and gradients,
    /// element by element (gradcheck would not notice a forward and a backward wrong alike).
    #[test]
    fn fast_layouts_match_the_general_walk() {
        let cases: [(&[usize], &[usize]); 5] =
            [(&[2, 3], &[2, 3]), (&[2, 3], &[3]), (&[3], &[2, 3]), (&[2, 3], &[]), (&[2, 3, 4], &[3, 4])];
        for (sa, sb) in cases {
            let a = Tensor::from_fn(sa, |ix| 1.5 + ix.iter().sum::<usize>() as f64);
            let b = Tensor::from_fn(sb, |ix| {
                0.25 + ix.iter().rev().enumerate().map(|(k, &i)| (k + 2) * i).sum::<usize>() as f64
            });
            let out = broadcast_shapes(sa, sb).unwrap();
            let g = Tensor::from_fn(&out, |ix| 1.0 - 0.1 * ix.iter().sum::<usize>() as f64);
            let tape = Tape::new();
            let (va, vb) = (tape.var(a.clone()), tape.var(b.clone()));
            let y = va / vb;
            let grads = y.backward_with(g.clone());
            let (mut expected_y, mut da, mut db) = (vec![0.0; g.numel()], vec![0.0; a.numel()], vec![0.0; b.numel()]);
            for_each_binary(sa, sb, &out, |i, ia, ib| {
                let (x, z) = (a.data()[ia], b.data()[ib]);
                // The same expressions as `DivOp`, so the sums must agree to the bit.
                expected_y[i] = x / z;
                da[ia] += g.data()[i] / z;
                db[ib] += g.data()[i] * (-(x / z) / z);
            });
            assert_eq!(y.value().data(), expected_y.as_slice(), "{sa:?} / {sb:?}");
            assert_eq!(grads.wrt(va).unwrap().data(), da.as_slice(), "{sa:?} / {sb:?}");
            assert_eq!(grads.wrt(vb).unwrap().data(), db.as_slice(), "{sa:?} / {sb:?}");
        }
    }
}
