//! # tapegrad
//!
//! A small, exact, tape-based reverse-mode autograd engine over dense `f64` tensors.
//!
//! **What a tape is.** Every operation on a [`Var`] appends one node to its [`Tape`]: what the
//! op was, which nodes it read, and its value. Nodes are appended in execution order, so the
//! tape read backwards is already a valid order for the chain rule: [`Var::backward`] is one
//! loop from the output down to the first node, each node handing its gradient to its inputs.
//! The result, [`Grads`], holds the gradient of every node that leads to the output, leaves
//! and intermediates alike.
//!
//! ```
//! use tapegrad::{Tape, Tensor};
//!
//! let tape = Tape::new();
//! let w = tape.var(Tensor::new(vec![0.1, -0.2, 0.3, 0.4], &[2, 2])?); // gets a gradient
//! let x = tape.constant(Tensor::ones(&[3, 2]));                      // gets none
//! let logits = x.matmul(w) + 1.0;
//! let loss = logits.cross_entropy(&[0, 1, 1]); // fused softmax + cross-entropy, mean over rows
//! let grads = loss.backward();
//! let dlogits = grads.wrt(logits).unwrap();    // (softmax - onehot) / 3
//! let dw = grads.wrt(w).unwrap();              // x^T dlogits
//! assert_eq!(dw.shape(), &[2, 2]);
//! assert!(grads.wrt(x).is_none());
//! # let _ = dlogits;
//! # Ok::<(), tapegrad::Error>(())
//! ```
//!
//! **Training.** Parameters live outside the tape in a [`Params`] store, under PyTorch's
//! `state_dict` names. A model is a struct of layers from [`nn`] that remember those names; its
//! `forward` takes the parameters' `Var`s on the current tape (`'t` is the tape's lifetime).
//! Each step makes a fresh tape, [`Params::on`] brings every parameter onto it, and an
//! [`Optimizer`](optim::Optimizer) updates the store by name:
//!
//! ```
//! use tapegrad::nn::{Activation, Mlp};
//! use tapegrad::{ParamVars, Params};
//! use tapegrad::optim::{AdamW, Optimizer};
//! use tapegrad::rand::{rngs::StdRng, SeedableRng};
//! use tapegrad::{Tape, Tensor, Var};
//!
//! struct Model {
//!     mlp: Mlp,
//! }
//!
//! impl Model {
//!     fn forward<'t>(&self, p: &ParamVars<'t>, x: Var<'t>) -> Var<'t> {
//!         self.mlp.forward(p, x)
//!     }
//! }
//!
//! let mut params = Params::new();
//! let mut rng = StdRng::seed_from_u64(0);
//! let model = Model { mlp: Mlp::new(&mut params, "mlp", &[2, 8, 2], Activation::Relu, &mut rng) };
//! let x = Tensor::new(vec![0.0, 1.0, 1.0, 0.0], &[2, 2])?;
//! let mut opt = AdamW::new(0.05);
//! let mut losses = vec![];
//! for _ in 0..50 {
//!     let tape = Tape::new();
//!     let p = params.on(&tape);
//!     let loss = model.forward(&p, tape.constant(x.clone())).cross_entropy(&[0, 1]);
//!     losses.push(loss.item());
//!     opt.step(&mut params, &p.grads(&loss.backward()));
//! }
//! assert!(losses[49] < 0.1 * losses[0]);
//! params.save(std::env::temp_dir().join("tapegrad-doc-model.safetensors"))?; // PyTorch reads it
//! # Ok::<(), tapegrad::Error>(())
//! ```
//!
//! **Where to read next.**
//! - [`ops`](crate::Var): every op is a method on `Var`; its source file holds the forward,
//!   the backward rule and the derivation side by side (`src/ops/`).
//! - The fused [`Var::cross_entropy`] next to the unfused `softmax -> log -> nll_loss`, and
//!   `docs/derivation.md` for why both give `P - onehot`.
//! - [`gradcheck`] checks any function's gradients against finite differences.
//! - [`nn`], [`optim`], [`checkpoint`] and [`data`] for training; `tapegrad::rand` is the
//!   `rand` their constructors take.
//!
//! **Errors.** Bad data from outside is a `Result` with [`Error`]. A graph that cannot be built
//! (shapes that do not broadcast, an axis out of range, a target outside `0..classes`,
//! `backward` on a non-scalar) panics at once, at the caller's line, naming the op and every
//! shape: `add: shapes [2, 3] and [4] do not broadcast`.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

// The layers, each using only the ones below it (see docs/architecture.md):
// tensor storage -> kernels -> autograd core -> ops -> study and checking tools.
mod autograd;
mod check;
pub mod inspect;
pub(crate) mod kernels;
pub(crate) mod ops;
mod tensor;

// Training, built on the public API: parameters and layers, optimizers, checkpoints, data,
// and conveniences on tensors and Vars outside the ops.
pub mod checkpoint;
pub mod data;
pub mod nn;
pub mod optim;
mod tensor_arith;
mod var_ref_ops;

mod error;

pub use autograd::SlipKind;
pub use autograd::{Anomaly, GradGraph, Grads, Phase, Tape, Var};
pub use check::MAX_JACOBIAN_ENTRIES;
pub use check::{
    Derivation, DerivationReport, Equivalence, Gradcheck, GradcheckError, InputDiff, SearchStats, Slip, TapeSummary,
    check_equivalent, gradcheck, gradgradcheck, hessian, hvp, jacobian, jacobians,
};
pub use error::Error;
pub use nn::params::{ParamGrads, ParamVars, Params};
pub use ops::custom::CustomOp;
pub use ops::loss::{BceWithLogits, CrossEntropy, KlDiv, Reduction};
pub use ops::mask::causal_mask;
pub use tensor::Tensor;
pub use tensor::axis::Axis;
pub use tensor::buffer::release_cached_buffers;
pub use tensor::indices::{AsIndices, GatherIndex, Indices};

/// The GEMM wrapper the ops call, for the benchmarks that time it (`benches/gemm.rs`,
/// `benches/machine.rs`). Not part of the API: it exists with the `bench-internals` feature
/// only, which the crate's own dev-dependency on itself turns on for benches.
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench_internals {
    pub use crate::kernels::gemm::{MIN_PARALLEL_MULADDS, MatRef, gemm, gemm_with};
    pub use gemm_common::Parallelism;
}

/// The `rand` that tapegrad's constructors and initialisers take (`Tensor::randn`, `nn::init`,
/// `data`): use `tapegrad::rand::{SeedableRng, rngs::StdRng}` so the versions always agree.
pub use rand;

/// The README's examples, compiled and run as doc tests so that the front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
