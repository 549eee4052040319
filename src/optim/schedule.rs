//! Learning-rate schedules: the learning rate as a function of the step number. Set it before
//! each step: `opt.set_lr(schedule.lr(step))`.

use std::f64::consts::PI;

/// A learning rate for every step (counted from 0).
///
/// ```
/// use tapegrad::optim::{LrSchedule, StepLr};
/// let s = StepLr { base_lr: 0.1, step_size: 10, gamma: 0.5 };
/// assert_eq!([s.lr(0), s.lr(9), s.lr(10), s.lr(25)], [0.1, 0.1, 0.05, 0.025]);
/// ```
pub trait LrSchedule {
    /// The learning rate at `step`.
    fn lr(&self, step: usize) -> f64;
}

/// `torch.optim.lr_scheduler.StepLR`: `base_lr * gamma^(step / step_size)` (integer division).
///
/// ```
/// use tapegrad::optim::{LrSchedule, Optimizer, Sgd, StepLr};
/// let schedule = StepLr { base_lr: 0.1, step_size: 30, gamma: 0.1 };
/// let mut opt = Sgd::new(schedule.base_lr);
/// opt.set_lr(schedule.lr(65));
/// assert!((opt.lr() - 0.001).abs() < 1e-18);
/// ```
#[derive(Clone, Debug)]
pub struct StepLr {
    /// The learning rate at step 0.
    pub base_lr: f64,
    /// Steps between decays.
    pub step_size: usize,
    /// The factor of each decay.
    pub gamma: f64,
}

impl LrSchedule for StepLr {
    #[track_caller]
    fn lr(&self, step: usize) -> f64 {
        assert!(self.step_size > 0, "StepLr: step_size must be positive");
        self.base_lr * self.gamma.powi((step / self.step_size) as i32)
    }
}

/// `torch.optim.lr_scheduler.CosineAnnealingLR` (its closed form):
/// `eta_min + (base_lr - eta_min) (1 + cos(pi step / t_max)) / 2`, reaching `eta_min` at
/// `t_max`. After `t_max` it stays at `eta_min` (PyTorch's would climb again: a cosine period
/// is rarely what a training run wants past its end).
///
/// ```
/// use tapegrad::optim::{CosineLr, LrSchedule};
/// let s = CosineLr { base_lr: 1.0, t_max: 100, eta_min: 0.0 };
/// assert_eq!(s.lr(0), 1.0);
/// assert!((s.lr(50) - 0.5).abs() < 1e-15);
/// assert_eq!(s.lr(100), 0.0);
/// assert_eq!(s.lr(150), 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct CosineLr {
    /// The learning rate at step 0.
    pub base_lr: f64,
    /// The step at which the rate reaches `eta_min`.
    pub t_max: usize,
    /// The final learning rate.
    pub eta_min: f64,
}

impl LrSchedule for CosineLr {
    fn lr(&self, step: usize) -> f64 {
        cosine(self.base_lr, self.eta_min, step.min(self.t_max) as f64 / self.t_max.max(1) as f64)
    }
}

/// Linear warm-up from 0 to `base_lr` over `warmup` steps, then a cosine decay to `min_lr`
/// at `total` steps (Hugging Face's `get_cosine_schedule_with_warmup`, with a floor): step
/// `s < warmup` gets `base_lr * s / warmup`; after that the cosine of [`CosineLr`] over the
/// remaining `total - warmup` steps. After `total` it stays at `min_lr`.
///
/// ```
/// use tapegrad::optim::{LrSchedule, WarmupCosineLr};
/// let s = WarmupCosineLr { base_lr: 1e-3, warmup: 10, total: 110, min_lr: 1e-4 };
/// assert_eq!(s.lr(0), 0.0);
/// assert_eq!(s.lr(5), 5e-4);
/// assert_eq!(s.lr(10), 1e-3);
/// assert!((s.lr(60) - 5.5e-4).abs() < 1e-18);
/// assert_eq!(s.lr(110), 1e-4);
/// ```
#[derive(Clone, Debug)]
pub struct WarmupCosineLr {
    /// The peak learning rate, reached at the end of the warm-up.
    pub base_lr: f64,
    /// Warm-up steps.
    pub warmup: usize,
    /// The step at which the rate reaches `min_lr`.
    pub total: usize,
    /// The final learning rate.
    pub min_lr: f64,
}

impl LrSchedule for WarmupCosineLr {
    fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.base_lr * step as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1);
        let progress = (step - self.warmup).min(span) as f64 / span as f64;
        cosine(self.base_lr, self.min_lr, progress)
    }
}

/// Half a cosine from `high` (progress 0) to `low` (progress 1).
fn cosine(high: f64, low: f64, progress: f64) -> f64 {
    low + (high - low) * (1.0 + (PI * progress).cos()) / 2.0
}
