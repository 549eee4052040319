//! The seed: the tutorial chapter tapegrad grew from ("Gradients: Loss", a one-layer
//! transformer built by hand in Python), and what tapegrad rebuilds from it.
//!
//! - [`chapter`]: reads the chapter's own tables (probabilities, tokens, targets, the printed
//!   gradient table) from its text, so examples and tests compare against the source itself.
//! - [`model`]: the chapter's tiny transformer rebuilt from tapegrad ops, with the series'
//!   initialisation.

pub mod chapter;
pub mod model;
