//! Elementwise functions of one input: `y[i] = f(x[i])`.
//!
//! Every one has the same backward, `dx[i] = g[i] * f'(x[i])`; only the derivative differs, and
//! it may be computed from the input `x` or, when cheaper, from the output `y` (as dfdx's
//! `UnaryDerivative` does: `exp' = y`, `tanh' = 1 - y^2`, `sigmoid' = y (1 - y)`).

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::tensor::Tensor;
use crate::tensor::buffer;

/// `sqrt(2 / pi)`, the constant of GELU's tanh approximation.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of GELU's tanh approximation.
const GELU_CUBIC: f64 = 0.044_715;

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
    Exp,
    Log,
    Sqrt,
    Tanh,
    Relu,
    Sigmoid,
    Gelu,
    Abs,
}

impl Unary {
    /// The op as a label for dumps and graphs; constants with at most 6 significant digits.
    pub(crate) fn label(self) -> String {
        let short = |c: f64| {
            let exact = c.to_string();
            if exact.len() <= 8 {
                return exact;
            }
            let rounded: f64 = format!("{c:.5e}").parse().unwrap_or(c);
            let plain = rounded.to_string();
            if plain.len() <= 10 { plain } else { format!("{rounded:e}") }
        };
        match self {
            Unary::Neg => "neg".into(),
            Unary::AddScalar(c) => format!("add({})", short(c)),
            Unary::MulScalar(c) => format!("mul({})", short(c)),
            Unary::DivScalar(c) => format!("div({})", short(c)),
            Unary::ScalarSub(c) => format!("rsub({})", short(c)),
            Unary::ScalarDiv(c) => format!("rdiv({})", short(c)),
            Unary::Powf(p) => format!("powf({})", short(p)),
            Unary::Exp => "exp".into(),
            Unary::Log => "log".into(),
            Unary::Sqrt => "sqrt".into(),
            Unary::Tanh => "tanh".into(),
            Unary::Relu => "relu".into(),
            Unary::Sigmoid => "sigmoid".into(),
            Unary::Gelu => "gelu".into(),
            Unary::Abs => "abs".into(),
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
        use DerivativeOf::{Input, Nothing, Output};
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
            // d(c/x)/dx = -c/x^2
            Unary::ScalarDiv(c) => {
                job.run(move |x| c / x, Input, move |x, _| -c / (x * x), move |x, _| Some(-c / (x * x)))
            }
            // p x^(p-1); exactly 0 for p = 0 (x^0 is the constant 1, even at x = 0, where the
            // formula would give 0 * inf = NaN), as PyTorch
            Unary::Powf(p) => job.run(
                move |x| x.powf(p),
                Input,
                move |x, _| if p == 0.0 { 0.0 } else { p * x.powf(p - 1.0) },
                move |x, _| (p != 0.0).then(|| p * x.powf(p - 1.0)),
            ),
            // e^x = y
            Unary::Exp => job.run(f64::exp, Output, |_, y| y, |_, y| Some(y)),
            // 1/x
            Unary::Log => job.run(f64::ln, Input, |x, _| 1.0 / x, |x, _| Some(1.0 / x)),
            // 1/(2 sqrt x) = 1/(2y): infinite at 0, as in PyTorch
            Unary::Sqrt => job.run(f64::sqrt, Output, |_, y| 0.5 / y, |_, y| Some(0.5 / y)),
            // 1 - tanh^2 x = 1 - y^2
            Unary::Tanh => job.run(f64::tanh, Output, |_, y| 1.0 - y * y, |_, y| Some(1.0 - y * y)),
            // 1 where x > 0, else 0 (0 at the kink). `x <= 0` is false for NaN, so NaN passes
            // through forward and backward lets the gradient through, as PyTorch's
            // `threshold_backward`.
            Unary::Relu => {
                job.run(|x| if x <= 0.0 { 0.0 } else { x }, Input, |x, _| if x <= 0.0 { 0.0 } else { 1.0 }, constant)
            }
            // sigmoid x = 1/(1 + e^-x): e^-x / (1 + e^-x)^2 = y (1 - y)
            Unary::Sigmoid => {
                job.run(|x| 1.0 / (1.0 + (-x).exp()), Output, |_, y| y * (1.0 - y), |_, y| Some(y * (1.0 - y)))
            }
            // gelu x = x/2 (1 + t), t = tanh(u), u = k (x + a x^3), k = sqrt(2/pi), a = 0.044715:
            // product rule, (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 a x^2). Where t = ±1 exactly the
            // second term is 0 (it is, in the limit: 1 - t^2 falls like e^-2|u| while x^3 grows),
            // so it is skipped rather than computed as 0 * inf once x^2 overflows. (The
            // differentiable form does not skip it: it is exact wherever x^3 is finite.)
            Unary::Gelu => job.run(
                |x| 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh()),
                Input,
                |x, _| {
                    let t = (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh();
                    let slope = 1.0 - t * t;
                    let tail = if slope == 0.0 {
                        0.0
                    } else {
                        0.5 * x * slope * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x)
                    };
                    0.5 * (1.0 + t) + tail
                },
                |x, _| {
                    let t = (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh();
                    let tail = 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
                    Some(0.5 * (1.0 + t) + tail)
                },
            ),
            // sign(x); 0 at the kink, as PyTorch (and NaN for NaN: `signum` of NaN is NaN)
            Unary::Abs => job.run(f64::abs, Input, |x, _| if x == 0.0 { 0.0 } else { x.signum() }, constant),
        }
    }
}

/// The differentiable derivative of an op whose derivative is locally constant (piecewise,
/// like relu's, or everywhere, like `x + c`'s): none; the second derivative is zero.
fn constant<'t>(_: Var<'t>, _: Var<'t>) -> Option<Var<'t>> {
    None
}

/// What an elementwise op's derivative is computed from.
#[derive(Clone, Copy, PartialEq)]
enum DerivativeOf {
    /// The input `x` (its value is kept for backward).
    Input,
    /// The output `y` (its value is kept for backward).
    Output,
    /// Neither: the derivative is a constant.
    Nothing,
}

/// A computation generic over an elementwise op's function and derivative (see
/// [`Unary::dispatch`]).
trait UnaryJob {
    type Output;
    fn run(
        self,
        f: impl Fn(f64) -> f64,
        of: DerivativeOf,
        derivative: impl Fn(f64, f64) -> f64,
        graph: impl for<'t> Fn(Var<'t>, Var<'t>) -> Option<Var<'t>>,
    ) -> Self::Output;
}

/// The forward loop: `y[i] = f(x[i])`.
struct Apply<'a>(&'a Tensor);

impl UnaryJob for Apply<'_> {
    type Output = Tensor;
    fn run(
        self,
        f: impl Fn(f64) -> f64,
        _: DerivativeOf,
        _: impl Fn(f64, f64) -> f64,
        _: impl for<'t> Fn(Var<'t>, Var<'t>) -> Option<Var<'t>>,
    ) -> Tensor {
        self.0.map(f)
    }
}

/// What the derivative reads, for [`Rule::saved`].
struct Reads;

impl UnaryJob for Reads {
    type Output = DerivativeOf;
    fn run(
        self,
        _: impl Fn(f64) -> f64,
        of: DerivativeOf,
        _: impl Fn(f64, f64) -> f64,
        _: impl for<'t> Fn(Var<'t>, Var<'t>) -> Option<Var<'t>>,
    ) -> DerivativeOf {
        of
    }
}

/// The backward loop: `dx[i] = g[i] * f'(x[i], y[i])`, reading only what the derivative is
/// computed from.
struct ChainRule<'a, 'c>(&'a BackwardCx<'c>);

impl UnaryJob for ChainRule<'_, '_> {
    type Output = Tensor;
    fn run(
        self,
        _: impl Fn(f64) -> f64,
        of: DerivativeOf,
        derivative: impl Fn(f64, f64) -> f64,
        _: impl for<'t> Fn(Var<'t>, Var<'t>) -> Option<Var<'t>>,
    ) -> Tensor {
        let cx = self.0;
        let g = cx.upstream();
        let mut dx = buffer::zeroed(g.numel());
        match of {
            DerivativeOf::Input => {
                for ((d, &xi), &gi) in dx.iter_mut().zip(cx.input(0).data()).zip(g.data()) {
                    *d = gi * derivative(xi, 0.0);
                }
            }
            DerivativeOf::Output => {
                for ((d, &yi), &gi) in dx.iter_mut().zip(cx.output().data()).zip(g.data()) {
                    *d = gi * derivative(0.0, yi);
                }
            }
            DerivativeOf::Nothing => {
                let c = derivative(0.0, 0.0);
                dx.iter_mut().zip(g.data()).for_each(|(d, &gi)| *d = gi * c);
            }
        }
        Tensor::from_parts(dx, g.shape())
    }
}

/// The differentiable backward: `dx = g * f'(x)`, with `f'` recorded as ops of `x` and `y`
/// (or, where it is locally constant, as a constant: `g * c` for a constant derivative, `g`
/// times a tensor of `f'(x)` values for a piecewise one).
struct GraphChainRule<'a, 'c, 't>(&'a GraphCx<'c, 't>);

impl<'t> UnaryJob for GraphChainRule<'_, '_, 't> {
    type Output = Var<'t>;
    fn run(
        self,
        _: impl Fn(f64) -> f64,
        of: DerivativeOf,
        derivative: impl Fn(f64, f64) -> f64,
        graph: impl for<'s> Fn(Var<'s>, Var<'s>) -> Option<Var<'s>>,
    ) -> Var<'t> {
        let cx = self.0;
        let (g, x, y) = (cx.upstream(), cx.input(0), cx.output());
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
        cx.add_with(0, |cx| self.dispatch(ChainRule(cx)));
    }

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| self.dispatch(GraphChainRule(cx)));
    }
}

/// Forward: `y[i] = f(x[i])`, recorded as one node.
#[track_caller]
pub(crate) fn unary<'t>(x: Var<'t>, f: Unary) -> Var<'t> {
    let y = f.dispatch(Apply(&x.value_ref()));
    x.tape.record(f, &[x], y)
}

impl<'t> Var<'t> {
    /// `x^p` elementwise, for a constant real exponent.
    #[track_caller]
    pub fn powf(self, p: f64) -> Var<'t> {
        unary(self, Unary::Powf(p))
    }

    /// `e^x` elementwise.
    #[track_caller]
    pub fn exp(self) -> Var<'t> {
        unary(self, Unary::Exp)
    }

    /// Natural logarithm elementwise.
    #[track_caller]
    pub fn log(self) -> Var<'t> {
        unary(self, Unary::Log)
    }

    /// Square root elementwise.
    #[track_caller]
    pub fn sqrt(self) -> Var<'t> {
        unary(self, Unary::Sqrt)
    }

    /// Hyperbolic tangent elementwise.
    #[track_caller]
    pub fn tanh(self) -> Var<'t> {
        unary(self, Unary::Tanh)
    }

    /// `max(x, 0)` elementwise.
    #[track_caller]
    pub fn relu(self) -> Var<'t> {
        unary(self, Unary::Relu)
    }

    /// `1 / (1 + e^-x)` elementwise.
    #[track_caller]
    pub fn sigmoid(self) -> Var<'t> {
        unary(self, Unary::Sigmoid)
    }

    /// `|x|` elementwise. Its gradient is `sign(x)`, and 0 at `x = 0` (as PyTorch).
    #[track_caller]
    pub fn abs(self) -> Var<'t> {
        unary(self, Unary::Abs)
    }

    /// GELU, tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
    #[track_caller]
    pub fn gelu(self) -> Var<'t> {
        unary(self, Unary::Gelu)
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
        assert_eq!(Unary::Exp.label(), "exp");
    }
}
