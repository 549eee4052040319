//! Helpers shared by the integration tests.
#![allow(dead_code)]

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::{Tensor, Var, gradcheck};

/// A reproducible generator for test data.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Standard-normal test data of `shape`.
pub fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, &mut rng(seed))
}

/// Uniform test data on `[low, high)`.
pub fn uniform(shape: &[usize], low: f64, high: f64, seed: u64) -> Tensor {
    Tensor::uniform(shape, low, high, &mut rng(seed))
}

/// Runs `f` and returns its panic message (panics if `f` does not panic).
pub fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("panic payload is a string")
}

/// Gradchecks `f` at `inputs` with PyTorch's tolerances and panics with the worst element.
pub fn check(inputs: impl AsRef<[Tensor]>, f: impl for<'t> Fn(&[Var<'t>]) -> Var<'t>) {
    if let Err(e) = gradcheck(inputs.as_ref(), f) {
        panic!("{e}");
    }
}
