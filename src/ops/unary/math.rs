//! Elementwise math functions: `exp`, `log`, `sqrt`, `abs`, `log1p`, `expm1`, `sin`, `cos`,
//! `clamp`. Each is a variant, its label, one arm of [`Math::dispatch`] (function, what its
//! derivative reads, derivative, with the derivation as the arm's comment) and its method.

use super::{DerivativeOf, Unary, UnaryJob, constant, short, unary};
use crate::autograd::Var;
use crate::tensor::Tensor;

/// The math functions (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Math {
    Exp,
    Log,
    Sqrt,
    Abs,
    Log1p,
    Expm1,
    Sin,
    Cos,
    Clamp { min: f64, max: f64 },
}

impl Math {
    pub(crate) fn label(self) -> String {
        match self {
            Math::Exp => "exp".into(),
            Math::Log => "log".into(),
            Math::Sqrt => "sqrt".into(),
            Math::Abs => "abs".into(),
            Math::Log1p => "log1p".into(),
            Math::Expm1 => "expm1".into(),
            Math::Sin => "sin".into(),
            Math::Cos => "cos".into(),
            Math::Clamp { min, max } => format!("clamp({}, {})", short(min), short(max)),
        }
    }

    /// This family's part of [`Unary::dispatch`] (its fourth closure: see there). NaN policy (as PyTorch): a NaN input gives
    /// a NaN output.
    #[inline(always)]
    pub(crate) fn dispatch<J: UnaryJob>(self, job: J) -> J::Output {
        use DerivativeOf::{Input, Output};
        match self {
            // e^x = y
            Math::Exp => job.run(f64::exp, Output, |_, y| y, |_, y| Some(y)),
            // 1/x (the backward divides, `g / x`: see `Chain::DivideByInput`)
            Math::Log => job.run(f64::ln, Input, |x, _| 1.0 / x, |x, _| Some(1.0 / x)),
            // 1/(2 sqrt x) = 1/(2y): infinite at 0, as in PyTorch
            Math::Sqrt => job.run(f64::sqrt, Output, |_, y| 0.5 / y, |_, y| Some(0.5 / y)),
            // sign(x); 0 at the kink, and 0 for NaN, as PyTorch's `sgn` (`(0 < x) - (x < 0)`)
            Math::Abs => {
                job.run(f64::abs, Input, |x, _| if x == 0.0 || x.is_nan() { 0.0 } else { x.signum() }, constant)
            }
            // d log(1 + x)/dx = 1/(1 + x)
            Math::Log1p => job.run(f64::ln_1p, Input, |x, _| 1.0 / (1.0 + x), |x, _| Some(1.0 / (x + 1.0))),
            // d(e^x - 1)/dx = e^x = y + 1 (PyTorch's formula too)
            Math::Expm1 => job.run(f64::exp_m1, Output, |_, y| y + 1.0, |_, y| Some(y + 1.0)),
            // sin' = cos
            Math::Sin => job.run(f64::sin, Input, |x, _| x.cos(), |x, _| Some(x.cos())),
            // cos' = -sin
            Math::Cos => job.run(f64::cos, Input, |x, _| -x.sin(), |x, _| Some(-x.sin())),
            // Forward `min(max(x, min), max)`: `max` wins when `min > max`, a NaN input stays NaN,
            // and so does every output when a bound is NaN (as PyTorch). The derivative is 1
            // where `min < x < max`, and 0 AT the bounds (PyTorch 2.15's subgradient choice at
            // the kinks), outside them and for NaN; it selects the upstream gradient
            // (`Chain::Select`), so an infinite one is 0 where the derivative is.
            Math::Clamp { min, max } => job.run(
                move |x| {
                    if x.is_nan() || min.is_nan() || max.is_nan() { f64::NAN } else { x.max(min).min(max) }
                },
                Input,
                move |x, _| if min < x && x < max { 1.0 } else { 0.0 },
                constant,
            ),
        }
    }
}

/// Records `x` through `f`.
#[track_caller]
fn math(x: Var<'_>, f: Math) -> Var<'_> {
    unary(x, Unary::Math(f))
}

impl<'t> Var<'t> {
    /// `e^x` elementwise.
    #[track_caller]
    pub fn exp(self) -> Var<'t> {
        math(self, Math::Exp)
    }

    /// Natural logarithm elementwise.
    #[track_caller]
    pub fn log(self) -> Var<'t> {
        math(self, Math::Log)
    }

    /// Square root elementwise.
    #[track_caller]
    pub fn sqrt(self) -> Var<'t> {
        math(self, Math::Sqrt)
    }

    /// `|x|` elementwise. Its gradient is `sign(x)`, and 0 at `x = 0` (as PyTorch).
    #[track_caller]
    pub fn abs(self) -> Var<'t> {
        math(self, Math::Abs)
    }

    /// `log(1 + x)` elementwise, accurate for small `x` (where `(1 + x).log()` loses digits).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::scalar(1e-20));
    /// assert_eq!(x.log1p().item(), 1e-20);
    /// assert_eq!((x + 1.0).log().item(), 0.0);
    /// ```
    #[track_caller]
    pub fn log1p(self) -> Var<'t> {
        math(self, Math::Log1p)
    }

    /// `e^x - 1` elementwise, accurate for small `x`.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// assert_eq!(tape.var(Tensor::scalar(1e-20)).expm1().item(), 1e-20);
    /// ```
    #[track_caller]
    pub fn expm1(self) -> Var<'t> {
        math(self, Math::Expm1)
    }

    /// Sine elementwise (radians).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// let y = x.sin();
    /// assert_eq!(y.backward().wrt(x).unwrap().item(), 1.0); // cos 0
    /// ```
    #[track_caller]
    pub fn sin(self) -> Var<'t> {
        math(self, Math::Sin)
    }

    /// Cosine elementwise (radians).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// assert_eq!(tape.var(Tensor::scalar(0.0)).cos().item(), 1.0);
    /// ```
    #[track_caller]
    pub fn cos(self) -> Var<'t> {
        math(self, Math::Cos)
    }

    /// Limits every element to `[min, max]`: `min(max(x, min), max)`, as `torch.clamp`
    /// (`max` wins when `min > max`; pass `f64::NEG_INFINITY` or `f64::INFINITY` for a
    /// one-sided clamp). The gradient is 1 where `min < x < max`, and 0 at the bounds (as
    /// PyTorch 2.15) and outside them. A NaN input gives NaN, with gradient 0.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![-2.0, 0.0, 0.5, 1.0, 3.0], &[5])?);
    /// let y = x.clamp(0.0, 1.0);
    /// assert_eq!(y.value().data(), &[0.0, 0.0, 0.5, 1.0, 1.0]);
    /// assert_eq!(y.sum().backward().wrt(x).unwrap().data(), &[0.0, 0.0, 1.0, 0.0, 0.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn clamp(self, min: f64, max: f64) -> Var<'t> {
        math(self, Math::Clamp { min, max })
    }
}

/// The same functions on plain tensors, outside any tape: each op's forward loop, so the
/// values are the same to the bit.
///
/// ```
/// # use tapegrad::Tensor;
/// let t = Tensor::new(vec![0.0, 1.0], &[2])?;
/// assert_eq!(t.exp().log(), t);
/// # Ok::<(), tapegrad::Error>(())
/// ```
impl Tensor {
    /// `e^x` elementwise (see [`Var::exp`]).
    pub fn exp(&self) -> Tensor {
        Unary::Math(Math::Exp).apply(self)
    }

    /// Natural logarithm elementwise.
    pub fn log(&self) -> Tensor {
        Unary::Math(Math::Log).apply(self)
    }

    /// Square root elementwise.
    pub fn sqrt(&self) -> Tensor {
        Unary::Math(Math::Sqrt).apply(self)
    }

    /// `|x|` elementwise.
    pub fn abs(&self) -> Tensor {
        Unary::Math(Math::Abs).apply(self)
    }

    /// `log(1 + x)` elementwise (see [`Var::log1p`]).
    pub fn log1p(&self) -> Tensor {
        Unary::Math(Math::Log1p).apply(self)
    }

    /// `e^x - 1` elementwise (see [`Var::expm1`]).
    pub fn expm1(&self) -> Tensor {
        Unary::Math(Math::Expm1).apply(self)
    }

    /// Sine elementwise (radians).
    pub fn sin(&self) -> Tensor {
        Unary::Math(Math::Sin).apply(self)
    }

    /// Cosine elementwise (radians).
    pub fn cos(&self) -> Tensor {
        Unary::Math(Math::Cos).apply(self)
    }

    /// Every element limited to `[min, max]`, as `torch.clamp` (see [`Var::clamp`]).
    pub fn clamp(&self, min: f64, max: f64) -> Tensor {
        Unary::Math(Math::Clamp { min, max }).apply(self)
    }
}
