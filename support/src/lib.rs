//! What the examples and benchmarks of tapegrad and its seed crate share, as an ordinary
//! library (a dev-dependency of both): none of it is part of the engine.

pub mod counting_alloc;
pub mod page;
pub mod plot;
pub mod progress;
