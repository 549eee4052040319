//! Layers and their parameters: [`Params`] (named tensors, as PyTorch's `state_dict`),
//! [`Linear`], [`Embedding`], [`LayerNorm`], [`Mlp`], and the initialisers of [`init`].
//!
//! A layer is a plain struct that remembers the NAMES of its parameters; the tensors live in
//! the store, and `forward` reads their `Var`s from the [`ParamVars`] of the current tape. Every
//! layer is written with ordinary tapegrad ops, so the tape shows each step (a `Linear` is a
//! `transpose`, a `matmul` and an `add`). Weights have PyTorch's layout and names, so a
//! checkpoint's keys and shapes match the same model's `state_dict` in PyTorch.
//!
//! The model-struct pattern:
//!
//! ```
//! use tapegrad::nn::Linear;
//! use tapegrad::{ParamVars, Params};
//! use tapegrad::rand::{rngs::StdRng, SeedableRng};
//! use tapegrad::{Tape, Tensor, Var};
//!
//! struct Model {
//!     hidden: Linear,
//!     out: Linear,
//! }
//!
//! impl Model {
//!     fn new(params: &mut Params, rng: &mut StdRng) -> Model {
//!         Model { hidden: Linear::new(params, "hidden", 2, 8, rng), out: Linear::new(params, "out", 8, 3, rng) }
//!     }
//!
//!     /// `'t` is the tape's lifetime: the parameters' Vars and the input live on one tape.
//!     fn forward<'t>(&self, p: &ParamVars<'t>, x: Var<'t>) -> Var<'t> {
//!         self.out.forward(p, self.hidden.forward(p, x).tanh())
//!     }
//! }
//!
//! let mut params = Params::new();
//! let model = Model::new(&mut params, &mut StdRng::seed_from_u64(0));
//! assert_eq!(params.names().collect::<Vec<_>>(), ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]);
//! let tape = Tape::new();
//! let p = params.on(&tape);
//! let logits = model.forward(&p, tape.constant(Tensor::ones(&[4, 2])));
//! assert_eq!(logits.shape(), [4, 3]);
//! ```

mod embedding;
pub mod init;
mod layer_norm;
mod linear;
mod mlp;
pub(crate) mod params;

pub use embedding::Embedding;
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use mlp::{Activation, Mlp};
pub(crate) use params::{ParamVars, Params};

/// `prefix.leaf`, or `leaf` alone under an empty prefix (PyTorch's `state_dict` key rule).
pub(crate) fn join(prefix: &str, leaf: &str) -> String {
    if prefix.is_empty() { leaf.to_string() } else { format!("{prefix}.{leaf}") }
}
