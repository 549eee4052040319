//! Learning-rate schedules: the learning rate as a closed-form function of the step number,
//! as `torch.optim.lr_scheduler`. An [`LrScheduler`](super::LrScheduler) drives an optimizer
//! with one (`sched.step(&mut opt)` after each `opt.step(..)`); `schedule.lr(step)` can also be
//! asked directly.
//!
//! Each rate is PyTorch's closed form (`_get_closed_form_lr`, what PyTorch computes when the
//! epoch is given) written with the same operations in the same order, so it is PyTorch's
//! closed-form value to the bit. PyTorch's default `step()` instead updates the previous rate
//! (the chainable form), which differs from the closed form by accumulated rounding (about
//! 1e-15 relative after a few hundred steps); the closed form also makes a resumed run need
//! nothing but the step count.

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

    /// The last step the schedule is defined for (`None`: every step). [`OneCycleLr`] ends at
    /// its `total_steps`, as PyTorch's refuses to step past it.
    fn last_step(&self) -> Option<usize> {
        None
    }
}

impl<S: LrSchedule + ?Sized> LrSchedule for Box<S> {
    fn lr(&self, step: usize) -> f64 {
        (**self).lr(step)
    }

    fn last_step(&self) -> Option<usize> {
        (**self).last_step()
    }
}

/// `torch.optim.lr_scheduler.StepLR`: `base_lr * gamma^(step / step_size)` (integer division).
///
/// ```
/// use tapegrad::optim::{LrSchedule, Optimizer, Sgd, StepLr};
/// let schedule = StepLr { base_lr: 0.1, step_size: 30, gamma: 0.1 };
/// let mut opt = Sgd::new(schedule.base_lr);
/// opt.set_lr(schedule.lr(65));
/// assert!((opt.lr() - 0.001).abs() < 1e-18);
/// assert_eq!(StepLr::new(0.1, 30).gamma, 0.1); // PyTorch's default gamma
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StepLr {
    /// The learning rate at step 0.
    pub base_lr: f64,
    /// Steps between decays.
    pub step_size: usize,
    /// The factor of each decay.
    pub gamma: f64,
}

impl StepLr {
    /// Decay by PyTorch's default `gamma = 0.1` every `step_size` steps.
    pub fn new(base_lr: f64, step_size: usize) -> StepLr {
        StepLr { base_lr, step_size, gamma: 0.1 }
    }
}

impl LrSchedule for StepLr {
    #[track_caller]
    fn lr(&self, step: usize) -> f64 {
        assert!(self.step_size > 0, "StepLr: step_size must be positive");
        // PyTorch: `base_lr * gamma ** (last_epoch // step_size)`, a float power (exact in the
        // exponent at any step count; an `i32` exponent would wrap at 2^31 steps).
        self.base_lr * self.gamma.powf((step / self.step_size) as f64)
    }
}

/// `torch.optim.lr_scheduler.ExponentialLR`: `base_lr * gamma^step`.
///
/// ```
/// use tapegrad::optim::{ExponentialLr, LrSchedule};
/// let s = ExponentialLr { base_lr: 1.0, gamma: 0.5 };
/// assert_eq!([s.lr(0), s.lr(1), s.lr(3)], [1.0, 0.5, 0.125]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialLr {
    /// The learning rate at step 0.
    pub base_lr: f64,
    /// The factor of each step.
    pub gamma: f64,
}

impl LrSchedule for ExponentialLr {
    fn lr(&self, step: usize) -> f64 {
        self.base_lr * self.gamma.powf(step as f64)
    }
}

/// `torch.optim.lr_scheduler.CosineAnnealingLR`:
/// `eta_min + (base_lr - eta_min) (1 + cos(pi step / t_max)) / 2`, reaching `eta_min` at
/// `t_max` and, past it, climbing again as PyTorch's does (a period of `2 t_max`). With
/// `t_max = 0` the rate is `eta_min` from step 0 (PyTorch divides by zero).
///
/// ```
/// use tapegrad::optim::{CosineLr, LrSchedule};
/// let s = CosineLr { base_lr: 1.0, t_max: 100, eta_min: 0.0 };
/// assert_eq!(s.lr(0), 1.0);
/// assert!((s.lr(50) - 0.5).abs() < 1e-15);
/// assert_eq!(s.lr(100), 0.0);
/// assert_eq!(s.lr(200), 1.0);
/// assert_eq!(CosineLr::new(1.0, 0).lr(0), 0.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CosineLr {
    /// The learning rate at step 0.
    pub base_lr: f64,
    /// The step at which the rate reaches `eta_min` (PyTorch's `T_max`).
    pub t_max: usize,
    /// The lowest learning rate.
    pub eta_min: f64,
}

impl CosineLr {
    /// From `base_lr` down to PyTorch's default `eta_min = 0` at `t_max`.
    pub fn new(base_lr: f64, t_max: usize) -> CosineLr {
        CosineLr { base_lr, t_max, eta_min: 0.0 }
    }
}

impl LrSchedule for CosineLr {
    fn lr(&self, step: usize) -> f64 {
        if self.t_max == 0 {
            return self.eta_min;
        }
        // PyTorch's order of operations: `pi * last_epoch / T_max`, left to right.
        let angle = PI * step as f64 / self.t_max as f64;
        self.eta_min + (self.base_lr - self.eta_min) * (1.0 + angle.cos()) / 2.0
    }
}

/// `torch.optim.lr_scheduler.LinearLR`: the rate goes linearly from `base_lr * start_factor`
/// at step 0 to `base_lr * end_factor` at `total_iters`, and stays there. Panics (as PyTorch
/// raises) unless `0 < start_factor <= 1` and `0 <= end_factor <= 1`. With `total_iters = 0`
/// the rate is `base_lr * end_factor` from step 0.
///
/// ```
/// use tapegrad::optim::{LinearLr, LrSchedule};
/// let s = LinearLr::new(0.3); // PyTorch's defaults: from 1/3 to 1 over 5 steps
/// assert_eq!((s.start_factor, s.end_factor, s.total_iters), (1.0 / 3.0, 1.0, 5));
/// assert!((s.lr(0) - 0.1).abs() < 1e-16);
/// assert_eq!([s.lr(5), s.lr(9)], [0.3, 0.3]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LinearLr {
    /// The learning rate the factors multiply.
    pub base_lr: f64,
    /// The factor at step 0.
    pub start_factor: f64,
    /// The factor from `total_iters` on.
    pub end_factor: f64,
    /// The steps over which the factor changes.
    pub total_iters: usize,
}

impl LinearLr {
    /// PyTorch's defaults: `start_factor = 1/3`, `end_factor = 1`, `total_iters = 5`.
    pub fn new(base_lr: f64) -> LinearLr {
        LinearLr { base_lr, start_factor: 1.0 / 3.0, end_factor: 1.0, total_iters: 5 }
    }
}

impl LrSchedule for LinearLr {
    #[track_caller]
    fn lr(&self, step: usize) -> f64 {
        let (start, end) = (self.start_factor, self.end_factor);
        assert!(
            start > 0.0 && start <= 1.0,
            "LinearLr: start_factor {start} must be greater than 0 and at most 1 (as PyTorch)"
        );
        let shown = crate::error::Number(end);
        assert!((0.0..=1.0).contains(&end), "LinearLr: end_factor {shown} must be within 0..=1 (as PyTorch)");
        if self.total_iters == 0 {
            return self.base_lr * end;
        }
        // PyTorch: `base_lr * (start + (end - start) * min(total_iters, last_epoch) / total_iters)`.
        let done = step.min(self.total_iters) as f64;
        self.base_lr * (start + (end - start) * done / self.total_iters as f64)
    }
}

/// How [`OneCycleLr`] moves between its rates: PyTorch's `anneal_strategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Anneal {
    /// Half a cosine (PyTorch's default, `"cos"`).
    #[default]
    Cos,
    /// A straight line (`"linear"`).
    Linear,
}

impl Anneal {
    /// The rate a fraction `pct` of the way from `start` to `end`, as PyTorch's
    /// `_annealing_cos` / `_annealing_linear`.
    fn at(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            Anneal::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            Anneal::Linear => (end - start) * pct + start,
        }
    }
}

/// `torch.optim.lr_scheduler.OneCycleLR` (Smith's 1cycle policy): from
/// `max_lr / div_factor` up to `max_lr` over the first `pct_start` of `total_steps`, then down
/// to `max_lr / div_factor / final_div_factor` at the last step (with `three_phase`, first
/// back down to the starting rate, then to the final one). [`OneCycleLr::new`] takes PyTorch's
/// defaults.
///
/// PyTorch's `cycle_momentum` (on by default) also cycles the optimizer's momentum or Adam's
/// `beta1`; tapegrad's schedules set the learning rate only, as PyTorch's with
/// `cycle_momentum=False`. The rates are the same either way.
///
/// Stepping past `total_steps` panics, as PyTorch raises.
///
/// ```
/// use tapegrad::optim::{Anneal, LrSchedule, OneCycleLr};
/// let s = OneCycleLr::new(1.0, 100);
/// assert_eq!((s.pct_start, s.anneal_strategy, s.div_factor, s.final_div_factor), (0.3, Anneal::Cos, 25.0, 1e4));
/// assert!((s.lr(0) - 1.0 / 25.0).abs() < 1e-16); // PyTorch's formula and its rounding
/// assert_eq!(s.lr(29), 1.0); // the peak at pct_start * total_steps - 1
/// assert_eq!(s.lr(99), 1.0 / 25.0 / 1e4);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycleLr {
    /// The peak learning rate.
    pub max_lr: f64,
    /// The number of steps in the cycle.
    pub total_steps: usize,
    /// The share of the cycle spent increasing the rate (0.3).
    pub pct_start: f64,
    /// Cosine or linear annealing between the rates (cosine).
    pub anneal_strategy: Anneal,
    /// The starting rate is `max_lr / div_factor` (25).
    pub div_factor: f64,
    /// The final rate is the starting one over `final_div_factor` (1e4).
    pub final_div_factor: f64,
    /// Three phases (up, back down to the start, down to the final rate) instead of two.
    pub three_phase: bool,
}

impl OneCycleLr {
    /// One cycle to `max_lr` over `total_steps` with PyTorch's defaults: `pct_start = 0.3`,
    /// cosine annealing, `div_factor = 25`, `final_div_factor = 1e4`, two phases.
    pub fn new(max_lr: f64, total_steps: usize) -> OneCycleLr {
        OneCycleLr {
            max_lr,
            total_steps,
            pct_start: 0.3,
            anneal_strategy: Anneal::Cos,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }
}

impl LrSchedule for OneCycleLr {
    #[track_caller]
    fn lr(&self, step: usize) -> f64 {
        let (total, pct_start) = (self.total_steps, self.pct_start);
        assert!(total > 0, "OneCycleLr: total_steps must be positive");
        let shown = crate::error::Number(pct_start);
        assert!((0.0..=1.0).contains(&pct_start), "OneCycleLr: pct_start {shown} must be within 0..=1");
        assert!(step <= total, "OneCycleLr: step {step} is past the cycle's total_steps {total} (as PyTorch refuses)");
        let initial = self.max_lr / self.div_factor;
        let min = initial / self.final_div_factor;
        let up = pct_start * total as f64 - 1.0;
        let last = total as f64 - 1.0;
        // (end step, start rate, end rate) of each phase, as PyTorch's `_schedule_phases`.
        let phases: &[(f64, f64, f64)] = if self.three_phase {
            &[
                (up, initial, self.max_lr),
                (2.0 * pct_start * total as f64 - 2.0, self.max_lr, initial),
                (last, initial, min),
            ]
        } else {
            &[(up, initial, self.max_lr), (last, self.max_lr, min)]
        };
        let step = step as f64;
        let mut start_step = 0.0;
        for (i, &(end_step, from, to)) in phases.iter().enumerate() {
            if step <= end_step || i == phases.len() - 1 {
                assert!(
                    end_step != start_step,
                    "OneCycleLr: phase {i} is empty (it ends at step {end_step}) with total_steps {total} and \
                     pct_start {pct_start} (PyTorch divides by zero here)"
                );
                return self.anneal_strategy.at(from, to, (step - start_step) / (end_step - start_step));
            }
            start_step = end_step;
        }
        unreachable!("the last phase is always taken")
    }

    fn last_step(&self) -> Option<usize> {
        Some(self.total_steps)
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
#[derive(Clone, Debug, PartialEq)]
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
        let (high, low) = (self.base_lr, self.min_lr);
        low + (high - low) * (1.0 + (PI * progress).cos()) / 2.0
    }
}
