//! Workloads of `docs/perf.md`, release build, medians:
//! - W3: softmax cross-entropy forward + backward on logits [1024, 8192] (and [4096, 8192]),
//!   fused `cross_entropy` and the unfused `log_softmax -> nll_loss` / `softmax -> log -> nll_loss`.
//! - W4: one MLP training step, x [64, 784] -> Linear 256 -> ReLU -> Linear 10 ->
//!   cross-entropy -> SGD (lr 0.01), a fresh tape per step.
//!
//! Run: `cargo bench --bench workloads`; `bash benches/peers/run_peers.sh` runs JAX beside it.

use std::hint::black_box;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;

use tapegrad::{Tape, Tensor, Var};

/// Median milliseconds of `runs` calls of `f`, after one warm-up call.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// One way to compute the loss from logits and targets.
type LossPath = for<'t> fn(Var<'t>, &[usize]) -> Var<'t>;

fn w3(rows: usize, classes: usize, rng: &mut StdRng) {
    let logits = Tensor::randn(&[rows, classes], rng);
    let targets: Vec<usize> = (0..rows).map(|r| (r * 7919) % classes).collect();
    let paths: [(&str, LossPath); 3] = [
        ("fused cross_entropy", |x, t| x.cross_entropy(t)),
        ("log_softmax -> nll_loss", |x, t| x.log_softmax(1).nll_loss(t)),
        ("softmax -> log -> nll_loss", |x, t| x.softmax(1).log().nll_loss(t)),
    ];
    for (name, path) in paths {
        // The leaf is created outside the timed region, as a framework's input would be.
        let ms = median_ms(7, || {
            let tape = Tape::new();
            let x = tape.var(logits.clone());
            let loss = path(x, &targets);
            let grads = loss.backward();
            black_box(grads.wrt(x).map(|g| g.data()[0]));
        }) - median_ms(7, || drop(black_box(logits.clone())));
        println!("W3 [{rows}, {classes}] {name}: {ms:.1} ms");
    }
}

/// The MLP's parameters, outside any tape.
struct Mlp {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

impl Mlp {
    fn step(&mut self, x: &Tensor, targets: &[usize], lr: f64) -> f64 {
        // The tape is dropped before the update: the parameters, whose buffers its leaves
        // shared (a clone of a large tensor shares it), are then written in place.
        let (loss, grads) = {
            let tape = Tape::new();
            let params = [&self.w1, &self.b1, &self.w2, &self.b2].map(|p| tape.var(p.clone()));
            let [w1, b1, w2, b2] = params;
            let x = tape.constant(x.clone());
            let loss = b2.addmm(b1.addmm(x, w1).relu(), w2).cross_entropy(targets);
            let mut grads = loss.backward_wrt_releasing(&params);
            (loss.item(), params.map(|p| grads.take(p).expect("every parameter reaches the loss")))
        };
        for (param, grad) in [&mut self.w1, &mut self.b1, &mut self.w2, &mut self.b2].into_iter().zip(grads) {
            param.add_scaled(&grad, -lr);
        }
        loss
    }
}

fn w4(rng: &mut StdRng) {
    let x = Tensor::randn(&[64, 784], rng);
    let targets: Vec<usize> = (0..64).map(|r| r % 10).collect();
    let mut mlp = Mlp {
        w1: Tensor::randn(&[784, 256], rng) * (1.0 / 28.0),
        b1: Tensor::zeros(&[256]),
        w2: Tensor::randn(&[256, 10], rng) * (1.0 / 16.0),
        b2: Tensor::zeros(&[10]),
    };
    let ms = median_ms(51, || {
        black_box(mlp.step(&x, &targets, 0.01));
    });
    println!("W4 MLP step [64, 784] -> 256 -> 10: {ms:.3} ms");
}

fn main() {
    // `cargo bench --bench workloads -- W4` runs only W4 (`-- W3` only W3).
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let mut rng = StdRng::seed_from_u64(0);
    if "W3".contains(&filter) {
        w3(1024, 8192, &mut rng);
        w3(4096, 8192, &mut rng);
    }
    if "W4".contains(&filter) {
        w4(&mut rng);
    }
}
