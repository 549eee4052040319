//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay,
//! as `torch.optim.SGD`.

use std::path::Path;

use super::Optimizer;
use super::state::Slots;
use crate::error::Error;
use crate::tensor::Tensor;
use crate::{ParamGrads, Params};

/// SGD as `torch.optim.SGD`. For each parameter `p` with gradient `g`, at every step:
///
/// ```text
/// g = g + weight_decay * p                          (when weight_decay != 0)
/// b = g at the first step, else momentum * b + (1 - dampening) * g   (when momentum != 0)
/// g = g + momentum * b if nesterov, else b           (when momentum != 0)
/// p = p - lr * g
/// ```
///
/// ```
/// use tapegrad::optim::{Optimizer, Sgd};
/// use tapegrad::{ParamGrads, Params, Tensor};
/// let mut params = Params::new();
/// params.insert("w", Tensor::scalar(1.0));
/// let mut grads = ParamGrads::new();
/// grads.insert("w", Tensor::scalar(0.5));
/// let mut opt = Sgd::new(0.1).momentum(0.9);
/// opt.step(&mut params, &grads); // b = 0.5,              w = 1 - 0.05
/// opt.step(&mut params, &grads); // b = 0.9 * 0.5 + 0.5,  w -= 0.1 * 0.95
/// assert!((params["w"].item() - (1.0 - 0.05 - 0.095)).abs() < 1e-15);
/// ```
#[derive(Clone, Debug)]
pub struct Sgd {
    /// The learning rate.
    pub lr: f64,
    /// Momentum factor (0: none).
    pub momentum: f64,
    /// Dampening of the gradient in the momentum buffer (0).
    pub dampening: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`, as PyTorch).
    pub nesterov: bool,
    /// L2 penalty added to the gradient: `g += weight_decay * p` (0).
    pub weight_decay: f64,
    slots: Slots,
}

/// The buffer names in checkpoints (PyTorch's).
const BUFFERS: &[&str] = &["momentum_buffer"];

impl Sgd {
    /// Plain gradient descent with learning rate `lr`: `p -= lr * g` (PyTorch's defaults: no
    /// momentum, no dampening, no weight decay).
    ///
    /// ```
    /// # use tapegrad::optim::Sgd;
    /// let opt = Sgd::new(0.1);
    /// assert_eq!((opt.lr, opt.momentum, opt.nesterov), (0.1, 0.0, false));
    /// ```
    pub fn new(lr: f64) -> Sgd {
        Sgd { lr, momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0, slots: Slots::default() }
    }

    /// With momentum factor `m`.
    ///
    /// ```
    /// # use tapegrad::optim::Sgd;
    /// let opt = Sgd::new(0.1).momentum(0.9).nesterov(true).weight_decay(1e-4);
    /// assert_eq!((opt.momentum, opt.nesterov), (0.9, true));
    /// ```
    pub fn momentum(mut self, m: f64) -> Sgd {
        self.momentum = m;
        self
    }

    /// With dampening `d` of the momentum buffer's new gradient.
    ///
    /// ```
    /// # use tapegrad::optim::Sgd;
    /// assert_eq!(Sgd::new(0.1).momentum(0.9).dampening(0.5).dampening, 0.5);
    /// ```
    pub fn dampening(mut self, d: f64) -> Sgd {
        self.dampening = d;
        self
    }

    /// With (or without) Nesterov momentum.
    ///
    /// ```
    /// # use tapegrad::optim::Sgd;
    /// assert!(Sgd::new(0.1).momentum(0.9).nesterov(true).nesterov);
    /// ```
    pub fn nesterov(mut self, on: bool) -> Sgd {
        self.nesterov = on;
        self
    }

    /// With L2 weight decay `wd`.
    ///
    /// ```
    /// # use tapegrad::optim::Sgd;
    /// assert_eq!(Sgd::new(0.1).weight_decay(5e-4).weight_decay, 5e-4);
    /// ```
    pub fn weight_decay(mut self, wd: f64) -> Sgd {
        self.weight_decay = wd;
        self
    }

    /// The buffer names of this configuration.
    fn buffers(&self) -> &'static [&'static str] {
        BUFFERS
    }

    #[track_caller]
    fn check_settings(&self) {
        assert!(
            !self.nesterov || (self.momentum > 0.0 && self.dampening == 0.0),
            "Sgd::step: Nesterov momentum requires a momentum > 0 and zero dampening (momentum {}, dampening {})",
            self.momentum,
            self.dampening
        );
    }

    /// Panics where [`Sgd::update`] would: settings PyTorch refuses, or momentum state made
    /// for another shape.
    #[track_caller]
    fn check(&self, name: &str, p: &Tensor) {
        self.check_settings();
        if self.momentum != 0.0 {
            self.slots.check("Sgd::step", name, p.shape(), Some(BUFFERS.len()));
        }
    }

    /// One parameter's update (the formula in the type's docs).
    #[track_caller]
    fn update(&mut self, name: &str, p: &mut Tensor, g: &Tensor) {
        let (lr, m, damp, wd, nesterov) = (self.lr, self.momentum, self.dampening, self.weight_decay, self.nesterov);
        if m == 0.0 && wd == 0.0 {
            // Plain SGD: `p -= lr * g`, with no copy of `g`.
            p.add_scaled(g, -lr);
            return;
        }
        // d = g + wd * p, as PyTorch's `grad.add(param, alpha=weight_decay)`.
        let mut d: Vec<f64> = if wd != 0.0 {
            g.data().iter().zip(p.data()).map(|(&gi, &pi)| gi + wd * pi).collect()
        } else {
            g.data().to_vec()
        };
        if m != 0.0 {
            let slot = self.slots.slot("Sgd::step", name, p.shape(), || vec![Tensor::zeros(p.shape())]);
            let buf = slot.bufs[0].data_mut();
            if slot.step == 0 {
                buf.copy_from_slice(&d); // the buffer starts as the first gradient
            } else {
                buf.iter_mut().zip(&d).for_each(|(b, &di)| *b = *b * m + (1.0 - damp) * di);
            }
            slot.step += 1;
            if nesterov {
                d.iter_mut().zip(buf.iter()).for_each(|(di, &b)| *di += m * b);
            } else {
                d.copy_from_slice(buf);
            }
        }
        // The public API's `p += -lr * d` (optim sits above the engine, beside the tools).
        p.add_scaled(&Tensor::new(d, p.shape()).expect("d is as long as p"), -lr);
    }
}

optimizer!(
    [] Sgd,
    "Sgd::step",
    "```
# use tapegrad::{optim::Sgd, Tensor};
let mut w = Tensor::new(vec![1.0, 2.0], &[2])?;
let g = Tensor::new(vec![0.2, -4.0], &[2])?;
Sgd::new(0.5).step_tensors(&mut [&mut w], &[&g]);
assert_eq!(w.data(), &[0.9, 4.0]);
# Ok::<(), tapegrad::Error>(())
```"
);
