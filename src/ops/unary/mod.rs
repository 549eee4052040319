//! Elementwise functions of one input: `y[i] = f(x[i])`.
//!
//! Every one has the same backward, `dx[i] = g[i] * f'(x[i])`; only the derivative differs, and
//! it may be computed from the input `x` or, when cheaper, from the output `y` (as dfdx's
//! `UnaryDerivative` does: `exp' = y`, `tanh' = 1 - y^2`, `sigmoid' = y (1 - y)`).
//!
//! One dispatch table defines them all, in three families, each a file: arithmetic with a
//! constant (here), [`math`] (`exp`, `log`, `sin`, `clamp`, ...) and [`activation`] (`relu`,
//! `gelu`, `softplus`, `elu`, ...). A new op is a variant, its label, one arm (function,
//! what its derivative reads, derivative, with the derivation as the arm's comment) and its
//! method on `Var`, all in its family's file.

pub(crate) mod activation;
pub(crate) mod math;

pub(crate) use activation::Activation;
pub(crate) use math::Math;

use crate::autograd::{BackwardCx, GraphCx, OpSlip, Rule, Saved, SlipCx, SlipKind, Var, Wants, short};
use crate::tensor::Tensor;
use crate::tensor::buffer;
use crate::tensor::parallel;

/// The elementwise functions. Variants with an `f64` carry a constant operand.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Unary {
    Neg,
    AddScalar(f64),
    MulScalar(f64),
    DivScalar(f64),
    /// `c - x`
    ScalarSub(f64),
    /// `c / x`
    ScalarDiv(f64),
    Powf(f64),
    /// `exp`, `log`, `sin`, `clamp`, ...: see [`math`].
    Math(Math),
    /// `relu`, `gelu`, `softplus`, `elu`, ...: see [`activation`].
    Activation(Activation),
}

impl Unary {
    /// The forward loop alone, `f(x)` elementwise on a plain tensor: the op records its
    /// output, and `Tensor`'s methods (`t.exp()`, `&t * 2.0`, ...) return it.
    pub(crate) fn apply(self, x: &Tensor) -> Tensor {
        self.dispatch(Apply(x))
    }

    /// The op as a label for dumps and graphs; constants with at most 6 significant digits.
    pub(crate) fn label(self) -> String {
        match self {
            Unary::Neg => "neg".into(),
            Unary::AddScalar(c) => format!("add({})", short(c)),
            Unary::MulScalar(c) => format!("mul({})", short(c)),
            Unary::DivScalar(c) => format!("div({})", short(c)),
            Unary::ScalarSub(c) => format!("rsub({})", short(c)),
            Unary::ScalarDiv(c) => format!("rdiv({})", short(c)),
            Unary::Powf(p) => format!("powf({})", short(p)),
            Unary::Math(m) => m.label(),
            Unary::Activation(a) => a.label(),
        }
    }

    /// Runs `job` with this op's function `f(x)`, what its derivative reads, and the
    /// derivative `f'(x, y)` itself (from the input `x` or, when cheaper, the output `y`), as
    /// closures of their own types, so that the loops in `job` are compiled per op with the
    /// arithmetic inlined, not a `match` per element.
    ///
    /// This table is the one definition of every elementwise op; each derivative's derivation
    /// is the comment on its arm. NaN policy (as PyTorch): a NaN input gives a NaN output.
    #[inline(always)]
    fn dispatch<J: UnaryJob>(self, job: J) -> J::Output {
        use DerivativeOf::{Input, Nothing};
        // The fourth closure is the derivative as a differentiable `Var` (from `x` and `y`),
        // for `backward_graph`; `constant` where it is locally constant (it then enters the
        // recorded backward as a constant tensor of the second closure's values).
        match self {
            // -1
            Unary::Neg => job.run(|x| -x, Nothing, |_, _| -1.0, constant),
            // 1
            Unary::AddScalar(c) => job.run(move |x| x + c, Nothing, |_, _| 1.0, constant),
            // c
            Unary::MulScalar(c) => job.run(move |x| x * c, Nothing, move |_, _| c, constant),
            // 1/c
            Unary::DivScalar(c) => job.run(move |x| x / c, Nothing, move |_, _| 1.0 / c, constant),
            // -1
            Unary::ScalarSub(c) => job.run(move |x| c - x, Nothing, |_, _| -1.0, constant),
            // d(c/x)/dx = -c/x^2, formed as -(c/x)/x: `x * x` alone overflows or underflows
            // where the quotient does not (as `DivOp`'s)
            Unary::ScalarDiv(c) => {
                job.run(move |x| c / x, Input, move |x, _| -(c / x) / x, move |x, _| Some(-(c / x) / x))
            }
            // p x^(p-1); exactly 0 for p = 0 (x^0 is the constant 1, even at x = 0, where the
            // formula would give 0 * inf = NaN), as PyTorch
            Unary::Powf(p) => job.run(
                move |x| x.powf(p),
                Input,
                move |x, _| if p == 0.0 { 0.0 } else { p * x.powf(p - 1.0) },
                move |x, _| (p != 0.0).then(|| p * x.powf(p - 1.0)),
            ),
            Unary::Math(m) => m.dispatch(job),
            Unary::Activation(a) => a.dispatch(job),
        }
    }
}

/// The differentiable derivative of an op whose derivative is locally constant (piecewise,
/// like relu's, or everywhere, like `x + c`'s): none; the second derivative is zero.
pub(super) fn constant<'t>(_: Var<'t>, _: Var<'t>) -> Option<Var<'t>> {
    None
}

/// What an elementwise op's derivative is computed from.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum DerivativeOf {
    /// The input `x` (its value is kept for backward).
    Input,
    /// The output `y` (its value is kept for backward).
    Output,
    /// Neither: the derivative is a constant.
    Nothing,
}

/// A computation generic over an elementwise op's function and derivative (see
/// [`Unary::dispatch`]).
pub(crate) trait UnaryJob {
    type Output;
    fn run(
        self,
        f: impl Fn(f64) -> f64 + Sync,
        of: DerivativeOf,
        derivative: impl Fn(f64, f64) -> f64 + Sync,
        graph: impl for<'t> Fn(Var<'t>, Var<'t>) -> Option<Var<'t>>,
    ) -> Self::Output;
}

/// The forward loop: `y[i] = f(x[i])`.
struct Apply<'a>(&'a Tensor);

impl UnaryJob for Apply<'_> {
    type Output = Tensor;
    /// Inlined into every `match` that dispatches it (`unary`'s and `Unary::apply`'s): called
    /// from two places, LLVM would otherwise keep each op's loop a call, and W1's per-op cost
    /// (a one-element `x * c + c`) pays for it.
    #[inline(always)]
    fn run(
        self,
        f: impl Fn(f64) -> f64 + Sync,
        _: DerivativeOf,
        _: impl Fn(f64, f64) -> f64 + Sync,
        _: impl for<'t> Fn(Var<'t>, Var<'t>) -> Option<Var<'t>>,
    ) -> Tensor {
        let x = self.0;
        // Every element is written; large tensors are split over the cores.
        let mut y = buffer::scratch(x.numel());
        parallel::map(&mut y, x.data(), f);
        Tensor::from_parts(y, x.shape())
    }
}

/// What the derivative reads, for [`Rule::saved`].
struct Reads;

impl UnaryJob for Reads {
    type Output = DerivativeOf;
    fn run(
        self,
        _: impl Fn(f64) -> f64 + Sync,
        of: DerivativeOf,
        _: impl Fn(f64, f64) -> f64 + Sync,
        _: impl for<'t> Fn(Var<'t>, Var<'t>) -> Option<Var<'t>>,
    ) -> DerivativeOf {
        of
    }
}

/// How an op's backward combines the upstream gradient `g` with its derivative `f'`.
#[derive(Clone, Copy, PartialEq)]
enum Chain {
    /// `g * f'`: an infinite or NaN `g` times `f' = 0` is NaN (PyTorch multiplies too).
    Multiply,
    /// `f'` is 0 or 1 and selects `g`: 0 where `f' = 0` WHATEVER `g` (inf or NaN included),
    /// as PyTorch's backward for these ops is a mask (`where`), not a product.
    Select,
    /// `log`: `g / x`, not `g * (1 / x)`, which overflows at a subnormal `x` where the
    /// quotient is finite (PyTorch divides too).
    DivideByInput,
    /// `x / c`: `g / c`, not `g * (1 / c)`, which overflows at a subnormal `c` (PyTorch
    /// divides too).
    DivideBy(f64),
}

impl Unary {
    fn chain(self) -> Chain {
        match self {
            Unary::Activation(Activation::Relu) | Unary::Math(Math::Clamp { .. }) => Chain::Select,
            Unary::Powf(0.0) => Chain::Select,
            Unary::Math(Math::Log) => Chain::DivideByInput,
            Unary::DivScalar(c) => Chain::DivideBy(c),
            _ => Chain::Multiply,
        }
    }
}

/// `g` where the 0-or-1 derivative `d` is 1, and 0 (not `0 * g`) where it is 0.
#[inline(always)]
fn select(g: f64, d: f64) -> f64 {
    if d == 0.0 { 0.0 } else { g }
}

/// The backward loop: `dx[i] = g[i] * f'(x[i], y[i])` (or its [`Chain`] variant), reading
/// only what the derivative is computed from.
struct ChainRule<'a, 'c>(&'a BackwardCx<'c>, Chain);

impl UnaryJob for ChainRule<'_, '_> {
    type Output = Tensor;
    fn run(
        self,
        _: impl Fn(f64) -> f64 + Sync,
        of: DerivativeOf,
        derivative: impl Fn(f64, f64) -> f64 + Sync,
        _: impl for<'t> Fn(Var<'t>, Var<'t>) -> Option<Var<'t>>,
    ) -> Tensor {
        let (cx, chain) = (self.0, self.1);
        let g = cx.upstream();
        // Every element is written; large tensors are split over the cores.
        let mut dx = buffer::scratch(g.numel());
        match of {
            DerivativeOf::Input => match chain {
                Chain::Multiply => parallel::map2(&mut dx, g.data(), cx.input(0).data(), |g, x| g * derivative(x, 0.0)),
                Chain::Select => {
                    parallel::map2(&mut dx, g.data(), cx.input(0).data(), |g, x| select(g, derivative(x, 0.0)))
                }
                Chain::DivideByInput => parallel::map2(&mut dx, g.data(), cx.input(0).data(), |g, x| g / x),
                Chain::DivideBy(_) => unreachable!("division by a constant reads nothing"),
            },
            DerivativeOf::Output => {
                parallel::map2(&mut dx, g.data(), cx.output().data(), |g, y| g * derivative(0.0, y))
            }
            DerivativeOf::Nothing => match chain {
                Chain::DivideBy(c) => parallel::map(&mut dx, g.data(), |g| g / c),
                _ => {
                    let c = derivative(0.0, 0.0);
                    parallel::map(&mut dx, g.data(), |g| g * c);
                }
            },
        }
        Tensor::from_parts(dx, g.shape())
    }
}

/// The differentiable backward: `dx = g * f'(x)`, with `f'` recorded as ops of `x` and `y`
/// (or, where it is locally constant, as a constant: `g * c` for a constant derivative, `g`
/// times a tensor of `f'(x)` values for a piecewise one; `g` filled with 0 where a
/// [`Chain::Select`] derivative is 0; `g / x` for [`Chain::DivideByInput`]).
struct GraphChainRule<'a, 'c, 't>(&'a GraphCx<'c, 't>, Chain);

impl<'t> UnaryJob for GraphChainRule<'_, '_, 't> {
    type Output = Var<'t>;
    fn run(
        self,
        _: impl Fn(f64) -> f64 + Sync,
        of: DerivativeOf,
        derivative: impl Fn(f64, f64) -> f64 + Sync,
        graph: impl for<'s> Fn(Var<'s>, Var<'s>) -> Option<Var<'s>>,
    ) -> Var<'t> {
        let (cx, chain) = (self.0, self.1);
        let (g, x, y) = (cx.upstream(), cx.input(0), cx.output());
        match chain {
            Chain::DivideByInput => return g / x,
            Chain::DivideBy(c) => return g / c,
            _ => {}
        }
        if let Some(d) = graph(x, y) {
            return g * d;
        }
        match of {
            DerivativeOf::Nothing => match derivative(0.0, 0.0) {
                1.0 => g,
                c => g * c,
            },
            // (The value is copied out before the constant is recorded: recording borrows
            // the tape mutably.)
            DerivativeOf::Input if chain == Chain::Select => {
                let zero = x.value_ref().map(|xi| if derivative(xi, 0.0) == 0.0 { 1.0 } else { 0.0 });
                g.masked_fill(&zero, 0.0)
            }
            DerivativeOf::Input => {
                let d = x.value_ref().map(|xi| derivative(xi, 0.0));
                g * cx.constant(d)
            }
            DerivativeOf::Output => {
                let d = y.value_ref().map(|yi| derivative(0.0, yi));
                g * cx.constant(d)
            }
        }
    }
}

impl Rule for Unary {
    fn name(&self) -> String {
        self.label()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        match self.dispatch(Reads) {
            DerivativeOf::Input => Saved::nothing().input(0),
            DerivativeOf::Output => Saved::nothing().output(),
            DerivativeOf::Nothing => Saved::nothing(),
        }
    }

    /// `dx[i] = g[i] * f'(x[i])` (the chain rule, elementwise; each derivative's derivation is
    /// on its arm of [`Unary::dispatch`]).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| self.dispatch(ChainRule(cx, self.chain())));
    }

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| self.dispatch(GraphChainRule(cx, self.chain())));
    }

    /// `dx = g f'(x)` with a term of `f'` dropped, for the activations that declare their
    /// slipped derivatives ([`Activation::slipped_derivatives`]).
    fn slips(&self, cx: &SlipCx<'_>) -> Vec<OpSlip> {
        let Unary::Activation(activation) = self else { return Vec::new() };
        let (x, y, g, name) = (cx.input(0), cx.output(), cx.upstream(), cx.out_name());
        let slipped = |derivative: fn(f64, f64) -> f64| {
            let data = g.data().iter().zip(x.data().iter().zip(y.data())).map(|(g, (&x, &y))| g * derivative(x, y));
            Tensor::new(data.collect(), g.shape()).expect("one gradient per element")
        };
        let declared = activation.slipped_derivatives().into_iter();
        declared
            .filter_map(|(what, derivative)| {
                cx.slip(0, SlipKind::DroppedTerm, format!("dL/d{name} times {what}"), || slipped(derivative))
            })
            .collect()
    }
}

/// Forward: `y[i] = f(x[i])`, recorded as one node.
#[track_caller]
pub(crate) fn unary<'t>(x: Var<'t>, f: Unary) -> Var<'t> {
    // The table itself, not `f.apply`: one call less on W1's path (an op of one element).
    let y = f.dispatch(Apply(&x.value_ref()));
    x.tape.record(f, &[x], y)
}

impl<'t> Var<'t> {
    /// `x^p` elementwise, for a constant real exponent.
    #[track_caller]
    pub fn powf(self, p: f64) -> Var<'t> {
        unary(self, Unary::Powf(p))
    }
}

impl Tensor {
    /// `x^p` elementwise, outside any tape (see [`Var::powf`]).
    pub fn powf(&self, p: f64) -> Tensor {
        Unary::Powf(p).apply(self)
    }
}

#[cfg(test)]
mod tests {
    use super::Unary;

    #[test]
    fn names_show_constants_briefly() {
        assert_eq!(Unary::MulScalar(0.5).label(), "mul(0.5)");
        assert_eq!(Unary::DivScalar(8f64.sqrt()).label(), "div(2.82843)");
        assert_eq!(Unary::AddScalar(1e-10).label(), "add(1e-10)");
        assert_eq!(Unary::Powf(1.0 / 3.0).label(), "powf(0.333333)");
        assert_eq!(Unary::Math(super::Math::Exp).label(), "exp");
    }
}
