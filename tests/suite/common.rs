//! Helpers shared by the integration tests.

use std::panic::PanicHookInfo;
use std::sync::{Arc, Mutex, PoisonError};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::Tensor;

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

/// Runs `f` with a panic hook that records where each panic on this thread was raised, and
/// returns those locations (file, line) in order. The hook is process-wide and the other tests
/// of the binary run beside this one: their panics go on to the hook that was installed
/// before, and one such run at a time holds the hook.
pub fn panic_locations(f: impl FnOnce()) -> Vec<(String, u32)> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _hook = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let me = std::thread::current().id();
    let seen: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let previous: Arc<dyn Fn(&PanicHookInfo<'_>) + Send + Sync> = Arc::from(std::panic::take_hook());
    let others = Arc::clone(&previous);
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == me {
            let at = info.location().expect("a panic location");
            sink.lock().unwrap().push((at.file().to_string(), at.line()));
        } else {
            others(info);
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(Box::new(move |info| previous(info)));
    if let Err(payload) = result {
        std::panic::resume_unwind(payload);
    }
    seen.lock().unwrap().clone()
}
