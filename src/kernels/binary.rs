//! The loops of the elementwise functions of two inputs with NumPy broadcasting (`+ - * /`,
//! `maximum`, `minimum`): the forward, [`eval`], which `Tensor`'s operators and the ops on
//! `Var` both call, and the backward's, [`ChainRule`], summing each operand's gradient over
//! the axes it was broadcast along. The ops themselves (recording, the rule, the operators on
//! `Var`) are in `ops/binary.rs`.

use crate::tensor::Tensor;
use crate::tensor::buffer::{self, Data};
use crate::tensor::parallel::{self, for_each_block, rows_per_block, zip_options};
use crate::tensor::shape::{BinaryLayout, binary_layout, broadcast_shapes, for_each_binary, numel};

/// The binary elementwise functions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
}

impl Binary {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
            Binary::Maximum => "maximum",
            Binary::Minimum => "minimum",
        }
    }

    /// `(dy/da, dy/db)` when they are the same everywhere (`+`, `-`): the backward then passes
    /// on, negates or sums the upstream gradient without reading either operand.
    pub(crate) fn constant_partials(self) -> Option<(f64, f64)> {
        match self {
            Binary::Add => Some((1.0, 1.0)),
            Binary::Sub => Some((1.0, -1.0)),
            _ => None,
        }
    }

    /// Runs `job` with this op's arithmetic as a type, so that the loops inside `job` are
    /// compiled once per op with the arithmetic inlined, not a `match` per element.
    #[inline(always)]
    pub(crate) fn dispatch<J: BinaryJob>(self, job: J) -> J::Output {
        match self {
            Binary::Add => job.run::<AddOp>(),
            Binary::Sub => job.run::<SubOp>(),
            Binary::Mul => job.run::<MulOp>(),
            Binary::Div => job.run::<DivOp>(),
            Binary::Maximum => job.run::<MaximumOp>(),
            Binary::Minimum => job.run::<MinimumOp>(),
        }
    }
}

/// The arithmetic of one binary op: its function and its partial derivatives.
pub(crate) trait Arithmetic {
    fn apply(a: f64, b: f64) -> f64;
    /// `(dy/da, dy/db)`.
    fn partials(a: f64, b: f64) -> (f64, f64);
    /// `g` times a partial: a product, or for ops whose backward PyTorch writes as a mask
    /// (`maximum`, `minimum`) 0 where the partial is 0 whatever `g` (inf or NaN included).
    #[inline(always)]
    fn times(g: f64, partial: f64) -> f64 {
        g * partial
    }
    /// `g * dy/da`; an op overrides it where PyTorch forms it another way (`g / b` for `/`).
    #[inline(always)]
    fn grad_a(g: f64, a: f64, b: f64) -> f64 {
        Self::times(g, Self::partials(a, b).0)
    }
}

/// A computation generic over the op's arithmetic (see [`Binary::dispatch`]).
pub(crate) trait BinaryJob {
    type Output;
    fn run<F: Arithmetic>(self) -> Self::Output;
}

pub(crate) struct AddOp;
pub(crate) struct SubOp;
pub(crate) struct MulOp;
pub(crate) struct DivOp;
pub(crate) struct MaximumOp;
pub(crate) struct MinimumOp;

/// `a + b`: `(1, 1)`.
impl Arithmetic for AddOp {
    fn apply(a: f64, b: f64) -> f64 {
        a + b
    }
    fn partials(_: f64, _: f64) -> (f64, f64) {
        (1.0, 1.0)
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
}

/// `a * b`: `(b, a)`.
impl Arithmetic for MulOp {
    fn apply(a: f64, b: f64) -> f64 {
        a * b
    }
    fn partials(a: f64, b: f64) -> (f64, f64) {
        (b, a)
    }
}

/// `a / b`: `(1/b, -a/b^2)` (quotient rule), the second formed as `-(a/b)/b` (PyTorch's
/// form): `b * b` alone overflows or underflows where the quotient does not (at
/// `a = b = 1e-200` it is `-1e200`, not `-inf`; at `a = b = 1e200`, `-1e-200`, not `-0`); the
/// first is applied as `g / b` (see `grad_a`).
impl Arithmetic for DivOp {
    fn apply(a: f64, b: f64) -> f64 {
        a / b
    }
    fn partials(a: f64, b: f64) -> (f64, f64) {
        (1.0 / b, -(a / b) / b)
    }
    /// `g / b` (PyTorch's `grad / other`): at a subnormal `b`, `1 / b` alone is inf, and
    /// `g * inf` is inf (or NaN at g = 0) where `g / b` is finite.
    #[inline(always)]
    fn grad_a(g: f64, _: f64, b: f64) -> f64 {
        g / b
    }
}

/// `max(a, b)`, NaN if either is NaN. Partials `(1, 0)` where `a > b`, `(0, 1)` where
/// `a < b`, and at a tie the gradient is split, `(1/2, 1/2)` (the average of the one-sided
/// derivatives). Where a NaN makes both comparisons false, both get the full gradient `(1, 1)`:
/// PyTorch's formula, `where(a == b, g/2, g)` masked to 0 where the other operand wins.
impl Arithmetic for MaximumOp {
    #[inline(always)]
    fn times(g: f64, partial: f64) -> f64 {
        if partial == 0.0 { 0.0 } else { g * partial }
    }
    fn apply(a: f64, b: f64) -> f64 {
        if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
    }
    fn partials(a: f64, b: f64) -> (f64, f64) {
        if a == b { (0.5, 0.5) } else { (if a < b { 0.0 } else { 1.0 }, if a > b { 0.0 } else { 1.0 }) }
    }
}

/// `min(a, b)`, NaN if either is NaN; partials as [`MaximumOp`]'s with the comparisons
/// reversed (`(1/2, 1/2)` at ties, `(1, 1)` where a NaN is involved, as PyTorch).
impl Arithmetic for MinimumOp {
    #[inline(always)]
    fn times(g: f64, partial: f64) -> f64 {
        if partial == 0.0 { 0.0 } else { g * partial }
    }
    fn apply(a: f64, b: f64) -> f64 {
        if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
    }
    fn partials(a: f64, b: f64) -> (f64, f64) {
        if a == b { (0.5, 0.5) } else { (if a > b { 0.0 } else { 1.0 }, if a < b { 0.0 } else { 1.0 }) }
    }
}

/// The forward kernel alone, `f(a, b)` on the broadcast shape, with no tape: `Var`'s operators
/// and `Tensor`'s (`&a + &b`) both use it. Panics, naming the op and both shapes, when the
/// shapes do not broadcast.
#[track_caller]
pub(crate) fn eval(f: Binary, a: &Tensor, b: &Tensor) -> Tensor {
    let Some(shape) = broadcast_shapes(a.shape(), b.shape()) else {
        panic!("{}: shapes {:?} and {:?} do not broadcast", f.label(), a.shape(), b.shape());
    };
    crate::tensor::shape::check_shape(f.label(), &[a.shape(), b.shape()], &shape);
    let out = f.dispatch(Apply { a, b, shape: &shape });
    Tensor::from_parts(out, &shape)
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
        // Every layout below writes every output element.
        let mut out = buffer::scratch(numel(self.shape));
        // Straight slice loops for the common layouts (they vectorise), split over the cores
        // by rows when large; the general walk else.
        let apply = |out: &mut [f64], av: &[f64], bv: &[f64]| {
            out.iter_mut().zip(av).zip(bv).for_each(|((o, &x), &y)| *o = F::apply(x, y))
        };
        match binary_layout(self.a.shape(), self.b.shape(), self.shape) {
            BinaryLayout::Same => parallel::map2(&mut out, av, bv, F::apply),
            BinaryLayout::RowsOfB(row) => {
                let per = rows_per_block(out.len() / row, row) * row;
                for_each_block(out.chunks_mut(per).zip(av.chunks(per)), |(out, av)| {
                    for (out, av) in out.chunks_exact_mut(row).zip(av.chunks_exact(row)) {
                        apply(out, av, bv);
                    }
                });
            }
            BinaryLayout::RowsOfA(row) => {
                let per = rows_per_block(out.len() / row, row) * row;
                for_each_block(out.chunks_mut(per).zip(bv.chunks(per)), |(out, bv)| {
                    for (out, bv) in out.chunks_exact_mut(row).zip(bv.chunks_exact(row)) {
                        apply(out, av, bv);
                    }
                });
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
pub(crate) struct ChainRule<'a> {
    pub(crate) a: &'a Tensor,
    pub(crate) b: &'a Tensor,
    pub(crate) g: &'a Tensor,
    /// How `a` and `b` broadcast to `g` (worked out once by the rule).
    pub(crate) layout: BinaryLayout,
    pub(crate) want_a: bool,
    pub(crate) want_b: bool,
}

impl BinaryJob for ChainRule<'_> {
    type Output = (Option<Data>, Option<Data>);
    fn run<F: Arithmetic>(self) -> Self::Output {
        let (av, bv, gv) = (self.a.data(), self.b.data(), self.g.data());
        let (sa, sb, sg) = (self.a.shape(), self.b.shape(), self.g.shape());
        match self.layout {
            // Straight slice loops for the common layouts: one row of the full-shape operand at
            // a time against the repeated one. A full-shape operand's gradient is written once
            // per element, and a repeated one's first row is written, the others added to it,
            // so no gradient buffer is zero-filled first.
            BinaryLayout::Same => {
                let mut da = self.want_a.then(|| buffer::scratch(av.len()));
                let mut db = self.want_b.then(|| buffer::scratch(bv.len()));
                if gv.len() < parallel::MIN_PARALLEL_ELEMENTS {
                    row_grads::<F, true, true>(av, bv, gv, da.as_deref_mut(), db.as_deref_mut());
                    return (da, db);
                }
                let per = rows_per_block(gv.len(), 1);
                let blocks = av.chunks(per).zip(bv.chunks(per)).zip(gv.chunks(per));
                let da_blocks = da.as_mut().map(|d| d.chunks_mut(per));
                let db_blocks = db.as_mut().map(|d| d.chunks_mut(per));
                for_each_block(blocks.zip(zip_options(da_blocks, db_blocks)), |(((a, b), g), (da, db))| {
                    row_grads::<F, true, true>(a, b, g, da, db)
                });
                (da, db)
            }
            BinaryLayout::RowsOfB(row) => {
                let rows = gv.len() / row;
                let mut da = self.want_a.then(|| buffer::scratch(av.len()));
                let mut db = self.want_b.then(|| if rows == 0 { buffer::zeroed(row) } else { buffer::scratch(row) });
                for (k, (ar, gr)) in av.chunks_exact(row).zip(gv.chunks_exact(row)).enumerate() {
                    let da_row = da.as_deref_mut().map(|d| &mut d[k * row..(k + 1) * row]);
                    if k == 0 {
                        row_grads::<F, true, true>(ar, bv, gr, da_row, db.as_deref_mut());
                    } else {
                        row_grads::<F, true, false>(ar, bv, gr, da_row, db.as_deref_mut());
                    }
                }
                (da, db)
            }
            BinaryLayout::RowsOfA(row) => {
                let rows = gv.len() / row;
                let mut da = self.want_a.then(|| if rows == 0 { buffer::zeroed(row) } else { buffer::scratch(row) });
                let mut db = self.want_b.then(|| buffer::scratch(bv.len()));
                for (k, (br, gr)) in bv.chunks_exact(row).zip(gv.chunks_exact(row)).enumerate() {
                    let db_row = db.as_deref_mut().map(|d| &mut d[k * row..(k + 1) * row]);
                    if k == 0 {
                        row_grads::<F, true, true>(av, br, gr, da.as_deref_mut(), db_row);
                    } else {
                        row_grads::<F, false, true>(av, br, gr, da.as_deref_mut(), db_row);
                    }
                }
                (da, db)
            }
            BinaryLayout::General => {
                let mut da = self.want_a.then(|| buffer::zeroed(av.len()));
                let mut db = self.want_b.then(|| buffer::zeroed(bv.len()));
                match (da.as_mut(), db.as_mut()) {
                    (Some(da), Some(db)) => for_each_binary(sa, sb, sg, |i, ia, ib| {
                        let pb = F::partials(av[ia], bv[ib]).1;
                        da[ia] += F::grad_a(gv[i], av[ia], bv[ib]);
                        db[ib] += F::times(gv[i], pb);
                    }),
                    (Some(da), None) => {
                        for_each_binary(sa, sb, sg, |i, ia, ib| da[ia] += F::grad_a(gv[i], av[ia], bv[ib]))
                    }
                    (None, Some(db)) => for_each_binary(sa, sb, sg, |i, ia, ib| {
                        db[ib] += F::times(gv[i], F::partials(av[ia], bv[ib]).1)
                    }),
                    (None, None) => {}
                }
                (da, db)
            }
        }
    }
}

/// Gradients over equally long slices `a`, `b`, `g`: `da = g * dy/da`, `db = g * dy/db` (only
/// the wanted ones), written (`ASSIGN_*`) or added to what the buffer holds. A repeated
/// operand's gradient is summed over the rows by calling this once per row with the same `db`
/// (or `da`): written on the first row, added on the others.
#[inline(always)]
fn row_grads<F: Arithmetic, const ASSIGN_A: bool, const ASSIGN_B: bool>(
    a: &[f64],
    b: &[f64],
    g: &[f64],
    da: Option<&mut [f64]>,
    db: Option<&mut [f64]>,
) {
    #[inline(always)]
    fn put<const ASSIGN: bool>(to: &mut f64, value: f64) {
        if ASSIGN { *to = value } else { *to += value }
    }
    let ab = a.iter().zip(b).zip(g);
    match (da, db) {
        (Some(da), Some(db)) => ab.zip(da.iter_mut().zip(db.iter_mut())).for_each(|(((&x, &y), &gi), (ga, gb))| {
            let pb = F::partials(x, y).1;
            put::<ASSIGN_A>(ga, F::grad_a(gi, x, y));
            put::<ASSIGN_B>(gb, F::times(gi, pb));
        }),
        (Some(da), None) => ab.zip(da).for_each(|(((&x, &y), &gi), ga)| put::<ASSIGN_A>(ga, F::grad_a(gi, x, y))),
        (None, Some(db)) => {
            ab.zip(db).for_each(|(((&x, &y), &gi), gb)| put::<ASSIGN_B>(gb, F::times(gi, F::partials(x, y).1)))
        }
        (None, None) => {}
    }
}
