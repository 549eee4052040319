//! [`LrScheduler`]: a schedule that drives an optimizer's learning rate step by step, as
//! `torch.optim.lr_scheduler`, with its step count saved beside the optimizer's state.

use std::path::Path;

use super::{LrSchedule, Optimizer};
use crate::error::Error;
use crate::tensor::Tensor;

/// A learning-rate schedule driving an optimizer, as a `torch.optim.lr_scheduler` object:
/// made from the optimizer (which it sets to the rate of step 0) and stepped once after each
/// `opt.step(..)`. The optimizer's `k`-th step (from 0) uses `schedule.lr(k)`, which is what
/// PyTorch's `get_last_lr()` holds at that step ([`LrScheduler::last_lr`] here).
///
/// ```
/// use tapegrad::optim::{LrScheduler, Optimizer, Sgd, StepLr};
/// use tapegrad::{ParamGrads, Params, Tensor};
/// let mut params = Params::new();
/// params.insert("w", Tensor::scalar(1.0));
/// let mut grads = ParamGrads::new();
/// grads.insert("w", Tensor::scalar(1.0));
///
/// let mut opt = Sgd::new(0.1);
/// // torch: sched = StepLR(opt, step_size=2, gamma=0.5)
/// let mut sched = LrScheduler::new(&mut opt, StepLr { base_lr: 0.1, step_size: 2, gamma: 0.5 });
/// let mut rates = vec![];
/// for _ in 0..5 {
///     rates.push(opt.lr());
///     opt.step(&mut params, &grads);
///     sched.step(&mut opt);
/// }
/// assert_eq!(rates, [0.1, 0.1, 0.05, 0.05, 0.025]);
/// assert_eq!((sched.last_epoch(), sched.last_lr()), (5, 0.025));
/// ```
///
/// **Resuming.** The state is the step count (`last_epoch`), written by
/// [`LrScheduler::save_state`] to a small file beside the optimizer's
/// ([`Optimizer::save_state_to`]); [`LrScheduler::load_state`] reads it and sets the optimizer's
/// rate, so a resumed run takes the same steps as an uninterrupted one, to the bit:
///
/// ```
/// use tapegrad::optim::{CosineLr, LrScheduler, Optimizer, AdamW};
/// let dir = std::env::temp_dir();
/// let (opt_file, sched_file) = (dir.join("tapegrad-doc-opt.safetensors"), dir.join("tapegrad-doc-sched.safetensors"));
/// let mut opt = AdamW::new(1e-3);
/// let mut sched = LrScheduler::new(&mut opt, CosineLr::new(1e-3, 100));
/// for _ in 0..10 {
///     // opt.step(..) here
///     sched.step(&mut opt);
/// }
/// opt.save_state(&opt_file)?;
/// sched.save_state(&sched_file)?;
///
/// let mut opt2 = AdamW::new(1e-3);
/// let mut sched2 = LrScheduler::new(&mut opt2, CosineLr::new(1e-3, 100));
/// opt2.load_state(&opt_file)?;
/// sched2.load_state(&sched_file, &mut opt2)?;
/// assert_eq!((sched2.last_epoch(), opt2.lr()), (10, opt.lr()));
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LrScheduler<S> {
    schedule: S,
    last_epoch: usize,
}

/// The names in a scheduler's state file.
const LAST_EPOCH: &str = "last_epoch";
const LAST_LR: &str = "last_lr";

impl<S: LrSchedule> LrScheduler<S> {
    /// Starts `schedule` at step 0 and sets `opt`'s learning rate to `schedule.lr(0)`, as
    /// PyTorch's constructors do (`last_epoch = 0`).
    #[track_caller]
    pub fn new(opt: &mut (impl Optimizer + ?Sized), schedule: S) -> LrScheduler<S> {
        opt.set_lr(schedule.lr(0));
        LrScheduler { schedule, last_epoch: 0 }
    }

    /// Advances one step and sets `opt`'s learning rate to the schedule's at the new step:
    /// call it after `opt.step(..)`, as PyTorch's `scheduler.step()`. Panics (and changes
    /// nothing) past the schedule's last step ([`OneCycleLr`](super::OneCycleLr)'s
    /// `total_steps`).
    #[track_caller]
    pub fn step(&mut self, opt: &mut (impl Optimizer + ?Sized)) {
        let next = self.last_epoch + 1;
        let lr = self.schedule.lr(next);
        self.last_epoch = next;
        opt.set_lr(lr);
    }

    /// The number of steps taken (PyTorch's `last_epoch`).
    pub fn last_epoch(&self) -> usize {
        self.last_epoch
    }

    /// The learning rate of the current step, the one the optimizer holds (PyTorch's
    /// `get_last_lr()[0]`).
    #[doc(alias = "get_last_lr")]
    pub fn last_lr(&self) -> f64 {
        self.schedule.lr(self.last_epoch)
    }

    /// The schedule.
    pub fn schedule(&self) -> &S {
        &self.schedule
    }

    /// Writes the state (the step count, and the current rate as a check) to a safetensors
    /// file: keep it beside the optimizer's [`Optimizer::save_state_to`] file.
    pub fn save_state(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        // The step count as f64: exact below 2^53 (checked on load).
        let epoch = Tensor::scalar(self.last_epoch as f64);
        crate::checkpoint::save(path, &[(LAST_EPOCH, &epoch), (LAST_LR, &Tensor::scalar(self.last_lr()))])
    }

    /// Reads a state written by [`LrScheduler::save_state`] and sets `opt`'s learning rate to
    /// the schedule's at that step. `Err` when the file is malformed, holds other tensors, has
    /// a step past the schedule's last, or a rate that this schedule does not give at that
    /// step (the state of a schedule with other settings).
    pub fn load_state(&mut self, path: impl AsRef<Path>, opt: &mut (impl Optimizer + ?Sized)) -> Result<(), Error> {
        let path = path.as_ref();
        let err = |message: String| Error::Format { path: path.to_path_buf(), message };
        let mut file = crate::checkpoint::load(path)?;
        let mut scalar = |key: &str| -> Result<f64, Error> {
            let t = file.remove(key).ok_or_else(|| err(format!("scheduler state lacks {key:?}")))?;
            if t.numel() != 1 {
                return Err(err(format!("{key:?} has shape {:?}, not one number", t.shape())));
            }
            Ok(t.data()[0])
        };
        let (epoch, saved_lr) = (scalar(LAST_EPOCH)?, scalar(LAST_LR)?);
        if let Some(extra) = file.keys().next() {
            return Err(err(format!("scheduler state has an unexpected tensor {extra:?}")));
        }
        if !(epoch >= 0.0 && epoch.fract() == 0.0 && epoch < 2f64.powi(53)) {
            return Err(err(format!("{LAST_EPOCH:?} is {}, not a step count", crate::error::Number(epoch))));
        }
        let epoch = epoch as usize;
        if let Some(last) = self.schedule.last_step().filter(|&last| epoch > last) {
            return Err(err(format!("{LAST_EPOCH:?} is {epoch}, past the schedule's last step {last}")));
        }
        let lr = self.schedule.lr(epoch);
        if lr.to_bits() != saved_lr.to_bits() {
            return Err(err(format!(
                "the saved rate at step {epoch} is {saved_lr:e} but this schedule gives {lr:e}: the state of a \
                 schedule with other settings"
            )));
        }
        self.last_epoch = epoch;
        opt.set_lr(lr);
        Ok(())
    }
}
