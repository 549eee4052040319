//! Elementwise functions of two inputs with NumPy broadcasting: `+ - * /`, and the operator
//! overloads (`Var` with `Var`, `Var` with `f64` on either side, `-Var`).
//!
//! Broadcasting's backward: an input element that was read for several output elements (a
//! broadcast axis) receives the sum of their gradients. One rule, [`backward`], does that for
//! every binary op in one pass over [`for_each_binary`], so no op writes its own reduction.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::buffer;
use crate::ops::Op;
use crate::ops::unary::{Unary, unary};
use crate::shape::{broadcast_shapes, for_each_binary, numel};
use crate::tape::{GradSink, Var};
use crate::tensor::Tensor;

/// The binary elementwise functions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

impl Binary {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
        }
    }

    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
        }
    }

    /// The partial derivatives `(dy/da, dy/db)`:
    /// `a + b`: (1, 1); `a - b`: (1, -1); `a * b`: (b, a); `a / b`: (1/b, -a/b^2).
    fn partials(self, a: f64, b: f64) -> (f64, f64) {
        match self {
            Binary::Add => (1.0, 1.0),
            Binary::Sub => (1.0, -1.0),
            Binary::Mul => (b, a),
            Binary::Div => (1.0 / b, -a / (b * b)),
        }
    }
}

/// Forward: `y = f(a, b)` on the broadcast shape of `a` and `b`.
#[track_caller]
fn binary<'t>(a: Var<'t>, b: Var<'t>, f: Binary) -> Var<'t> {
    a.same_tape(b, f.name());
    let y = {
        let (va, vb) = (a.value_ref(), b.value_ref());
        let Some(shape) = broadcast_shapes(va.shape(), vb.shape()) else {
            panic!("{}: shapes {:?} and {:?} do not broadcast", f.name(), va.shape(), vb.shape());
        };
        let (da, db) = (va.data(), vb.data());
        let mut out = buffer::zeroed(numel(&shape));
        for_each_binary(va.shape(), vb.shape(), &shape, |i, ia, ib| out[i] = f.apply(da[ia], db[ib]));
        Tensor::from_parts(out, &shape)
    };
    a.tape.record(Op::Binary { a: a.id, b: b.id, f }, y)
}

/// Backward: `da = sum over broadcast axes of g * dy/da`, and likewise for `b` (partials on
/// [`Binary::partials`]). An input element read for several output elements (a broadcast
/// axis) receives the sum of their gradients: `da[ia] += g[i] * dy/da` for every output `i`.
pub(crate) fn backward(f: Binary, a: (usize, &Tensor), b: (usize, &Tensor), g: &Tensor, sink: &mut GradSink) {
    let ((a_id, a), (b_id, b)) = (a, b);
    let (av, bv, gv) = (a.data(), b.data(), g.data());
    let mut da = sink.wants(a_id).then(|| buffer::zeroed(av.len()));
    let mut db = sink.wants(b_id).then(|| buffer::zeroed(bv.len()));
    let (sa, sb, sg) = (a.shape(), b.shape(), g.shape());
    // One loop per combination of wanted gradients, so that no loop tests which it computes.
    match (da.as_mut(), db.as_mut()) {
        (Some(da), Some(db)) => for_each_binary(sa, sb, sg, |i, ia, ib| {
            let (pa, pb) = f.partials(av[ia], bv[ib]);
            da[ia] += gv[i] * pa;
            db[ib] += gv[i] * pb;
        }),
        (Some(da), None) => for_each_binary(sa, sb, sg, |i, ia, ib| da[ia] += gv[i] * f.partials(av[ia], bv[ib]).0),
        (None, Some(db)) => for_each_binary(sa, sb, sg, |i, ia, ib| db[ib] += gv[i] * f.partials(av[ia], bv[ib]).1),
        (None, None) => {}
    }
    if let Some(da) = da {
        sink.add(a_id, Tensor::from_parts(da, a.shape()));
    }
    if let Some(db) = db {
        sink.add(b_id, Tensor::from_parts(db, b.shape()));
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
