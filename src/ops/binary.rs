//! Elementwise functions of two inputs with NumPy broadcasting: `+ - * /`, and the operator
//! overloads (`Var` with `Var`, `Var` with `f64` on either side, `-Var`).
//!
//! Broadcasting's backward: an input element that was read for several output elements (a
//! broadcast axis) receives the sum of their gradients. [`broadcast_backward`] does that for
//! every binary op in one pass, so no op writes its own reduction.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::buffer;
use crate::ops::Op;
use crate::ops::unary::{Unary, unary};
use crate::shape::{broadcast_shapes, broadcast_strides, for_each_broadcast, numel};
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
        let data: Vec<f64> = if va.shape() == vb.shape() {
            buffer::collect(da.len(), da.iter().zip(db).map(|(&x, &z)| f.apply(x, z)))
        } else {
            let mut data = buffer::with_capacity(numel(&shape));
            let (sa, sb) = (broadcast_strides(va.shape(), &shape), broadcast_strides(vb.shape(), &shape));
            for_each_broadcast(&shape, &sa, &sb, |ia, ib| data.push(f.apply(da[ia], db[ib])));
            data
        };
        Tensor::from_parts(data, &shape)
    };
    a.tape.record(Op::Binary { a: a.id, b: b.id, f }, y)
}

/// Backward: `da = sum over broadcast axes of g * dy/da`, and likewise for `b` (partials on
/// [`Binary::partials`]).
pub(crate) fn backward(f: Binary, a: (usize, &Tensor), b: (usize, &Tensor), g: &Tensor, sink: &mut GradSink) {
    let (want_a, want_b) = (sink.wants(a.0), sink.wants(b.0));
    let (da, db) = broadcast_backward(a.1, b.1, g, want_a, want_b, |x, y| f.partials(x, y));
    if let Some(da) = da {
        sink.add(a.0, da);
    }
    if let Some(db) = db {
        sink.add(b.0, db);
    }
}

/// The gradients of both inputs of a broadcasting elementwise op, each summed back to its
/// input's shape: `da[ia] += g[i] * partials(a[ia], b[ib]).0` for every output element `i`.
/// Only the wanted ones are computed.
pub(crate) fn broadcast_backward(
    a: &Tensor,
    b: &Tensor,
    g: &Tensor,
    want_a: bool,
    want_b: bool,
    partials: impl Fn(f64, f64) -> (f64, f64),
) -> (Option<Tensor>, Option<Tensor>) {
    let (av, bv, gv) = (a.data(), b.data(), g.data());
    let mut da = want_a.then(|| buffer::zeroed(av.len()));
    let mut db = want_b.then(|| buffer::zeroed(bv.len()));
    let (sa, sb) = (broadcast_strides(a.shape(), g.shape()), broadcast_strides(b.shape(), g.shape()));
    let mut i = 0;
    for_each_broadcast(g.shape(), &sa, &sb, |ia, ib| {
        let (pa, pb) = partials(av[ia], bv[ib]);
        if let Some(da) = da.as_mut() {
            da[ia] += gv[i] * pa;
        }
        if let Some(db) = db.as_mut() {
            db[ib] += gv[i] * pb;
        }
        i += 1;
    });
    (da.map(|d| Tensor::from_parts(d, a.shape())), db.map(|d| Tensor::from_parts(d, b.shape())))
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
