//! Elementwise functions of one input: `y[i] = f(x[i])`.
//!
//! Every one has the same backward, `dx[i] = g[i] * f'(x[i])`; only the derivative differs, and
//! it may be computed from the input `x` or, when cheaper, from the output `y` (as dfdx's
//! `UnaryDerivative` does: `exp' = y`, `tanh' = 1 - y^2`, `sigmoid' = y (1 - y)`).

use crate::buffer;
use crate::ops::Op;
use crate::tape::{GradSink, Var};
use crate::tensor::Tensor;

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
}

impl Unary {
    /// The op as a label for dumps and graphs; constants with at most 6 significant digits.
    pub(crate) fn name(self) -> String {
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
        }
    }

    /// Runs `job` with this op's function `f(x)` and derivative `f'(x, y)` (from the input `x`
    /// or, when cheaper, the output `y`) as closures of their own types, so that the loops in
    /// `job` are compiled per op with the arithmetic inlined, not a `match` per element.
    ///
    /// This table is the one definition of every elementwise op; each derivative's derivation
    /// is the comment on its arm.
    #[inline(always)]
    fn dispatch<J: Job>(self, job: J) -> J::Output {
        match self {
            // -1
            Unary::Neg => job.run(|x| -x, |_, _| -1.0),
            // 1
            Unary::AddScalar(c) => job.run(move |x| x + c, |_, _| 1.0),
            // c
            Unary::MulScalar(c) => job.run(move |x| x * c, move |_, _| c),
            // 1/c
            Unary::DivScalar(c) => job.run(move |x| x / c, move |_, _| 1.0 / c),
            // -1
            Unary::ScalarSub(c) => job.run(move |x| c - x, |_, _| -1.0),
            // d(c/x)/dx = -c/x^2, written -y/x with y = c/x
            Unary::ScalarDiv(c) => job.run(move |x| c / x, |x, y| -y / x),
            // p x^(p-1)
            Unary::Powf(p) => job.run(move |x| x.powf(p), move |x, _| p * x.powf(p - 1.0)),
            // e^x = y
            Unary::Exp => job.run(f64::exp, |_, y| y),
            // 1/x
            Unary::Log => job.run(f64::ln, |x, _| 1.0 / x),
            // 1/(2 sqrt x) = 1/(2y): infinite at 0, as in PyTorch
            Unary::Sqrt => job.run(f64::sqrt, |_, y| 0.5 / y),
            // 1 - tanh^2 x = 1 - y^2
            Unary::Tanh => job.run(f64::tanh, |_, y| 1.0 - y * y),
            // 1 where x > 0, else 0 (0 at the kink, as PyTorch)
            Unary::Relu => job.run(|x| x.max(0.0), |x, _| if x > 0.0 { 1.0 } else { 0.0 }),
            // sigmoid x = 1/(1 + e^-x): e^-x / (1 + e^-x)^2 = y (1 - y)
            Unary::Sigmoid => job.run(|x| 1.0 / (1.0 + (-x).exp()), |_, y| y * (1.0 - y)),
            // gelu x = x/2 (1 + t), t = tanh(u), u = k (x + a x^3), k = sqrt(2/pi), a = 0.044715:
            // product rule, (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 a x^2)
            Unary::Gelu => job.run(
                |x| 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh()),
                |x, _| {
                    let t = (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh();
                    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x)
                },
            ),
        }
    }
}

/// A computation generic over an elementwise op's function and derivative (see
/// [`Unary::dispatch`]).
trait Job {
    type Output;
    fn run(self, f: impl Fn(f64) -> f64, derivative: impl Fn(f64, f64) -> f64) -> Self::Output;
}

/// The forward loop: `y[i] = f(x[i])`.
struct Forward<'a>(&'a Tensor);

impl Job for Forward<'_> {
    type Output = Tensor;
    fn run(self, f: impl Fn(f64) -> f64, _: impl Fn(f64, f64) -> f64) -> Tensor {
        self.0.map(f)
    }
}

/// The backward loop: `dx[i] = g[i] * f'(x[i], y[i])`.
struct Backward<'a> {
    x: &'a Tensor,
    y: &'a Tensor,
    g: &'a Tensor,
}

impl Job for Backward<'_> {
    type Output = Tensor;
    fn run(self, _: impl Fn(f64) -> f64, derivative: impl Fn(f64, f64) -> f64) -> Tensor {
        let (x, y, g) = (self.x.data(), self.y.data(), self.g.data());
        let mut dx = buffer::zeroed(x.len());
        for (((d, &xi), &yi), &gi) in dx.iter_mut().zip(x).zip(y).zip(g) {
            *d = gi * derivative(xi, yi);
        }
        Tensor::from_parts(dx, self.x.shape())
    }
}

/// Forward: `y[i] = f(x[i])`, recorded as one node.
#[track_caller]
pub(crate) fn unary<'t>(x: Var<'t>, f: Unary) -> Var<'t> {
    let y = f.dispatch(Forward(&x.value_ref()));
    x.tape.record(Op::Unary { x: x.id, f }, y)
}

/// Backward: `dx[i] = g[i] * f'(x[i], y[i])` (the chain rule, elementwise; each derivative's
/// derivation is on its arm of [`Unary::dispatch`]).
pub(crate) fn backward(f: Unary, x_id: usize, x: &Tensor, y: &Tensor, g: &Tensor, sink: &mut GradSink) {
    if sink.wants(x_id) {
        sink.add(x_id, f.dispatch(Backward { x, y, g }));
    }
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
        assert_eq!(Unary::MulScalar(0.5).name(), "mul(0.5)");
        assert_eq!(Unary::DivScalar(8f64.sqrt()).name(), "div(2.82843)");
        assert_eq!(Unary::AddScalar(1e-10).name(), "add(1e-10)");
        assert_eq!(Unary::Powf(1.0 / 3.0).name(), "powf(0.333333)");
        assert_eq!(Unary::Exp.name(), "exp");
    }
}
