//! Optimizers: [`Sgd`], [`Adam`] and [`AdamW`]. They update parameters that live outside the
//! tape (plain [`Tensor`]s) from the gradients of one backward pass:
//!
//! ```
//! use tapegrad::optim::Sgd;
//! use tapegrad::{Tape, Tensor};
//! let mut w = Tensor::new(vec![1.0, -2.0], &[2])?;
//! let mut opt = Sgd::new(0.1);
//! for _ in 0..3 {
//!     let tape = Tape::new(); // a fresh tape per step
//!     let wv = tape.var(w.clone());
//!     let grads = (wv * wv).sum().backward(); // d/dw = 2w
//!     opt.step(&mut [&mut w], &[grads.wrt(wv).unwrap()]);
//! }
//! assert!((w.data()[0] - 0.8f64.powi(3)).abs() < 1e-15);
//! # Ok::<(), tapegrad::Error>(())
//! ```
//!
//! Parameters are identified by their position in the slice, so pass them in the same order
//! at every step. Moment buffers are created at the first step.

use crate::tensor::Tensor;

/// Checks that parameters and gradients pair up, one to one with equal shapes.
#[track_caller]
fn check_pairs(op: &str, params: &[&mut Tensor], grads: &[&Tensor]) {
    assert!(params.len() == grads.len(), "{op}: {} parameters but {} gradients", params.len(), grads.len());
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        assert!(
            p.shape() == g.shape(),
            "{op}: parameter {i} of shape {:?} has a gradient of shape {:?}",
            p.shape(),
            g.shape()
        );
    }
}

/// Plain gradient descent: `theta -= lr * g`.
#[derive(Clone, Debug)]
pub struct Sgd {
    /// The learning rate.
    pub lr: f64,
}

impl Sgd {
    /// Gradient descent with learning rate `lr`.
    pub fn new(lr: f64) -> Sgd {
        Sgd { lr }
    }

    /// One update of every parameter from its gradient (same order, same shapes).
    #[track_caller]
    pub fn step(&mut self, params: &mut [&mut Tensor], grads: &[&Tensor]) {
        check_pairs("Sgd::step", params, grads);
        for (p, g) in params.iter_mut().zip(grads) {
            for (x, gi) in p.data_mut().iter_mut().zip(g.data()) {
                *x -= self.lr * gi;
            }
        }
    }
}

/// Adam (Kingma & Ba) with bias-corrected moments and, optionally, an L2 penalty added to the
/// gradient (`weight_decay`, as PyTorch's `Adam`). At step `t` (from 1):
/// `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
/// `theta -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`.
#[derive(Clone, Debug)]
pub struct Adam {
    /// The learning rate.
    pub lr: f64,
    /// Decay of the first moment (0.9).
    pub beta1: f64,
    /// Decay of the second moment (0.999).
    pub beta2: f64,
    /// Added to the denominator (1e-8).
    pub eps: f64,
    /// L2 penalty: `g += weight_decay * theta` before the moments (0 by default).
    pub weight_decay: f64,
    state: Moments,
}

/// The moment buffers and step count shared by Adam and AdamW.
#[derive(Clone, Debug, Default)]
struct Moments {
    t: u32,
    m: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
}

impl Moments {
    /// Advances the step count and applies the bias-corrected Adam update to every parameter,
    /// with gradient `grad(param, g)`.
    fn update(
        &mut self,
        (lr, beta1, beta2, eps): (f64, f64, f64, f64),
        params: &mut [&mut Tensor],
        grads: &[&Tensor],
        grad: impl Fn(f64, f64) -> f64,
    ) {
        if self.m.is_empty() {
            self.m = params.iter().map(|p| vec![0.0; p.numel()]).collect();
            self.v = self.m.clone();
        }
        assert!(
            self.m.len() == params.len(),
            "Adam: {} parameters now, {} at the first step",
            params.len(),
            self.m.len()
        );
        self.t += 1;
        let (c1, c2) = (1.0 - beta1.powi(self.t as i32), 1.0 - beta2.powi(self.t as i32));
        for (((p, g), m), v) in params.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            for (((x, &gi), mi), vi) in p.data_mut().iter_mut().zip(g.data()).zip(m.iter_mut()).zip(v.iter_mut()) {
                let gi = grad(*x, gi);
                *mi = beta1 * *mi + (1.0 - beta1) * gi;
                *vi = beta2 * *vi + (1.0 - beta2) * gi * gi;
                *x -= lr * (*mi / c1) / ((*vi / c2).sqrt() + eps);
            }
        }
    }
}

impl Adam {
    /// Adam with learning rate `lr` and the usual defaults (betas 0.9 / 0.999, eps 1e-8, no
    /// weight decay).
    pub fn new(lr: f64) -> Adam {
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, state: Moments::default() }
    }

    /// The number of steps taken.
    pub fn steps(&self) -> u32 {
        self.state.t
    }

    /// One update of every parameter from its gradient (same order at every step).
    #[track_caller]
    pub fn step(&mut self, params: &mut [&mut Tensor], grads: &[&Tensor]) {
        check_pairs("Adam::step", params, grads);
        let wd = self.weight_decay;
        self.state.update((self.lr, self.beta1, self.beta2, self.eps), params, grads, |x, g| g + wd * x);
    }
}

/// AdamW (Loshchilov & Hutter): Adam with DECOUPLED weight decay. Each step first shrinks
/// every parameter, `theta *= 1 - lr * weight_decay`, then applies the plain Adam update with
/// bias-corrected moments (PyTorch's `AdamW`; the seed's optimizer).
///
/// ```
/// use tapegrad::optim::AdamW;
/// use tapegrad::Tensor;
/// let mut w = Tensor::new(vec![1.0], &[1])?;
/// let g = Tensor::new(vec![0.5], &[1])?;
/// let mut opt = AdamW::new(0.001); // betas 0.9 / 0.999, eps 1e-8, weight decay 0.01
/// opt.step(&mut [&mut w], &[&g]);
/// // Step 1: the bias-corrected moments are g and g^2, so Adam moves by lr * g/(|g| + eps).
/// let expected = 1.0 * (1.0 - 0.001 * 0.01) - 0.001 * 0.5 / (0.5 + 1e-8);
/// assert!((w.data()[0] - expected).abs() < 1e-15);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AdamW {
    /// The learning rate.
    pub lr: f64,
    /// Decay of the first moment (0.9).
    pub beta1: f64,
    /// Decay of the second moment (0.999).
    pub beta2: f64,
    /// Added to the denominator (1e-8).
    pub eps: f64,
    /// Decoupled weight decay: `theta *= 1 - lr * weight_decay` before each update (0.01).
    pub weight_decay: f64,
    state: Moments,
}

impl AdamW {
    /// AdamW with learning rate `lr` and the defaults of PyTorch and the seed: betas
    /// 0.9 / 0.999, eps 1e-8, weight decay 0.01.
    pub fn new(lr: f64) -> AdamW {
        AdamW { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, state: Moments::default() }
    }

    /// The number of steps taken.
    pub fn steps(&self) -> u32 {
        self.state.t
    }

    /// One update of every parameter from its gradient (same order at every step): decay,
    /// then Adam.
    #[track_caller]
    pub fn step(&mut self, params: &mut [&mut Tensor], grads: &[&Tensor]) {
        check_pairs("AdamW::step", params, grads);
        let shrink = 1.0 - self.lr * self.weight_decay;
        for p in params.iter_mut() {
            p.data_mut().iter_mut().for_each(|x| *x *= shrink);
        }
        self.state.update((self.lr, self.beta1, self.beta2, self.eps), params, grads, |_, g| g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(data: &[f64]) -> Tensor {
        Tensor::new(data.to_vec(), &[data.len()]).unwrap()
    }

    #[test]
    fn sgd_step_subtracts_lr_times_grad() {
        let mut p = t(&[1.0, 2.0]);
        Sgd::new(0.5).step(&mut [&mut p], &[&t(&[0.2, -4.0])]);
        assert_eq!(p.data(), &[0.9, 4.0]);
    }

    #[test]
    fn adamw_two_steps_match_hand_computation() {
        // theta = 2, g1 = 0.3, g2 = -0.1, lr 0.1, betas 0.9 / 0.999, eps 1e-8, wd 0.01.
        let mut p = t(&[2.0]);
        let mut opt = AdamW::new(0.1);
        opt.step(&mut [&mut p], &[&t(&[0.3])]);
        // Step 1: theta = 2 * (1 - 0.001) = 1.998; m = 0.03, v = 0.00009;
        // mhat = 0.3, vhat = 0.09, update = 0.1 * 0.3 / (0.3 + 1e-8).
        let theta1 = 1.998 - 0.1 * 0.3 / (0.3 + 1e-8);
        approx::assert_relative_eq!(p.data()[0], theta1, max_relative = 1e-15);
        opt.step(&mut [&mut p], &[&t(&[-0.1])]);
        // Step 2: m = 0.9 * 0.03 - 0.01 = 0.017, v = 0.999 * 0.00009 + 0.001 * 0.01 = 0.00009991;
        // mhat = 0.017 / 0.19, vhat = 0.00009991 / 0.001999.
        let (mhat, vhat): (f64, f64) = (0.017 / 0.19, 0.000_099_91 / 0.001_999);
        let theta2 = theta1 * 0.999 - 0.1 * mhat / (vhat.sqrt() + 1e-8);
        approx::assert_relative_eq!(p.data()[0], theta2, max_relative = 1e-14);
        assert_eq!(opt.steps(), 2);
    }

    #[test]
    fn adam_weight_decay_is_an_l2_gradient() {
        // With wd, Adam's first step uses g + wd * theta = 0 here: no move at all.
        let mut p = t(&[2.0]);
        let mut opt = Adam::new(0.1);
        opt.weight_decay = 0.5;
        opt.step(&mut [&mut p], &[&t(&[-1.0])]);
        assert_eq!(p.data(), &[2.0]);
    }

    #[test]
    #[should_panic(expected = "AdamW::step: parameter 0 of shape [2] has a gradient of shape [3]")]
    fn mismatched_gradient_panics() {
        AdamW::new(0.1).step(&mut [&mut t(&[1.0, 2.0])], &[&t(&[1.0, 2.0, 3.0])]);
    }
}
