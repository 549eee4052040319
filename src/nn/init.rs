//! Weight initialisations with PyTorch's formulas (`torch.nn.init`), on any random generator.
//!
//! Fans follow `torch.nn.init._calculate_fan_in_and_fan_out`: for a weight of shape
//! `[out, in, k...]`, `fan_in = in * prod(k)` and `fan_out = out * prod(k)`.

use rand::Rng;

use crate::tensor::Tensor;
use crate::tensor::shape::numel;

/// A non-linearity, for [`calculate_gain`].
///
/// ```
/// use tapegrad::nn::init::{calculate_gain, Nonlinearity};
/// assert_eq!(calculate_gain(Nonlinearity::LeakyRelu(0.0)), 2f64.sqrt());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    /// Identity (and convolutions): gain 1.
    Linear,
    /// Sigmoid: gain 1.
    Sigmoid,
    /// Tanh: gain 5/3.
    Tanh,
    /// ReLU: gain sqrt(2).
    Relu,
    /// Leaky ReLU with this negative slope: gain sqrt(2 / (1 + slope^2)). PyTorch's default
    /// for `kaiming_*` is `LeakyRelu(0.0)`.
    LeakyRelu(f64),
    /// SELU: gain 3/4.
    Selu,
}

/// Which fan `kaiming_*` scales by: `FanIn` preserves the forward pass's variance, `FanOut`
/// the backward's.
///
/// ```
/// use tapegrad::nn::init::{kaiming_normal, FanMode, Nonlinearity};
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// // [out 4, in 100]: fan_out = 4 gives a spread 5 times fan_in's.
/// let w = kaiming_normal(&[4, 100], FanMode::FanOut, Nonlinearity::Relu, &mut StdRng::seed_from_u64(0));
/// assert_eq!(w.shape(), &[4, 100]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    /// The number of inputs of each output unit.
    FanIn,
    /// The number of outputs each input unit feeds.
    FanOut,
}

/// `torch.nn.init.calculate_gain`: the recommended scale for a non-linearity.
///
/// ```
/// use tapegrad::nn::init::{calculate_gain, Nonlinearity};
/// assert_eq!(calculate_gain(Nonlinearity::Tanh), 5.0 / 3.0);
/// assert_eq!(calculate_gain(Nonlinearity::Relu), 2f64.sqrt());
/// ```
pub fn calculate_gain(nonlinearity: Nonlinearity) -> f64 {
    match nonlinearity {
        Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu(slope) => (2.0 / (1.0 + slope * slope)).sqrt(),
        Nonlinearity::Selu => 3.0 / 4.0,
    }
}

/// `(fan_in, fan_out)` of a weight shape. Panics for fewer than two axes, as PyTorch.
///
/// ```
/// use tapegrad::nn::init::fans;
/// assert_eq!(fans("kaiming_uniform", &[16, 2]), (2, 16));
/// assert_eq!(fans("kaiming_uniform", &[8, 3, 5, 5]), (75, 200));
/// ```
#[track_caller]
pub fn fans(op: &str, shape: &[usize]) -> (usize, usize) {
    assert!(
        shape.len() >= 2,
        "{op}: fan in and fan out can not be computed for a tensor of shape {shape:?} (fewer than 2 axes)"
    );
    let receptive = numel(&shape[2..]);
    (shape[1] * receptive, shape[0] * receptive)
}

/// Uniform on `[-bound, bound)`; all zeros when `bound` is 0 (an empty fan).
pub(crate) fn symmetric_uniform<R: Rng + ?Sized>(shape: &[usize], bound: f64, rng: &mut R) -> Tensor {
    if bound > 0.0 { Tensor::uniform(shape, -bound, bound, rng) } else { Tensor::zeros(shape) }
}

/// `torch.nn.init.xavier_uniform_`: U(-a, a) with `a = gain * sqrt(6 / (fan_in + fan_out))`.
///
/// ```
/// use tapegrad::nn::init::xavier_uniform;
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// let w = xavier_uniform(&[20, 30], 1.0, &mut StdRng::seed_from_u64(0));
/// let a = (6.0f64 / 50.0).sqrt();
/// assert!(w.data().iter().all(|x| x.abs() <= a));
/// ```
#[track_caller]
pub fn xavier_uniform<R: Rng + ?Sized>(shape: &[usize], gain: f64, rng: &mut R) -> Tensor {
    let (fan_in, fan_out) = fans("xavier_uniform", shape);
    let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
    symmetric_uniform(shape, 3f64.sqrt() * std, rng)
}

/// `torch.nn.init.xavier_normal_`: N(0, std^2) with `std = gain * sqrt(2 / (fan_in + fan_out))`.
///
/// ```
/// use tapegrad::nn::init::xavier_normal;
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// let w = xavier_normal(&[4, 6], 1.0, &mut StdRng::seed_from_u64(0));
/// assert_eq!(w.shape(), &[4, 6]);
/// ```
#[track_caller]
pub fn xavier_normal<R: Rng + ?Sized>(shape: &[usize], gain: f64, rng: &mut R) -> Tensor {
    let (fan_in, fan_out) = fans("xavier_normal", shape);
    let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
    Tensor::randn(shape, rng) * std
}

/// The standard deviation of `kaiming_*`: `gain / sqrt(fan)`.
#[track_caller]
fn kaiming_std(op: &str, shape: &[usize], mode: FanMode, nonlinearity: Nonlinearity) -> f64 {
    let (fan_in, fan_out) = fans(op, shape);
    let fan = if mode == FanMode::FanIn { fan_in } else { fan_out };
    if fan == 0 { 0.0 } else { calculate_gain(nonlinearity) / (fan as f64).sqrt() }
}

/// `torch.nn.init.kaiming_uniform_`: U(-b, b) with `b = gain * sqrt(3 / fan)`. PyTorch's
/// defaults are `FanMode::FanIn, Nonlinearity::LeakyRelu(0.0)`; `nn.Linear`'s weight uses
/// `LeakyRelu(5f64.sqrt())`, which gives `b = 1 / sqrt(fan_in)`.
///
/// ```
/// use tapegrad::nn::init::{kaiming_uniform, FanMode, Nonlinearity};
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// let w = kaiming_uniform(&[64, 100], FanMode::FanIn, Nonlinearity::Relu, &mut StdRng::seed_from_u64(0));
/// let b = 2f64.sqrt() * (3.0f64 / 100.0).sqrt();
/// assert!(w.data().iter().all(|x| x.abs() <= b));
/// ```
#[track_caller]
pub fn kaiming_uniform<R: Rng + ?Sized>(
    shape: &[usize],
    mode: FanMode,
    nonlinearity: Nonlinearity,
    rng: &mut R,
) -> Tensor {
    let std = kaiming_std("kaiming_uniform", shape, mode, nonlinearity);
    symmetric_uniform(shape, 3f64.sqrt() * std, rng)
}

/// `torch.nn.init.kaiming_normal_`: N(0, std^2) with `std = gain / sqrt(fan)`.
///
/// ```
/// use tapegrad::nn::init::{kaiming_normal, FanMode, Nonlinearity};
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// let w = kaiming_normal(&[3, 5], FanMode::FanOut, Nonlinearity::Relu, &mut StdRng::seed_from_u64(0));
/// assert_eq!(w.shape(), &[3, 5]);
/// ```
#[track_caller]
pub fn kaiming_normal<R: Rng + ?Sized>(
    shape: &[usize],
    mode: FanMode,
    nonlinearity: Nonlinearity,
    rng: &mut R,
) -> Tensor {
    Tensor::randn(shape, rng) * kaiming_std("kaiming_normal", shape, mode, nonlinearity)
}
