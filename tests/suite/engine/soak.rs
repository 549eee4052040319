//! Long runs, ignored by default (see docs/reliability.md):
//!
//! `cargo test --release --test suite engine::soak -- --ignored --nocapture`
//!
//! - a training loop of 100,000 steps whose batch size changes every step (16..=512) keeps
//!   its resident memory bounded (the buffer pool expires sizes never asked for again);
//! - a tape of 1,000,001 ops records and differentiates without overflowing the stack, and
//!   its time and memory are printed.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tapegrad::{Tape, Tensor, release_cached_buffers};

/// Resident set size in bytes, from `/proc/self/statm` (pages resident, times the page size).
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    pages * page
}

fn steps() -> usize {
    std::env::var("TAPEGRAD_SOAK_STEPS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

#[test]
#[ignore = "long: run with --ignored (docs/reliability.md)"]
fn training_with_varying_batch_sizes_keeps_rss_bounded() {
    let (d_in, hidden, classes) = (64, 128, 10);
    let mut rng = StdRng::seed_from_u64(7);
    let mut params = [
        Tensor::randn(&[d_in, hidden], &mut rng) * 0.1,
        Tensor::zeros(&[hidden]),
        Tensor::randn(&[hidden, classes], &mut rng) * 0.1,
        Tensor::zeros(&[classes]),
    ];
    let steps = steps();
    let start = Instant::now();
    let mut warm = 0;
    let mut peak = 0;
    for step in 0..steps {
        let batch = rng.random_range(16..=512);
        let x = Tensor::randn(&[batch, d_in], &mut rng);
        let targets: Vec<usize> = (0..batch).map(|_| rng.random_range(0..classes)).collect();
        let tape = Tape::new();
        let p = tape.vars(&params);
        let h = (tape.constant(x).matmul(p[0]) + p[1]).relu();
        let loss = (h.matmul(p[2]) + p[3]).cross_entropy(&targets);
        let grads = loss.backward();
        for (param, var) in params.iter_mut().zip(&p) {
            let g = grads.wrt(*var).unwrap();
            param.data_mut().iter_mut().zip(g.data()).for_each(|(w, g)| *w -= 0.01 * g);
        }
        if step == 1000.min(steps / 10) {
            warm = rss_bytes();
        }
        if step % 1000 == 0 {
            peak = peak.max(rss_bytes());
        }
    }
    let end = rss_bytes();
    release_cached_buffers();
    let released = rss_bytes();
    println!(
        "soak: {steps} steps in {:.1} s; RSS after warm-up {} MiB, peak {} MiB, end {} MiB, after release_cached_buffers {} MiB",
        start.elapsed().as_secs_f64(),
        warm >> 20,
        peak >> 20,
        end >> 20,
        released >> 20
    );
    // One step at batch 512 holds ~2 MiB of tensors; the pool may keep a few steps' worth
    // (its age window is at least 32 MiB). Without the bound, the pool grew to 512 MiB.
    assert!(peak < warm + (96 << 20), "RSS grew from {} MiB to {} MiB", warm >> 20, peak >> 20);
    assert!(peak < 256 << 20, "peak RSS {} MiB", peak >> 20);
}

#[test]
#[ignore = "long: run with --ignored (docs/reliability.md)"]
fn a_million_op_tape_records_and_differentiates() {
    let before = rss_bytes();
    let tape = Tape::new();
    let x = tape.var(Tensor::scalar(0.5));
    let start = Instant::now();
    let mut y = x;
    for _ in 0..1_000_000 {
        y = y * 0.999_999 + 1e-7;
    }
    let recorded = start.elapsed();
    let after_record = rss_bytes();
    let start = Instant::now();
    let grads = y.backward();
    let backward = start.elapsed();
    let after_backward = rss_bytes();
    let dx = grads.wrt(x).unwrap().item();
    println!(
        "1M-op tape ({} nodes): record {:.3} s, backward {:.3} s; RSS +{} MiB after recording, +{} MiB with the gradients",
        tape.len(),
        recorded.as_secs_f64(),
        backward.as_secs_f64(),
        (after_record.saturating_sub(before)) >> 20,
        (after_backward.saturating_sub(before)) >> 20
    );
    // d/dx of the chain is 0.999999^1_000_000 = e^-1 (to 1e-6).
    assert!((dx - (-1.0f64).exp()).abs() < 1e-6, "{dx}");
}
