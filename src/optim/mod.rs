//! Optimizers over a [`Params`] store, stepping BY NAME (the order in which a model reads its
//! parameters never matters), and what goes with them: [`clip_grad_norm`] and learning-rate
//! schedules. Each follows PyTorch's update rule to the letter (`torch.optim.SGD`, `Adam`,
//! `AdamW`); the tests work two steps of each by hand.
//!
//! ```
//! use tapegrad::optim::{Optimizer, Sgd};
//! use tapegrad::{Params, Tape, Tensor};
//!
//! let mut params = Params::new();
//! params.insert("w", Tensor::new(vec![1.0, -2.0], &[2])?);
//! let mut opt = Sgd::new(0.1);
//! for _ in 0..3 {
//!     let tape = Tape::new(); // a fresh tape per step
//!     let p = params.on(&tape);
//!     let grads = (p["w"] * p["w"]).sum().backward(); // d/dw = 2w
//!     opt.step(&mut params, &p.grads(&grads));
//! }
//! assert!((params["w"].data()[0] - 0.8f64.powi(3)).abs() < 1e-15);
//! # Ok::<(), tapegrad::Error>(())
//! ```
//!
//! An optimizer keeps its state (moments, step counts) per parameter name and checks at every
//! step that each parameter still has the shape its state was made for: a changed shape panics
//! at the caller's line, naming the optimizer, the parameter and both shapes.

/// Implements [`Optimizer`] and the positional `step_tensors` for an optimizer type with
/// fields `lr` and `slots` (its [`state::Slots`]) and methods `buffers(&self)` (its buffer
/// names), `check(&self, name, param)` (panics where `update` would, called for every
/// parameter before any is updated) and `update(&mut self, name, param, grad)` (its rule for
/// one parameter). `$op` names
/// the step in messages; `$example` is `step_tensors`'s doc example.
macro_rules! optimizer {
    ([$($generics:tt)*] $ty:ty, $op:expr, $example:literal) => {
        impl<$($generics)*> $ty {
            /// The positional form: `params[i]` is updated from `grads[i]`; the state of
            /// position `i` is kept under the name `"[i]"`, so pass the parameters in the same
            /// order at every step (the named [`Optimizer::step`] has no such rule). A
            /// parameter whose shape differs from the one its state was made for panics,
            /// naming the optimizer, the position and both shapes.
            ///
            #[doc = $example]
            #[track_caller]
            pub fn step_tensors(&mut self, params: &mut [&mut Tensor], grads: &[&Tensor]) {
                let pairs = $crate::optim::state::positional_pairs($op, params, grads);
                for (name, p, _) in &pairs {
                    self.check(name, p);
                }
                self.slots.steps += 1;
                for (name, p, g) in pairs {
                    self.update(&name, p, g);
                }
            }

            /// Writes the state to a safetensors file ([`Optimizer::save_state_to`]), any path.
            pub fn save_state(&self, path: impl AsRef<Path>) -> Result<(), Error> {
                self.save_state_to(path.as_ref())
            }

            /// Reads a state written by `save_state` ([`Optimizer::load_state_from`]), any path.
            pub fn load_state(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
                self.load_state_from(path.as_ref())
            }
        }

        impl<$($generics)*> Optimizer for $ty {
            #[track_caller]
            fn step(&mut self, params: &mut Params, grads: &ParamGrads) {
                let pairs = $crate::optim::state::pairs($op, params, grads);
                // Everything that can panic is checked before anything changes.
                for (name, p, _) in &pairs {
                    self.check(name, p);
                }
                self.slots.steps += 1;
                for (name, p, g) in pairs {
                    self.update(name, p, g);
                }
            }

            fn lr(&self) -> f64 {
                self.lr
            }

            fn set_lr(&mut self, lr: f64) {
                self.lr = lr;
            }

            fn steps(&self) -> u64 {
                self.slots.steps
            }

            fn save_state_to(&self, path: &Path) -> Result<(), Error> {
                self.slots.save(path, self.buffers())
            }

            fn load_state_from(&mut self, path: &Path) -> Result<(), Error> {
                self.slots = $crate::optim::state::Slots::load(path, self.buffers())?;
                Ok(())
            }
        }
    };
}

mod adam;
mod clip;
mod schedule;
mod scheduler;
mod sgd;
mod state;

use std::path::Path;

pub use adam::{Adam, AdamFamily, AdamW, DecoupledDecay, L2Decay, WeightDecayKind};
pub use clip::clip_grad_norm;
pub use schedule::{Anneal, CosineLr, ExponentialLr, LinearLr, LrSchedule, OneCycleLr, StepLr, WarmupCosineLr};
pub use scheduler::LrScheduler;
pub use sgd::Sgd;

use crate::error::Error;
use crate::{ParamGrads, Params};

/// What every optimizer does: update the parameters of a store from their gradients, by name.
///
/// ```
/// use tapegrad::optim::{AdamW, Optimizer, Sgd};
/// // Optimizers are interchangeable behind the trait.
/// let opts: Vec<Box<dyn Optimizer>> = vec![Box::new(Sgd::new(0.1)), Box::new(AdamW::new(1e-3))];
/// assert_eq!(opts[1].lr(), 1e-3);
/// ```
pub trait Optimizer {
    /// One update of every parameter that has a gradient in `grads` (matched by name; frozen
    /// parameters are left alone). Panics, at the caller's line, when a gradient names no
    /// parameter, a gradient's shape differs from its parameter's, or a parameter's shape
    /// differs from the one its state was made for; all of it is checked first, so a step
    /// that panics has changed no parameter and no step count.
    fn step(&mut self, params: &mut Params, grads: &ParamGrads);

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (what a schedule does before each step).
    fn set_lr(&mut self, lr: f64);

    /// The number of steps taken.
    fn steps(&self) -> u64;

    /// Writes the state (step counts and every per-parameter buffer: momentum, moments) to a
    /// safetensors file, so that training can resume exactly with
    /// [`Optimizer::load_state_from`]. Hyperparameters are not saved: make the optimizer as
    /// before, then load. Call it as `opt.save_state(path)` with any path (`&str`, `PathBuf`,
    /// ...), on every optimizer and on a `dyn Optimizer`, as `Params::save`.
    fn save_state_to(&self, path: &Path) -> Result<(), Error>;

    /// Replaces the state with one written by [`Optimizer::save_state_to`] of the same kind of
    /// optimizer and settings; `Err` when the file is malformed or holds other buffers, or
    /// holds state no run can have produced (a parameter's step count above the optimizer's,
    /// a NaN or infinite buffer, a negative second moment), naming the parameter. A buffer's
    /// shape is checked against its parameter at the next step, which panics before changing
    /// anything. Call it as `opt.load_state(path)` with any path.
    fn load_state_from(&mut self, path: &Path) -> Result<(), Error>;
}

/// `save_state` and `load_state` on a `dyn Optimizer`, taking any path (a generic method
/// cannot be part of the trait object itself).
///
/// ```
/// use tapegrad::optim::{Optimizer, Sgd};
/// let mut opt: Box<dyn Optimizer> = Box::new(Sgd::new(0.1).momentum(0.9));
/// let path = std::env::temp_dir().join("tapegrad-doc-dyn-opt.safetensors");
/// opt.save_state(&path)?;
/// opt.load_state(path.to_str().unwrap())?;
/// # Ok::<(), tapegrad::Error>(())
/// ```
impl dyn Optimizer + '_ {
    /// [`Optimizer::save_state_to`] with any path.
    pub fn save_state(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        self.save_state_to(path.as_ref())
    }

    /// [`Optimizer::load_state_from`] with any path.
    pub fn load_state(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        self.load_state_from(path.as_ref())
    }
}
