//! The series' published hand-derived gradients, to be judged.
//!
//! The series "intro-to-transformers" derives the seed model's backward pass by hand in the
//! chapters after "Gradients: Loss" and publishes, for the SUM of the four position losses at
//! the initial parameters, among others `dE_tok[<BOS>][0..4]` and `dW_V[head 0][row 0][0..4]`
//! (6 decimals); its later chapter takes one AdamW step from them. tapegrad's verdict
//! (`tests/suite/seed_model.rs`, and section 4 of `cargo run --release --example seed_transformer`):
//! they are wrong, and the one slip that reproduces all 8 is [`Mistake::WoNotTransposed`].
//!
//! ```
//! use tapegrad_seed::model::SeedParams;
//! use tapegrad_seed::published::{PUBLISHED, published_entries};
//! use tapegrad_seed::slips::Mistake;
//! let slipped = published_entries(&SeedParams::init().step(Mistake::WoNotTransposed).grads);
//! assert!((slipped[0] - PUBLISHED[0]).abs() < 5e-7);
//! ```
//!
//! [`Mistake::WoNotTransposed`]: crate::slips::Mistake::WoNotTransposed

use tapegrad::Tensor;

use crate::chapter::BOS;
use crate::model::{D_MODEL, SeedParams};

/// The published values: `dE_tok[<BOS>][0..4]`, then `dW_V[head 0][row 0][0..4]`.
pub const PUBLISHED: [f64; 8] = [-0.352893, 0.074124, -0.322485, 0.126213, 0.046758, 0.109851, 0.026157, -0.226948];

/// Where the [`PUBLISHED`] values sit: (parameter index into
/// [`PARAM_NAMES`](crate::model::PARAM_NAMES), row-major element). `E_tok` is parameter 0
/// (`[6, 16]`), `W_V` parameter 4 (`[2, 16, 8]`).
pub const PUBLISHED_ENTRIES: [(usize, usize); 8] = [
    (0, BOS * D_MODEL),
    (0, BOS * D_MODEL + 1),
    (0, BOS * D_MODEL + 2),
    (0, BOS * D_MODEL + 3),
    (4, 0),
    (4, 1),
    (4, 2),
    (4, 3),
];

/// The [`PUBLISHED`] entries read from a full set of parameter gradients (in the order of
/// [`PARAM_NAMES`](crate::model::PARAM_NAMES)).
///
/// ```
/// use tapegrad_seed::model::SeedParams;
/// use tapegrad_seed::published::published_entries;
/// use tapegrad_seed::slips::Mistake;
/// let truth = published_entries(&SeedParams::init().step(Mistake::None).grads);
/// assert!((truth[0] - 0.257304).abs() < 5e-7); // the published value is -0.352893
/// ```
pub fn published_entries(grads: &[Tensor]) -> [f64; 8] {
    PUBLISHED_ENTRIES.map(|(param, at)| grads[param].data()[at])
}

impl SeedParams {
    /// The [`PUBLISHED`] entries by central differences of the sum loss.
    ///
    /// ```
    /// use tapegrad_seed::model::SeedParams;
    /// let fd = SeedParams::init().published_by_finite_differences(1e-6);
    /// assert!((fd[4] - 0.018871).abs() < 5e-7); // the published value is 0.046758
    /// ```
    pub fn published_by_finite_differences(&self, eps: f64) -> [f64; 8] {
        PUBLISHED_ENTRIES.map(|(param, at)| self.finite_difference(param, at, eps))
    }
}
