//! # tapegrad-seed
//!
//! The tutorial chapter tapegrad grew from, rebuilt on tapegrad's public API. The chapter is
//! "Gradients: Loss" of the public series "intro-to-transformers": a one-layer transformer
//! built by hand in Python floats, whose loss gradient `P - onehot` it derives and prints.
//!
//! - [`chapter`]: the chapter's tables (probabilities, tokens, targets, the printed gradient
//!   table), as data.
//! - [`model`]: the chapter's tiny transformer built from tapegrad ops, initialised bit for bit
//!   as the series does ([`pyrandom::PyRandom`]); its forward reads top to bottom.
//! - [`slips`]: twenty plausible slips of a hand-derived backward pass, built from the model's
//!   own blocks.
//! - [`published`]: the series' published hand-derived gradients, to be judged.
//! - [`verdict`]: their verdict from tapegrad's general derivation checker
//!   ([`tapegrad::Derivation`]), which [`slips`] cross-checks.
//!
//! ```text
//! cargo run --release --example seed_transformer   # the whole study, section by section
//! ```
//!
//! ```
//! use tapegrad_seed::model::SeedParams;
//! use tapegrad_seed::published::{PUBLISHED, published_entries};
//! use tapegrad_seed::slips::Mistake;
//! let params = SeedParams::init();
//! let truth = published_entries(&params.step(Mistake::None).grads);
//! let fd = params.published_by_finite_differences(1e-6);
//! assert!((truth[0] - fd[0]).abs() < 1e-8);      // the tape agrees with finite differences
//! assert!((truth[0] - PUBLISHED[0]).abs() > 0.5); // the published value does not
//! ```

#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod chapter;
pub mod model;
pub mod published;
pub mod pyrandom;
pub mod slips;
pub mod verdict;
