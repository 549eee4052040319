//! Elementwise functions of two inputs with NumPy broadcasting: `+ - * /`, and the operator
//! overloads (`Var` with `Var`, `Var` with `f64` on either side, `-Var`).
//!
//! Broadcasting's backward: an input element that was read for several output elements (a
//! broadcast axis) receives the sum of their gradients. One rule, [`backward`], does that for
//! every binary op in one pass (slice loops for the common layouts, [`for_each_binary`] for
//! the rest), so no op writes its own reduction.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::ops::broadcast::sum_to_shape;
use crate::ops::unary::{Unary, unary};
use crate::tensor::Tensor;
use crate::tensor::buffer::{self, Data};
use crate::tensor::shape::{BinaryLayout, binary_layout, broadcast_shapes, for_each_binary, numel};

/// The binary elementwise functions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

impl Binary {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
        }
    }

    /// Runs `job` with this op's arithmetic as a type, so that the loops inside `job` are
    /// compiled once per op with the arithmetic inlined, not a `match` per element.
    #[inline(always)]
    fn dispatch<J: BinaryJob>(self, job: J) -> J::Output {
        match self {
            Binary::Add => job.run::<AddOp>(),
            Binary::Sub => job.run::<SubOp>(),
            Binary::Mul => job.run::<MulOp>(),
            Binary::Div => job.run::<DivOp>(),
        }
    }
}

/// The arithmetic of one binary op: its function and its partial derivatives.
trait Arithmetic {
    fn apply(a: f64, b: f64) -> f64;
    /// `(dy/da, dy/db)`.
    fn partials(a: f64, b: f64) -> (f64, f64);
    /// `g * dy/da` as recorded ops (the differentiable form of the first partial).
    fn chain_a<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t>;
    /// `g * dy/db` as recorded ops.
    fn chain_b<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t>;
}

/// A computation generic over the op's arithmetic (see [`Binary::dispatch`]).
trait BinaryJob {
    type Output;
    fn run<F: Arithmetic>(self) -> Self::Output;
}

struct AddOp;
struct SubOp;
struct MulOp;
struct DivOp;

/// `a + b`: `(1, 1)`.
impl Arithmetic for AddOp {
    fn apply(a: f64, b: f64) -> f64 {
        a + b
    }
    fn partials(_: f64, _: f64) -> (f64, f64) {
        (1.0, 1.0)
    }
    fn chain_a<'t>(g: Var<'t>, _: Var<'t>, _: Var<'t>) -> Var<'t> {
        g
    }
    fn chain_b<'t>(g: Var<'t>, _: Var<'t>, _: Var<'t>) -> Var<'t> {
        g
    }
}

/// `a - b`: `(1, -1)`.
impl Arithmetic for SubOp {
    fn apply(a: f64, b: f64) -> f64 {
        a - b
    }
    fn partials(_: f64, _: f64) -> (f64, f64) {
        (1.0, -1.0)
    }
    fn chain_a<'t>(g: Var<'t>, _: Var<'t>, _: Var<'t>) -> Var<'t> {
        g
    }
    fn chain_b<'t>(g: Var<'t>, _: Var<'t>, _: Var<'t>) -> Var<'t> {
        -g
    }
}

/// `a * b`: `(b, a)`.
impl Arithmetic for MulOp {
    fn apply(a: f64, b: f64) -> f64 {
        a * b
    }
    fn partials(a: f64, b: f64) -> (f64, f64) {
        (b, a)
    }
    fn chain_a<'t>(g: Var<'t>, _: Var<'t>, b: Var<'t>) -> Var<'t> {
        g * b
    }
    fn chain_b<'t>(g: Var<'t>, a: Var<'t>, _: Var<'t>) -> Var<'t> {
        g * a
    }
}

/// `a / b`: `(1/b, -a/b^2)` (quotient rule).
impl Arithmetic for DivOp {
    fn apply(a: f64, b: f64) -> f64 {
        a / b
    }
    fn partials(a: f64, b: f64) -> (f64, f64) {
        (1.0 / b, -a / (b * b))
    }
    fn chain_a<'t>(g: Var<'t>, _: Var<'t>, b: Var<'t>) -> Var<'t> {
        g * (1.0 / b)
    }
    fn chain_b<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        g * (-a / (b * b))
    }
}

/// The differentiable backward: `g * dy/da` (and `dy/db`) as recorded ops, summed back to each
/// operand's shape with `sum_to_size`.
struct GraphChainRule<'a, 'c, 't>(&'a mut GraphCx<'c, 't>);

impl BinaryJob for GraphChainRule<'_, '_, '_> {
    type Output = ();
    fn run<F: Arithmetic>(self) {
        let cx = self.0;
        let (g, a, b) = (cx.upstream(), cx.input(0), cx.input(1));
        cx.add_with(0, |cx| sum_to_shape(F::chain_a(g, a, b), &cx.input_shape(0)));
        cx.add_with(1, |cx| sum_to_shape(F::chain_b(g, a, b), &cx.input_shape(1)));
    }
}

/// Forward: `y = f(a, b)` on the broadcast shape of `a` and `b`.
#[track_caller]
fn binary<'t>(a: Var<'t>, b: Var<'t>, f: Binary) -> Var<'t> {
    let y = eval(f, &a.value_ref(), &b.value_ref());
    a.tape.record(f, &[a, b], y)
}

/// The forward kernel alone, `f(a, b)` on the broadcast shape, with no tape: `Var`'s operators
/// and `Tensor`'s (`&a + &b`) both use it. Panics, naming the op and both shapes, when the
/// shapes do not broadcast.
#[track_caller]
pub(crate) fn eval(f: Binary, a: &Tensor, b: &Tensor) -> Tensor {
    let Some(shape) = broadcast_shapes(a.shape(), b.shape()) else {
        panic!("{}: shapes {:?} and {:?} do not broadcast", f.label(), a.shape(), b.shape());
    };
    let out = f.dispatch(Apply { a, b, shape: &shape });
    Tensor::from_parts(out, &shape)
}

impl Rule for Binary {
    fn name(&self) -> String {
        self.label().into()
    }

    /// `+` and `-` read nothing; `*` reads each operand for the other's gradient; `/` reads
    /// `b` for either gradient and `a` for `b`'s (see the partials on each [`Arithmetic`]).
    fn saved(&self, wants: Wants<'_>) -> Saved {
        let (a, b) = (wants.input(0), wants.input(1));
        match self {
            Binary::Add | Binary::Sub => Saved::nothing(),
            Binary::Mul => Saved::nothing().input_if(b, 0).input_if(a, 1),
            Binary::Div => Saved::nothing().input_if(a || b, 1).input_if(b, 0),
        }
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
        let (da, db) = self.dispatch(ChainRule { a, b, g: cx.upstream(), want_a, want_b });
        let (shape_a, shape_b) = (a.shape().to_vec(), b.shape().to_vec());
        if let Some(da) = da {
            cx.add(0, Tensor::from_parts(da, &shape_a));
        }
        if let Some(db) = db {
            cx.add(1, Tensor::from_parts(db, &shape_b));
        }
    }

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        self.dispatch(GraphChainRule(cx));
    }
}

/// The forward loop: `out[i] = f(a[ia], b[ib])` over the broadcast output.
struct Apply<'a> {
    a: &'a Tensor,
    b: &'a Tensor,
    shape: &'a [usize],
}

impl BinaryJob for Apply<'_> {
    type Output = Data;
    fn run<F: Arithmetic>(self) -> Data {
        let (av, bv) = (self.a.data(), self.b.data());
        let mut out = buffer::zeroed(numel(self.shape));
        // Straight slice loops for the common layouts (they vectorise); the general walk else.
        match binary_layout(self.a.shape(), self.b.shape(), self.shape) {
            BinaryLayout::Same => out.iter_mut().zip(av).zip(bv).for_each(|((o, &x), &y)| *o = F::apply(x, y)),
            BinaryLayout::RowsOfB(row) => {
                for (out, av) in out.chunks_exact_mut(row).zip(av.chunks_exact(row)) {
                    out.iter_mut().zip(av).zip(bv).for_each(|((o, &x), &y)| *o = F::apply(x, y));
                }
            }
            BinaryLayout::RowsOfA(row) => {
                for (out, bv) in out.chunks_exact_mut(row).zip(bv.chunks_exact(row)) {
                    out.iter_mut().zip(av).zip(bv).for_each(|((o, &x), &y)| *o = F::apply(x, y));
                }
            }
            BinaryLayout::General => for_each_binary(self.a.shape(), self.b.shape(), self.shape, |i, ia, ib| {
                out[i] = F::apply(av[ia], bv[ib])
            }),
        }
        out
    }
}

/// The backward loops: `da[ia] += g[i] * dy/da`, `db[ib] += g[i] * dy/db`, only the wanted
/// ones, one loop per combination so that no loop tests which it computes.
struct ChainRule<'a> {
    a: &'a Tensor,
    b: &'a Tensor,
    g: &'a Tensor,
    want_a: bool,
    want_b: bool,
}

impl BinaryJob for ChainRule<'_> {
    type Output = (Option<Data>, Option<Data>);
    fn run<F: Arithmetic>(self) -> Self::Output {
        let (av, bv, gv) = (self.a.data(), self.b.data(), self.g.data());
        let mut da = self.want_a.then(|| buffer::zeroed(av.len()));
        let mut db = self.want_b.then(|| buffer::zeroed(bv.len()));
        let (sa, sb, sg) = (self.a.shape(), self.b.shape(), self.g.shape());
        match binary_layout(sa, sb, sg) {
            // Straight slice loops for the common layouts: one row of the full-shape operand at
            // a time against the repeated one.
            BinaryLayout::Same => row_grads::<F>(av, bv, gv, da.as_deref_mut(), db.as_deref_mut()),
            BinaryLayout::RowsOfB(row) => {
                for (k, (ar, gr)) in av.chunks_exact(row).zip(gv.chunks_exact(row)).enumerate() {
                    let da_row = da.as_deref_mut().map(|d| &mut d[k * row..(k + 1) * row]);
                    row_grads::<F>(ar, bv, gr, da_row, db.as_deref_mut());
                }
            }
            BinaryLayout::RowsOfA(row) => {
                for (k, (br, gr)) in bv.chunks_exact(row).zip(gv.chunks_exact(row)).enumerate() {
                    let db_row = db.as_deref_mut().map(|d| &mut d[k * row..(k + 1) * row]);
                    row_grads::<F>(av, br, gr, da.as_deref_mut(), db_row);
                }
            }
            BinaryLayout::General => match (da.as_mut(), db.as_mut()) {
                (Some(da), Some(db)) => for_each_binary(sa, sb, sg, |i, ia, ib| {
                    let (pa, pb) = F::partials(av[ia], bv[ib]);
                    da[ia] += gv[i] * pa;
                    db[ib] += gv[i] * pb;
                }),
                (Some(da), None) => {
                    for_each_binary(sa, sb, sg, |i, ia, ib| da[ia] += gv[i] * F::partials(av[ia], bv[ib]).0)
                }
                (None, Some(db)) => {
                    for_each_binary(sa, sb, sg, |i, ia, ib| db[ib] += gv[i] * F::partials(av[ia], bv[ib]).1)
                }
                (None, None) => {}
            },
        }
        (da, db)
    }
}

/// Gradients over equally long slices `a`, `b`, `g`: `da += g * dy/da`, `db += g * dy/db`
/// (only the wanted ones). A repeated operand's gradient is summed over the rows by calling
/// this once per row with the same `db` (or `da`).
#[inline(always)]
fn row_grads<F: Arithmetic>(a: &[f64], b: &[f64], g: &[f64], da: Option<&mut [f64]>, db: Option<&mut [f64]>) {
    let ab = a.iter().zip(b).zip(g);
    match (da, db) {
        (Some(da), Some(db)) => ab.zip(da.iter_mut().zip(db.iter_mut())).for_each(|(((&x, &y), &gi), (ga, gb))| {
            let (pa, pb) = F::partials(x, y);
            *ga += gi * pa;
            *gb += gi * pb;
        }),
        (Some(da), None) => ab.zip(da).for_each(|(((&x, &y), &gi), ga)| *ga += gi * F::partials(x, y).0),
        (None, Some(db)) => ab.zip(db).for_each(|(((&x, &y), &gi), gb)| *gb += gi * F::partials(x, y).1),
        (None, None) => {}
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
                da[ia] += g.data()[i] * (1.0 / z);
                db[ib] += g.data()[i] * (-x / (z * z));
            });
            assert_eq!(y.value().data(), expected_y.as_slice(), "{sa:?} / {sb:?}");
            assert_eq!(grads.wrt(va).unwrap().data(), da.as_slice(), "{sa:?} / {sb:?}");
            assert_eq!(grads.wrt(vb).unwrap().data(), db.as_slice(), "{sa:?} / {sb:?}");
        }
    }
}
