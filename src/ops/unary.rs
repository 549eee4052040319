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

    /// The forward function.
    fn apply(self, x: f64) -> f64 {
        match self {
            Unary::Neg => -x,
            Unary::AddScalar(c) => x + c,
            Unary::MulScalar(c) => x * c,
            Unary::DivScalar(c) => x / c,
            Unary::ScalarSub(c) => c - x,
            Unary::ScalarDiv(c) => c / x,
            Unary::Powf(p) => x.powf(p),
            Unary::Exp => x.exp(),
            Unary::Log => x.ln(),
            Unary::Sqrt => x.sqrt(),
            Unary::Tanh => x.tanh(),
            Unary::Relu => x.max(0.0),
            Unary::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Unary::Gelu => 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh()),
        }
    }

    /// `dy/dx` at input `x` with output `y`. The derivations:
    /// - `-x`: -1. `x + c`: 1. `x * c`: c. `x / c`: 1/c. `c - x`: -1.
    /// - `c / x`: `-c / x^2`, written `-y / x` (y = c/x).
    /// - `x^p`: `p x^(p-1)`.
    /// - `exp x`: `exp x = y`.
    /// - `ln x`: `1 / x`.
    /// - `sqrt x`: `1 / (2 sqrt x) = 1 / (2y)` (infinite at 0, as in PyTorch).
    /// - `tanh x`: `1 - tanh^2 x = 1 - y^2`.
    /// - `relu x`: 1 where `x > 0`, else 0 (0 at the kink, as PyTorch).
    /// - `sigmoid x = 1/(1+e^-x)`: `e^-x / (1+e^-x)^2 = y (1 - y)`.
    /// - `gelu x = x/2 (1 + t)` with `t = tanh(u)`, `u = k (x + a x^3)`, `k = sqrt(2/pi)`:
    ///   product rule, `(1 + t)/2 + x/2 (1 - t^2) k (1 + 3 a x^2)`.
    fn derivative(self, x: f64, y: f64) -> f64 {
        match self {
            Unary::Neg | Unary::ScalarSub(_) => -1.0,
            Unary::AddScalar(_) => 1.0,
            Unary::MulScalar(c) => c,
            Unary::DivScalar(c) => 1.0 / c,
            Unary::ScalarDiv(_) => -y / x,
            Unary::Powf(p) => p * x.powf(p - 1.0),
            Unary::Exp => y,
            Unary::Log => 1.0 / x,
            Unary::Sqrt => 0.5 / y,
            Unary::Tanh => 1.0 - y * y,
            Unary::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Unary::Sigmoid => y * (1.0 - y),
            Unary::Gelu => {
                let t = (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh();
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x)
            }
        }
    }
}

/// Forward: `y[i] = f(x[i])`, recorded as one node.
#[track_caller]
pub(crate) fn unary<'t>(x: Var<'t>, f: Unary) -> Var<'t> {
    let y = x.value_ref().map(|v| f.apply(v));
    x.tape.record(Op::Unary { x: x.id, f }, y)
}

/// Backward: `dx[i] = g[i] * f'(x[i], y[i])` (the chain rule, elementwise; the derivatives are
/// derived on [`Unary::derivative`]).
pub(crate) fn backward(f: Unary, x_id: usize, x: &Tensor, y: &Tensor, g: &Tensor, sink: &mut GradSink) {
    if !sink.wants(x_id) {
        return;
    }
    let derivatives = x.data().iter().zip(y.data()).zip(g.data()).map(|((&xi, &yi), &gi)| gi * f.derivative(xi, yi));
    let dx = buffer::collect(x.numel(), derivatives);
    sink.add(x_id, Tensor::from_parts(dx, x.shape()));
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
