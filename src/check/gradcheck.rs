//! `gradcheck`: compares the analytical Jacobian from backward with central finite
//! differences, as PyTorch's `torch.autograd.gradcheck` does (float64, eps 1e-6, atol 1e-5,
//! rtol 1e-3).
//!
//! The analytical Jacobian takes one backward per output element (seeded with a one-hot
//! gradient); the numerical one takes two forward passes per input element:
//! `J[j, e] ~ (f(x + eps e_e)[j] - f(x - eps e_e)[j]) / (2 eps)`. Like PyTorch it also checks
//! that backward is deterministic and that a zero output gradient gives zero gradients.

use std::fmt;

use super::jacobian::unit_seed;
use crate::autograd::{Tape, Var};
use crate::tensor::Tensor;
use crate::tensor::shape::unravel;

/// Checks the gradients of `f` at `inputs` against central finite differences with PyTorch's
/// defaults (eps 1e-6, atol 1e-5, rtol 1e-3). `f` may return any shape. Panics when the
/// Jacobians would be too large to hold (see [`jacobian`](crate::jacobian)).
///
/// ```
/// use tapegrad::{gradcheck, Tensor};
/// let x = Tensor::new(vec![0.5, -1.0, 2.0], &[3])?;
/// gradcheck(&[x], |v| (v[0] * v[0]).tanh()).unwrap();
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[track_caller]
pub fn gradcheck<F>(inputs: &[Tensor], f: F) -> Result<(), GradcheckError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    Gradcheck::new().run(inputs, f)
}

/// A gradient check with its tolerances; `Gradcheck::new()` has PyTorch's defaults.
///
/// An element fails where `|analytic - numeric| > atol + rtol * |numeric|`.
///
/// ```
/// use tapegrad::{Gradcheck, Tensor};
/// let x = Tensor::new(vec![1.0, 2.0], &[2])?;
/// Gradcheck::new().eps(1e-5).atol(1e-7).rtol(1e-6).run(&[x], |v| v[0].exp().sum()).unwrap();
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Gradcheck {
    eps: f64,
    atol: f64,
    rtol: f64,
}

impl Default for Gradcheck {
    fn default() -> Gradcheck {
        Gradcheck { eps: 1e-6, atol: 1e-5, rtol: 1e-3 }
    }
}

impl Gradcheck {
    /// PyTorch's defaults: eps 1e-6, atol 1e-5, rtol 1e-3.
    pub fn new() -> Gradcheck {
        Gradcheck::default()
    }

    /// The finite-difference step.
    pub fn eps(mut self, eps: f64) -> Gradcheck {
        self.eps = eps;
        self
    }

    /// The absolute tolerance.
    pub fn atol(mut self, atol: f64) -> Gradcheck {
        self.atol = atol;
        self
    }

    /// The relative tolerance (relative to the numerical value).
    pub fn rtol(mut self, rtol: f64) -> Gradcheck {
        self.rtol = rtol;
        self
    }

    /// Runs the check: `Err` names the worst element of the first input that fails. Panics
    /// when the Jacobians would be too large to hold (see [`jacobian`](crate::jacobian)).
    #[track_caller]
    pub fn run<F>(&self, inputs: &[Tensor], f: F) -> Result<(), GradcheckError>
    where
        F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
    {
        self.run_named("gradcheck", inputs, f)
    }

    /// [`Gradcheck::run`], its messages naming `op`.
    #[track_caller]
    pub(crate) fn run_named<F>(&self, op: &str, inputs: &[Tensor], f: F) -> Result<(), GradcheckError>
    where
        F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
    {
        let analytic = analytic_jacobians(op, inputs, &f)?;
        for (input, jacobian) in analytic.iter().enumerate() {
            let numeric = numeric_jacobian(inputs, input, self.eps, &f);
            self.compare(inputs, input, jacobian, &numeric)?;
        }
        Ok(())
    }

    /// Compares one input's Jacobians (both `[outputs, input elements]`, row-major).
    fn compare(
        &self,
        inputs: &[Tensor],
        input: usize,
        analytic: &Tensor,
        numeric: &Tensor,
    ) -> Result<(), GradcheckError> {
        let in_shape = inputs[input].shape();
        let columns = inputs[input].numel();
        let mut worst: Option<(f64, usize)> = None;
        let mut failures = 0;
        for (at, (&a, &n)) in analytic.data().iter().zip(numeric.data()).enumerate() {
            let excess = (a - n).abs() - (self.atol + self.rtol * n.abs());
            // A NaN on either side is a failure too.
            if excess > 0.0 || excess.is_nan() {
                failures += 1;
                if worst.is_none_or(|(w, _)| excess > w || excess.is_nan()) {
                    worst = Some((excess, at));
                }
            }
        }
        let Some((_, at)) = worst else { return Ok(()) };
        let (output, element) = (at / columns, at % columns);
        Err(GradcheckError::Mismatch {
            input,
            element: unravel(element, in_shape),
            output: unravel(output, &analytic.shape()[..1]).first().copied().unwrap_or(0),
            analytic: analytic.data()[at],
            numeric: numeric.data()[at],
            failures,
            checked: analytic.numel(),
        })
    }
}

/// Evaluates `f` on a fresh tape and returns the output's value.
fn evaluate<F>(inputs: &[Tensor], f: &F) -> Tensor
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let tape = Tape::new();
    let vars = tape.vars(inputs);
    f(&vars).value()
}

/// One Jacobian per input, shape `[output elements, input elements]` (from
/// [`jacobians`](crate::jacobians): one backward per output element). Also checks, as
/// PyTorch does, that backward is deterministic and that a zero seed gives zero gradients.
#[track_caller]
fn analytic_jacobians<F>(op: &str, inputs: &[Tensor], f: &F) -> Result<Vec<Tensor>, GradcheckError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    check_backward_properties(inputs, f)?;
    Ok(super::jacobian::jacobians_named(op, inputs, f)
        .into_iter()
        .zip(inputs)
        .map(|(jacobian, input)| {
            let outputs = jacobian.numel() / input.numel().max(1);
            jacobian.reshape(&[outputs, input.numel()]).expect("outputs x input elements")
        })
        .collect())
}

/// Backward twice with the same seed must agree exactly, and a zero seed must give zeros.
fn check_backward_properties<F>(inputs: &[Tensor], f: &F) -> Result<(), GradcheckError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let tape = Tape::new();
    let vars = tape.vars(inputs);
    let out = f(&vars);
    let out_shape = out.shape();
    let first = unit_seed(&out_shape, 0);
    let (once, twice, zero) =
        (out.backward_with(first.clone()), out.backward_with(first), out.backward_with(Tensor::zeros(&out_shape)));
    for (input, &var) in vars.iter().enumerate() {
        if !same_bits(once.wrt(var), twice.wrt(var)) {
            return Err(GradcheckError::NonDeterministic { input });
        }
        // A NaN derivative times a zero seed is NaN, not a broken backward: the comparison
        // with finite differences reports it.
        if zero.wrt(var).is_some_and(|g| g.data().iter().any(|&x| x != 0.0 && !x.is_nan())) {
            return Err(GradcheckError::ZeroSeedNonZero { input });
        }
    }
    Ok(())
}

/// Whether two gradients are the same result: equal shapes and every element bit for bit
/// equal, or NaN on both sides (a NaN is never `==` itself, yet two NaN gradients agree).
fn same_bits(a: Option<&Tensor>, b: Option<&Tensor>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.shape() == b.shape()
                && a.data().iter().zip(b.data()).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
        }
        _ => false,
    }
}

/// A derivative for a message: scientific notation, but zero as `0` (not `0e0`).
fn number(x: f64) -> String {
    if x == 0.0 { format!("{x}") } else { format!("{x:e}") }
}

/// The central-difference Jacobian of `f` with respect to input `input`, shape
/// `[output elements, input elements]`.
fn numeric_jacobian<F>(inputs: &[Tensor], input: usize, eps: f64, f: &F) -> Tensor
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let columns = inputs[input].numel();
    let mut perturbed = inputs.to_vec();
    let mut by_column: Vec<Vec<f64>> = Vec::with_capacity(columns);
    for e in 0..columns {
        let x = inputs[input].data()[e];
        perturbed[input].data_mut()[e] = x + eps;
        let plus = evaluate(&perturbed, f);
        perturbed[input].data_mut()[e] = x - eps;
        let minus = evaluate(&perturbed, f);
        perturbed[input].data_mut()[e] = x;
        by_column.push(plus.data().iter().zip(minus.data()).map(|(p, m)| (p - m) / (2.0 * eps)).collect());
    }
    let outputs = by_column.first().map_or(0, Vec::len);
    Tensor::from_fn(&[outputs, columns], |ix| by_column[ix[1]][ix[0]])
}

/// Why a gradient check failed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GradcheckError {
    /// Analytical and numerical derivatives disagree. Names the worst element.
    Mismatch {
        /// Which input (index into the `inputs` slice).
        input: usize,
        /// The multi-index of the input element.
        element: Vec<usize>,
        /// The flat (row-major) index of the output element.
        output: usize,
        /// The derivative from backward.
        analytic: f64,
        /// The derivative from central differences.
        numeric: f64,
        /// How many Jacobian entries of this input failed.
        failures: usize,
        /// How many Jacobian entries of this input were checked.
        checked: usize,
    },
    /// Two backward passes with the same seed gave different gradients.
    NonDeterministic {
        /// Which input.
        input: usize,
    },
    /// A zero output gradient produced a non-zero input gradient.
    ZeroSeedNonZero {
        /// Which input.
        input: usize,
    },
}

impl fmt::Display for GradcheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradcheckError::Mismatch { input, element, output, analytic, numeric, failures, checked } => write!(
                f,
                "gradcheck: input {input}, element {element:?}, output element {output}: analytic {} vs numeric {} \
                 (worst of {failures} failing {} out of {checked})",
                number(*analytic),
                number(*numeric),
                if *failures == 1 { "entry" } else { "entries" }
            ),
            GradcheckError::NonDeterministic { input } => {
                write!(f, "gradcheck: input {input}: two backward passes with the same seed disagree")
            }
            GradcheckError::ZeroSeedNonZero { input } => {
                write!(f, "gradcheck: input {input}: a zero output gradient gave a non-zero input gradient")
            }
        }
    }
}

impl std::error::Error for GradcheckError {}
