//! The seed model's full derivation search from the 8 published entries: every node, every
//! slip (generic and op-declared), as `tapegrad_seed::verdict` runs it. Prints the median
//! time of `Derivation::check` (judge, locate, search), of one plain backward pass of the same
//! model for scale, and what the search cost in partial backward passes and rules against
//! (nodes x slips) candidates.
//!
//! ```text
//! cargo bench -p tapegrad-seed --bench derivation_search
//! ```

use std::time::{Duration, Instant};

use tapegrad::Tape;
use tapegrad_seed::chapter::{TARGETS, TOKENS};
use tapegrad_seed::model::SeedParams;
use tapegrad_seed::verdict::published_derivation;

/// The median of `runs` timings that `f` measures and returns (after one warm-up run).
fn median(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs).map(|_| f()).collect();
    times.sort();
    times[runs / 2]
}

/// How long `f` takes, its result kept from the optimiser.
fn timed<R>(f: impl FnOnce() -> R) -> Duration {
    let start = Instant::now();
    std::hint::black_box(f());
    start.elapsed()
}

fn main() {
    let params = SeedParams::init();
    let runs = 51;
    // The forward is built outside the timed part in both: the search against one backward.
    let tape = Tape::new();
    let (derivation, _) = published_derivation(&tape, &params);
    let report = derivation.check();
    let stats = report.search_stats();
    // Each timing builds the model's forward on a fresh tape first, untimed.
    let search = median(runs, || {
        let tape = Tape::new();
        let (derivation, _) = published_derivation(&tape, &params);
        timed(|| derivation.check())
    });
    let backward = median(runs, || {
        let tape = Tape::new();
        let vars = params.vars(&tape);
        let loss = vars.sum_loss(vars.forward(&TOKENS).logits, &TARGETS);
        timed(|| loss.backward())
    });
    println!("seed model, derivation search from the 8 published entries (median of {runs} runs)");
    println!("first explanation: {}", report.explanations()[0]);
    println!("search: {stats}");
    println!(
        "(nodes x slips) bound: {} candidates at {} nodes; passes run: {} ({:.1}% of the candidates)",
        stats.candidates,
        stats.nodes,
        stats.passes,
        100.0 * stats.passes as f64 / stats.candidates as f64
    );
    let (check, one_backward) = (search, backward);
    println!(
        "check (judge + locate + search): {:.3} ms; one plain backward pass: {:.3} ms; ratio {:.1}",
        check.as_secs_f64() * 1e3,
        one_backward.as_secs_f64() * 1e3,
        check.as_secs_f64() / one_backward.as_secs_f64()
    );
}
