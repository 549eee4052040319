//! Elementwise functions of two inputs with NumPy broadcasting: `+ - * /`, `maximum`,
//! `minimum`, and the operator overloads (`Var` with `Var`, `Var` with `f64` on either side, `-Var`).
//!
//! Broadcasting's backward: an input element that was read for several output elements (a
//! broadcast axis) receives the sum of their gradients. One rule, [`backward`], does that for
//! every binary op in one pass (slice loops for the common layouts, [`for_each_binary`] for
//! the rest), so no op writes its own reduction.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::autograd::{BackwardCx, GraphCx, OpSlip, Rule, Saved, SlipCx, SlipKind, Var, Wants};
use crate::kernels::broadcast::sum_rows;
use crate::ops::broadcast::{expanded, first_of_broadcast, sum_to_shape};
use crate::ops::unary::{Unary, unary};
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
    fn constant_partials(self) -> Option<(f64, f64)> {
        match self {
            Binary::Add => Some((1.0, 1.0)),
            Binary::Sub => Some((1.0, -1.0)),
            _ => None,
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
            Binary::Maximum => job.run::<MaximumOp>(),
            Binary::Minimum => job.run::<MinimumOp>(),
        }
    }
}

/// The arithmetic of one binary op: its function and its partial derivatives.
trait Arithmetic {
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
struct MaximumOp;
struct MinimumOp;

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
    fn chain_a<'t>(g: Var<'t>, _: Var<'t>, b: Var<'t>) -> Var<'t> {
        g / b
    }
    fn chain_b<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        g * (-(a / b) / b)
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
    fn chain_a<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        masked_times::<Self>(g, a, b, Operand::A)
    }
    fn chain_b<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        masked_times::<Self>(g, a, b, Operand::B)
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
    fn chain_a<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        masked_times::<Self>(g, a, b, Operand::A)
    }
    fn chain_b<'t>(g: Var<'t>, a: Var<'t>, b: Var<'t>) -> Var<'t> {
        masked_times::<Self>(g, a, b, Operand::B)
    }
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

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        self.dispatch(GraphChainRule(cx));
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
struct ChainRule<'a> {
    a: &'a Tensor,
    b: &'a Tensor,
    g: &'a Tensor,
    /// How `a` and `b` broadcast to `g` (worked out once by the rule).
    layout: BinaryLayout,
    want_a: bool,
    want_b: bool,
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
