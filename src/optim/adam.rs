//! Adam and AdamW: one update path ([`AdamFamily`]), the two differing only in how weight
//! decay enters (an L2 gradient term for Adam, a decoupled shrink for AdamW), as PyTorch 2's
//! `Adam(decoupled_weight_decay=...)`.

use std::marker::PhantomData;
use std::path::Path;

use super::Optimizer;
use super::state::Slots;
use crate::error::Error;
use crate::tensor::Tensor;
use crate::{ParamGrads, Params};

/// How weight decay enters an [`AdamFamily`] optimizer: [`L2Decay`] (Adam) or
/// [`DecoupledDecay`] (AdamW). Sealed: these two are the family.
///
/// ```
/// use tapegrad::optim::{DecoupledDecay, L2Decay, WeightDecayKind};
/// assert_eq!((L2Decay::DEFAULT, DecoupledDecay::DEFAULT), (0.0, 0.01));
/// assert_eq!(DecoupledDecay::STEP, "AdamW::step");
/// ```
pub trait WeightDecayKind: sealed::Sealed {
    /// The step's name in messages: `"Adam::step"` or `"AdamW::step"`.
    const STEP: &'static str;
    /// PyTorch's default weight decay: 0 for Adam, 0.01 for AdamW.
    const DEFAULT: f64;
    /// True for AdamW: `p *= 1 - lr * wd` before the update, instead of `g += wd * p`.
    const DECOUPLED: bool;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::L2Decay {}
    impl Sealed for super::DecoupledDecay {}
}

/// Adam's weight decay: `g += weight_decay * p` before the moments.
///
/// ```
/// use tapegrad::optim::{AdamFamily, L2Decay};
/// let opt: AdamFamily<L2Decay> = AdamFamily::new(1e-3); // the same as Adam::new(1e-3)
/// assert_eq!(opt.weight_decay, 0.0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct L2Decay;

/// AdamW's weight decay: `p *= 1 - lr * weight_decay` before the update, outside the moments.
///
/// ```
/// use tapegrad::optim::{AdamFamily, DecoupledDecay};
/// let opt: AdamFamily<DecoupledDecay> = AdamFamily::new(1e-3); // the same as AdamW::new(1e-3)
/// assert_eq!(opt.weight_decay, 0.01);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct DecoupledDecay;

impl WeightDecayKind for L2Decay {
    const STEP: &'static str = "Adam::step";
    const DEFAULT: f64 = 0.0;
    const DECOUPLED: bool = false;
}

impl WeightDecayKind for DecoupledDecay {
    const STEP: &'static str = "AdamW::step";
    const DEFAULT: f64 = 0.01;
    const DECOUPLED: bool = true;
}

/// Adam (Kingma & Ba) as `torch.optim.Adam`, with an optional L2 penalty added to the gradient.
///
/// ```
/// use tapegrad::optim::{Adam, Optimizer};
/// use tapegrad::{ParamGrads, Params, Tensor};
/// let mut params = Params::new();
/// params.insert("w", Tensor::scalar(1.0));
/// let mut grads = ParamGrads::new();
/// grads.insert("w", Tensor::scalar(-3.0));
/// let mut opt = Adam::new(0.01);
/// opt.step(&mut params, &grads); // step 1 moves by lr, whatever |g|
/// assert!((params["w"].item() - 1.01).abs() < 1e-9);
/// ```
pub type Adam = AdamFamily<L2Decay>;

/// AdamW (Loshchilov & Hutter) as `torch.optim.AdamW`: Adam with decoupled weight decay
/// (default 0.01).
///
/// ```
/// use tapegrad::optim::{AdamW, Optimizer};
/// use tapegrad::{ParamGrads, Params, Tensor};
/// let mut params = Params::new();
/// params.insert("w", Tensor::scalar(1.0));
/// let mut grads = ParamGrads::new();
/// grads.insert("w", Tensor::scalar(0.5));
/// let mut opt = AdamW::new(0.001); // betas 0.9 / 0.999, eps 1e-8, weight decay 0.01
/// opt.step(&mut params, &grads);
/// // Step 1: the bias-corrected moments are g and g^2, so Adam moves by lr * g / (|g| + eps).
/// let expected = 1.0 * (1.0 - 0.001 * 0.01) - 0.001 * 0.5 / (0.5 + 1e-8);
/// assert!((params["w"].item() - expected).abs() < 1e-15);
/// ```
pub type AdamW = AdamFamily<DecoupledDecay>;

/// The Adam update shared by [`Adam`] and [`AdamW`]; `D` says how weight decay enters. For each
/// parameter `p` with gradient `g`, at its step `t` (from 1), exactly as PyTorch:
///
/// ```text
/// AdamW: p = p * (1 - lr * wd)          Adam: g = g + wd * p
/// m = lerp(m, g, 1 - beta1)             (m + (1 - beta1) (g - m))
/// v = beta2 * v + (1 - beta2) * g * g
/// v_max = max(v_max, v)                 (amsgrad only; then v_max replaces v below)
/// denom = sqrt(v) / sqrt(1 - beta2^t) + eps
/// p = p - (lr / (1 - beta1^t)) * m / denom
/// ```
///
/// ```
/// use tapegrad::optim::{Adam, Optimizer};
/// let opt = Adam::new(1e-3).betas(0.9, 0.95).eps(1e-6).weight_decay(0.1).amsgrad(true);
/// assert_eq!((opt.beta2, opt.amsgrad), (0.95, true));
/// ```
#[derive(Clone, Debug)]
pub struct AdamFamily<D: WeightDecayKind> {
    /// The learning rate.
    pub lr: f64,
    /// Decay of the first moment (0.9).
    pub beta1: f64,
    /// Decay of the second moment (0.999).
    pub beta2: f64,
    /// Added to the denominator (1e-8).
    pub eps: f64,
    /// Weight decay (Adam: 0, an L2 gradient term; AdamW: 0.01, decoupled).
    pub weight_decay: f64,
    /// AMSGrad: divide by the running maximum of the second moment (false).
    pub amsgrad: bool,
    slots: Slots,
    kind: PhantomData<D>,
}

/// The buffer names in checkpoints (PyTorch's); `max_exp_avg_sq` only with amsgrad.
const BUFFERS: &[&str] = &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

impl<D: WeightDecayKind> AdamFamily<D> {
    /// With learning rate `lr` and PyTorch's defaults: betas 0.9 / 0.999, eps 1e-8, weight
    /// decay 0 (Adam) or 0.01 (AdamW), no amsgrad.
    ///
    /// ```
    /// # use tapegrad::optim::{Adam, AdamW};
    /// assert_eq!((Adam::new(1e-3).weight_decay, AdamW::new(1e-3).weight_decay), (0.0, 0.01));
    /// ```
    pub fn new(lr: f64) -> Self {
        AdamFamily {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: D::DEFAULT,
            amsgrad: false,
            slots: Slots::default(),
            kind: PhantomData,
        }
    }

    /// With moment decays `beta1`, `beta2`.
    ///
    /// ```
    /// # use tapegrad::optim::AdamW;
    /// let opt = AdamW::new(3e-4).betas(0.9, 0.95); // GPT-style
    /// assert_eq!(opt.beta2, 0.95);
    /// ```
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        (self.beta1, self.beta2) = (beta1, beta2);
        self
    }

    /// With `eps` added to the denominator.
    ///
    /// ```
    /// # use tapegrad::optim::Adam;
    /// assert_eq!(Adam::new(1e-3).eps(1e-6).eps, 1e-6);
    /// ```
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// With weight decay `wd`.
    ///
    /// ```
    /// # use tapegrad::optim::AdamW;
    /// assert_eq!(AdamW::new(1e-3).weight_decay(0.1).weight_decay, 0.1);
    /// ```
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }

    /// With (or without) AMSGrad.
    ///
    /// ```
    /// # use tapegrad::optim::Adam;
    /// assert!(Adam::new(1e-3).amsgrad(true).amsgrad);
    /// ```
    pub fn amsgrad(mut self, on: bool) -> Self {
        self.amsgrad = on;
        self
    }

    /// The buffer names of this configuration.
    fn buffers(&self) -> &'static [&'static str] {
        if self.amsgrad { BUFFERS } else { &BUFFERS[..2] }
    }

    /// Panics where [`Self::update`] would: state made for another shape, or for amsgrad when
    /// it is off (or the reverse).
    #[track_caller]
    fn check(&self, name: &str, p: &Tensor) {
        self.slots.check(D::STEP, name, p.shape(), Some(self.buffers().len()));
    }

    /// One parameter's update (the formula in the type's docs).
    #[track_caller]
    fn update(&mut self, name: &str, p: &mut Tensor, g: &Tensor) {
        let (lr, beta1, beta2, eps, wd) = (self.lr, self.beta1, self.beta2, self.eps, self.weight_decay);
        let n = self.buffers().len();
        let slot = self.slots.slot(D::STEP, name, p.shape(), || vec![Tensor::zeros(p.shape()); n]);
        slot.step += 1;
        let t = slot.step as f64;
        // Python's `beta ** step` with a float step is C's pow, as powf.
        let step_size = lr / (1.0 - beta1.powf(t));
        let bc2_sqrt = (1.0 - beta2.powf(t)).sqrt();
        let [m, v, rest @ ..] = slot.bufs.as_mut_slice() else { unreachable!("two or three buffers") };
        let mut vmax = rest.first_mut().map(|b| b.data_mut());
        let x = p.data_mut();
        for (i, (((xi, &gi), mi), vi)) in x.iter_mut().zip(g.data()).zip(m.data_mut()).zip(v.data_mut()).enumerate() {
            let gi = if D::DECOUPLED {
                *xi *= 1.0 - lr * wd;
                gi
            } else if wd != 0.0 {
                gi + wd * *xi
            } else {
                gi
            };
            *mi = lerp(*mi, gi, 1.0 - beta1);
            *vi = *vi * beta2 + (1.0 - beta2) * gi * gi;
            let second = match vmax.as_deref_mut() {
                Some(vmax) => {
                    vmax[i] = vmax[i].max(*vi);
                    vmax[i]
                }
                None => *vi,
            };
            let denom = second.sqrt() / bc2_sqrt + eps;
            *xi += -step_size * (*mi / denom);
        }
    }
}

/// PyTorch's `lerp(start, end, w)`: `start + w (end - start)` for `|w| < 0.5`, else
/// `end - (end - start)(1 - w)` (more accurate near each end).
fn lerp(start: f64, end: f64, w: f64) -> f64 {
    if w.abs() < 0.5 { start + w * (end - start) } else { end - (end - start) * (1.0 - w) }
}

optimizer!(
    [D: WeightDecayKind] AdamFamily<D>,
    D::STEP,
    "```
# use tapegrad::{optim::Adam, Tensor};
let mut w = Tensor::new(vec![1.0, 2.0], &[2])?;
let g = Tensor::new(vec![0.5, -0.5], &[2])?;
Adam::new(0.1).step_tensors(&mut [&mut w], &[&g]); // step 1 moves each by lr * sign(g)
assert!((w.data()[0] - 0.9).abs() < 1e-7 && (w.data()[1] - 2.1).abs() < 1e-7);
# Ok::<(), tapegrad::Error>(())
```"
);
