//! Activation functions, elementwise: `tanh`, `relu`, `sigmoid`, `gelu`, `softplus`, `silu`,
//! `leaky_relu`, `elu`. Each is a variant, its label, one arm of [`Activation::dispatch`]
//! (function, what its derivative reads, derivative, with the derivation as the arm's
//! comment) and its method.

use super::{DerivativeOf, Unary, UnaryJob, constant, unary};
use crate::autograd::Var;
use crate::autograd::short;
use crate::tensor::Tensor;

/// `sqrt(2 / pi)`, the constant of GELU's tanh approximation.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of GELU's tanh approximation.
const GELU_CUBIC: f64 = 0.044_715;
/// Above this, `softplus(x)` is `x` (PyTorch's default threshold, with beta 1).
const SOFTPLUS_THRESHOLD: f64 = 20.0;

/// The activation functions (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Activation {
    Tanh,
    Relu,
    Sigmoid,
    Gelu,
    Softplus,
    Silu,
    LeakyRelu(f64),
    Elu(f64),
    /// gelu's derivative as an op of its own (`backward_graph` records it): its derivative,
    /// gelu'', is computed per element as PyTorch's double backward computes it.
    GeluSlope,
    /// elu's derivative as an op of its own (`backward_graph` records it), `below_only`
    /// keeping only its `x < 0` side (the derivative of the derivative, masked as PyTorch's
    /// double backward masks it).
    EluSlope {
        alpha: f64,
        below_only: bool,
    },
}

impl Activation {
    pub(crate) fn label(self) -> String {
        match self {
            Activation::Tanh => "tanh".into(),
            Activation::Relu => "relu".into(),
            Activation::Sigmoid => "sigmoid".into(),
            Activation::Gelu => "gelu".into(),
            Activation::Softplus => "softplus".into(),
            Activation::Silu => "silu".into(),
            Activation::LeakyRelu(slope) => format!("leaky_relu({})", short(slope)),
            Activation::Elu(alpha) => format!("elu({})", short(alpha)),
            Activation::GeluSlope => "gelu'".into(),
            Activation::EluSlope { alpha, below_only: false } => format!("elu'({})", short(alpha)),
            Activation::EluSlope { alpha, below_only: true } => format!("elu'[x<0]({})", short(alpha)),
        }
    }

    /// This family's part of [`Unary::dispatch`] (its fourth closure: see there). NaN policy (as PyTorch): a NaN input gives
    /// a NaN output.
    #[inline(always)]
    pub(crate) fn dispatch<J: UnaryJob>(self, job: J) -> J::Output {
        use DerivativeOf::{Input, Output};
        match self {
            // 1 - tanh^2 x = 1 - y^2
            Activation::Tanh => job.run(f64::tanh, Output, |_, y| 1.0 - y * y, |_, y| Some(1.0 - y * y)),
            // 1 where x > 0, else 0 (0 at the kink). `x <= 0` is false for NaN, so NaN passes
            // through forward and backward lets the gradient through, as PyTorch's
            // `threshold_backward`. Only `x < 0` becomes +0: `relu(-0.0)` is -0.0, as PyTorch.
            Activation::Relu => {
                job.run(|x| if x < 0.0 { 0.0 } else { x }, Input, |x, _| if x <= 0.0 { 0.0 } else { 1.0 }, constant)
            }
            // sigmoid x = 1/(1 + e^-x): e^-x / (1 + e^-x)^2 = y (1 - y)
            Activation::Sigmoid => {
                job.run(|x| 1.0 / (1.0 + (-x).exp()), Output, |_, y| y * (1.0 - y), |_, y| Some(y * (1.0 - y)))
            }
            // gelu x = x/2 (1 + t), t = tanh(u), u = k (x + a x^3), k = sqrt(2/pi), a = 0.044715:
            // product rule, (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 a x^2) (`gelu_slope`). The
            // differentiable form is that derivative as an op of its own, so that its
            // derivative is one number per element, as PyTorch's.
            Activation::Gelu => job.run(
                |x| 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh()),
                Input,
                |x, _| gelu_slope(x),
                |x, _| Some(activation(x, Activation::GeluSlope)),
            ),
            // gelu' (above), whose derivative is gelu'' (`gelu_curvature`). Differentiable form:
            // gelu'' = (1 - t^2) (u' - x t u'^2 + x u''/2) with u' = k (1 + 3 a x^2),
            // u'' = 6 k a x, as ops (exact wherever x^3 is finite; third derivatives only).
            Activation::GeluSlope => job.run(
                gelu_slope,
                Input,
                |x, _| gelu_curvature(x),
                |x, _| {
                    let t = ((x + x * x * x * GELU_CUBIC) * SQRT_2_OVER_PI).tanh();
                    let du = (x * x * (3.0 * GELU_CUBIC) + 1.0) * SQRT_2_OVER_PI;
                    let d2u_half = x * (3.0 * GELU_CUBIC * SQRT_2_OVER_PI);
                    Some((1.0 - t * t) * (du - x * t * du * du + x * d2u_half))
                },
            ),
            // softplus x = log(1 + e^x), and x itself above the threshold 20 (where they agree
            // to within e^-20 relative), as PyTorch: d/dx = e^x / (1 + e^x) = sigmoid x, and 1
            // above the threshold. Differentiable form: `sigmoid(x)`, filled with the constant 1
            // above the threshold (its second derivative there is 0).
            Activation::Softplus => job.run(
                |x| if x > SOFTPLUS_THRESHOLD { x } else { x.exp().ln_1p() },
                Input,
                |x, _| {
                    if x > SOFTPLUS_THRESHOLD {
                        1.0
                    } else {
                        let z = x.exp();
                        z / (z + 1.0)
                    }
                },
                |x, _| {
                    let above = x.value_ref().map(|xi| if xi > SOFTPLUS_THRESHOLD { 1.0 } else { 0.0 });
                    Some(x.sigmoid().masked_fill(&above, 1.0))
                },
            ),
            // silu x = x s, s = sigmoid x: product rule, s + x s (1 - s) = s (1 + x (1 - s)).
            // Forward as PyTorch writes it, x / (1 + e^-x).
            Activation::Silu => job.run(
                |x| x / (1.0 + (-x).exp()),
                Input,
                |x, _| {
                    let s = 1.0 / (1.0 + (-x).exp());
                    s * (1.0 + x * (1.0 - s))
                },
                |x, _| {
                    let s = x.sigmoid();
                    Some(s * ((1.0 - s) * x + 1.0))
                },
            ),
            // 1 where x > 0, else the slope (the slope at 0, and for NaN, as PyTorch's
            // `leaky_relu_backward`, which tests `x > 0`).
            Activation::LeakyRelu(slope) => job.run(
                move |x| if x > 0.0 { x } else { x * slope },
                Input,
                move |x, _| if x > 0.0 { 1.0 } else { slope },
                constant,
            ),
            // elu x = alpha (e^x - 1) where x <= 0, else x: derivative 1 where x > 0, else
            // alpha e^x (so alpha at the kink, and NaN for NaN, as PyTorch's vectorised
            // `elu_backward`, which tests `x > 0`). Differentiable form: that derivative as an
            // op of its own, whose derivative is PyTorch's double backward.
            Activation::Elu(alpha) => job.run(
                move |x| if x <= 0.0 { alpha * x.exp_m1() } else { x },
                Input,
                move |x, _| elu_slope(alpha, x),
                move |x, _| Some(activation(x, Activation::EluSlope { alpha, below_only: false })),
            ),
            // elu' (above), and its `x < 0` side alone. Derivative: PyTorch's double backward,
            // `elu_backward(g, x) * (x < 0)`, a product with the mask: alpha e^x where x < 0,
            // 0 where x >= 0 (so an infinite g there gives NaN, as PyTorch's), NaN for NaN.
            // Differentiable form: the `x < 0` side again.
            Activation::EluSlope { alpha, below_only } => job.run(
                move |x| if below_only { elu_curvature(alpha, x) } else { elu_slope(alpha, x) },
                Input,
                move |x, _| elu_curvature(alpha, x),
                move |x, _| Some(activation(x, Activation::EluSlope { alpha, below_only: true })),
            ),
        }
    }
}

/// Records `x` through `f`.
#[track_caller]
fn activation(x: Var<'_>, f: Activation) -> Var<'_> {
    unary(x, Unary::Activation(f))
}

impl<'t> Var<'t> {
    /// Hyperbolic tangent elementwise.
    #[track_caller]
    pub fn tanh(self) -> Var<'t> {
        activation(self, Activation::Tanh)
    }

    /// `max(x, 0)` elementwise.
    #[track_caller]
    pub fn relu(self) -> Var<'t> {
        activation(self, Activation::Relu)
    }

    /// `1 / (1 + e^-x)` elementwise.
    #[track_caller]
    pub fn sigmoid(self) -> Var<'t> {
        activation(self, Activation::Sigmoid)
    }

    /// GELU, tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
    #[track_caller]
    pub fn gelu(self) -> Var<'t> {
        activation(self, Activation::Gelu)
    }

    /// `log(1 + e^x)` elementwise, as PyTorch's `softplus` with beta 1 and threshold 20: above
    /// 20 it returns `x` itself (gradient 1).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![0.0, 30.0], &[2])?);
    /// assert_eq!(x.softplus().value().data(), &[2f64.ln(), 30.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn softplus(self) -> Var<'t> {
        activation(self, Activation::Softplus)
    }

    /// SiLU (swish): `x * sigmoid(x)` elementwise.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// let y = x.silu();
    /// assert_eq!(y.item(), 0.0);
    /// assert_eq!(y.backward().wrt(x).unwrap().item(), 0.5); // sigmoid(0)
    /// ```
    #[track_caller]
    pub fn silu(self) -> Var<'t> {
        activation(self, Activation::Silu)
    }

    /// `x` where `x > 0`, else `slope * x`, as PyTorch's `leaky_relu(x, negative_slope)`
    /// (PyTorch's default slope is 0.01). The gradient at 0 is `slope`.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![-2.0, 3.0], &[2])?);
    /// assert_eq!(x.leaky_relu(0.1).value().data(), &[-0.2, 3.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn leaky_relu(self, slope: f64) -> Var<'t> {
        activation(self, Activation::LeakyRelu(slope))
    }

    /// ELU: `x` where `x > 0`, else `alpha * (e^x - 1)`, as PyTorch's `elu(x, alpha)`
    /// (PyTorch's default alpha is 1). The gradient at 0 is `alpha`.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![-1.0, 2.0], &[2])?);
    /// assert_eq!(x.elu(1.0).value().data(), &[(-1f64).exp_m1(), 2.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn elu(self, alpha: f64) -> Var<'t> {
        activation(self, Activation::Elu(alpha))
    }
}

/// gelu'(x) = (1 + t)/2 + x/2 (1 - t^2) u', `t = tanh(u)`, `u = k (x + a x^3)`,
/// `u' = k (1 + 3 a x^2)`. Where t = ±1 exactly the second term is 0 (it is, in the limit:
/// 1 - t^2 falls like e^-2|u| while x^3 grows), so it is skipped rather than computed as
/// 0 * inf once x^2 overflows (PyTorch computes it: NaN beyond |x| ~ 5.6e102).
#[inline(always)]
fn gelu_slope(x: f64) -> f64 {
    let t = (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh();
    let slope = 1.0 - t * t;
    let tail = if slope == 0.0 { 0.0 } else { 0.5 * x * slope * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x) };
    0.5 * (1.0 + t) + tail
}

/// gelu''(x), as PyTorch's `gelu_double_backward` forms it: with f = x/2, g = 1 - t^2,
/// h = u', the derivative of (1 + t)/2 + f g h is 2 (g h / 2) + f h g' + f g h', where
/// g' = -2 sech^2(u) t h and h' = 6 a k x. A term whose vanishing factor (g, or sech) is
/// exactly 0 is 0, as in [`gelu_slope`], not `0 * inf`: so the second derivative is 0 wherever
/// tanh saturates, under any finite upstream gradient (PyTorch's too, short of x^3 overflowing).
fn gelu_curvature(x: f64) -> f64 {
    let u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x);
    let (t, sech) = (u.tanh(), 1.0 / u.cosh());
    let (f, g, h) = (0.5 * x, 1.0 - t * t, SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x));
    let f_prime_g_h = if g == 0.0 { 0.0 } else { 0.5 * g * h };
    let f_h_g_prime = if sech == 0.0 { 0.0 } else { f * h * ((2.0 * sech) * (-sech * t) * h) };
    let f_g_h_prime = if g == 0.0 { 0.0 } else { f * g * (6.0 * GELU_CUBIC * x * SQRT_2_OVER_PI) };
    2.0 * f_prime_g_h + f_h_g_prime + f_g_h_prime
}

/// elu'(x): 1 where x > 0, else alpha e^x (NaN for NaN).
#[inline(always)]
fn elu_slope(alpha: f64, x: f64) -> f64 {
    if x > 0.0 { 1.0 } else { alpha * x.exp() }
}

/// elu'(x) times the mask `x < 0`, as one number: alpha e^x where x < 0, 0 where x >= 0, NaN
/// for NaN.
fn elu_curvature(alpha: f64, x: f64) -> f64 {
    if x >= 0.0 { 0.0 } else { alpha * x.exp() }
}

/// GELU's `t = tanh(u)`, `u = k (x + a x^3)`, and `u' = k (1 + 3 a x^2)`, for its slips.
fn gelu_parts(x: f64) -> (f64, f64) {
    let t = (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh();
    (t, SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x))
}

/// A derivative `f'(x, y)` as a hand derivation gets it wrong, and what was done.
pub(crate) type SlippedDerivative = (&'static str, fn(f64, f64) -> f64);

impl Activation {
    /// The derivative with one of its terms dropped, as hand derivations drop them (for
    /// [`Rule::slips`](crate::autograd::Rule::slips)): what the learner wrote instead of what,
    /// and that derivative of `(x, y)`.
    pub(crate) fn slipped_derivatives(self) -> Vec<SlippedDerivative> {
        match self {
            Activation::Tanh => vec![
                ("1 instead of 1 - tanh^2: the -tanh^2 term of tanh's derivative dropped", |_, _| 1.0),
                ("-tanh^2 instead of 1 - tanh^2: the 1 of tanh's derivative dropped", |_, y| -y * y),
            ],
            Activation::Sigmoid => vec![
                ("s instead of s (1 - s): the -s^2 term of sigmoid's derivative dropped", |_, y| y),
                ("1 - s instead of s (1 - s): the factor s of sigmoid's derivative dropped", |_, y| 1.0 - y),
            ],
            Activation::Gelu => vec![
                (
                    "(1 + t)/2 instead of (1 + t)/2 + x/2 (1 - t^2) u': the second term of gelu's derivative dropped",
                    |x, _| 0.5 * (1.0 + gelu_parts(x).0),
                ),
                (
                    "x/2 (1 - t^2) u' instead of (1 + t)/2 + x/2 (1 - t^2) u': the first term of gelu's derivative dropped",
                    |x, _| {
                        let (t, du) = gelu_parts(x);
                        0.5 * x * (1.0 - t * t) * du
                    },
                ),
                (
                    "u' = k instead of u' = k (1 + 3 a x^2) in gelu's derivative: the cubic's derivative dropped",
                    |x, _| {
                        let (t, _) = gelu_parts(x);
                        0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI
                    },
                ),
            ],
            _ => Vec::new(),
        }
    }
}

/// The same activations on plain tensors, outside any tape: each op's forward loop, so the
/// values are the same to the bit.
///
/// ```
/// # use tapegrad::Tensor;
/// let t = Tensor::new(vec![-1.0, 0.0, 2.0], &[3])?;
/// assert_eq!(t.relu().data(), &[0.0, 0.0, 2.0]);
/// assert_eq!(t.sigmoid().data()[1], 0.5);
/// # Ok::<(), tapegrad::Error>(())
/// ```
impl Tensor {
    /// Hyperbolic tangent elementwise.
    pub fn tanh(&self) -> Tensor {
        Unary::Activation(Activation::Tanh).apply(self)
    }

    /// `max(x, 0)` elementwise.
    pub fn relu(&self) -> Tensor {
        Unary::Activation(Activation::Relu).apply(self)
    }

    /// `1 / (1 + e^-x)` elementwise.
    pub fn sigmoid(&self) -> Tensor {
        Unary::Activation(Activation::Sigmoid).apply(self)
    }

    /// GELU, tanh approximation (see [`Var::gelu`]).
    pub fn gelu(&self) -> Tensor {
        Unary::Activation(Activation::Gelu).apply(self)
    }

    /// `log(1 + e^x)` elementwise, beta 1 and threshold 20 (see [`Var::softplus`]).
    pub fn softplus(&self) -> Tensor {
        Unary::Activation(Activation::Softplus).apply(self)
    }

    /// SiLU (swish): `x * sigmoid(x)` elementwise.
    pub fn silu(&self) -> Tensor {
        Unary::Activation(Activation::Silu).apply(self)
    }

    /// `x` where `x > 0`, else `slope * x` (see [`Var::leaky_relu`]).
    pub fn leaky_relu(&self, slope: f64) -> Tensor {
        Unary::Activation(Activation::LeakyRelu(slope)).apply(self)
    }

    /// `x` where `x > 0`, else `alpha * (e^x - 1)` (see [`Var::elu`]).
    pub fn elu(&self, alpha: f64) -> Tensor {
        Unary::Activation(Activation::Elu(alpha)).apply(self)
    }
}
