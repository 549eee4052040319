//! Checking tools: they build functions on fresh tapes and read the results, never changing
//! how a tape works. [`gradcheck`](crate::gradcheck) compares analytical gradients with finite
//! differences ([`gradgradcheck`](crate::gradgradcheck) the second derivatives),
//! [`jacobian`](crate::jacobian) builds full Jacobians, [`hessian`](crate::hessian) and
//! [`hvp`](crate::hvp) second derivatives, and
//! [`check_equivalent`](crate::check_equivalent) compares a fused op with its composition, and
//! [`Derivation`](crate::Derivation) checks a learner's hand-derived gradients and explains
//! their slips.

mod derivation;
mod equivalence;
mod gradcheck;
mod gradgradcheck;
mod hessian;
mod jacobian;

pub use derivation::{Derivation, DerivationReport, SearchStats, Slip};
pub use equivalence::{Equivalence, InputDiff, TapeSummary, check_equivalent};
pub use gradcheck::{Gradcheck, GradcheckError, gradcheck};
pub use gradgradcheck::gradgradcheck;
pub use hessian::{hessian, hvp};
pub use jacobian::{MAX_JACOBIAN_ENTRIES, jacobian, jacobians};
