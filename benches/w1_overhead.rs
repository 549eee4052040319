//! W1: per-op overhead. `x = x * 1.0001 + 0.0001` repeated 5,000 times
//! on a shape-[1] tensor (10,000 recorded ops), then backward. Prints the median over runs of
//! forward, backward and total nanoseconds per op.
//!
//! Run: `cargo bench --bench w1_overhead` (or `bash benches/peers/run_peers.sh` to run it beside
//! micrograd, and PyTorch when installed, in the same run).

use std::hint::black_box;
use std::time::Instant;

use tapegrad::{Tape, Tensor};

const STEPS: usize = 5_000;
const OPS: usize = 2 * STEPS;
const RUNS: usize = 15;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let (mut forward, mut backward) = (vec![], vec![]);
    for _ in 0..RUNS {
        let start = Instant::now();
        let tape = Tape::new();
        let x0 = tape.var(Tensor::ones(&[1]));
        let mut x = x0;
        for _ in 0..STEPS {
            x = x * 1.0001 + 0.0001;
        }
        let mid = Instant::now();
        let grads = x.backward();
        let end = Instant::now();
        black_box(grads.wrt(x0).map(|g| g.item()));
        drop(grads);
        drop(tape);
        forward.push((mid - start).as_nanos() as f64 / OPS as f64);
        backward.push((end - mid).as_nanos() as f64 / OPS as f64);
    }
    let (f, b) = (median(forward), median(backward));
    println!("W1 tapegrad: {:.1} ns/op (forward {f:.1} + backward {b:.1}), {OPS} ops, median of {RUNS}", f + b);
}
