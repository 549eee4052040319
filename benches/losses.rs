//! The loss family at [1024, 8192], release build: the fused node against its composition
//! from ordinary ops, forward + backward time (median of 7) and peak heap of one step.
//! - cross_entropy_with: class weights + label smoothing 0.1 + ignore_index 0;
//! - bce_with_logits: pos_weight per class, targets in [0, 1].
//!
//! Run: `cargo bench --bench losses`; `bash benches/peers/run_losses.sh` alternates it with
//! PyTorch's `F.cross_entropy` / `F.binary_cross_entropy_with_logits` (`losses_torch.py`).

use std::hint::black_box;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::{BceWithLogits, CrossEntropy, Tape, Tensor, Var};
use tapegrad_support::counting_alloc::{CURRENT, Counting, PEAK};

/// Counts the bytes each step allocates (its peak heap).
#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ROWS: usize = 1024;
const CLASSES: usize = 8192;
const MIB: f64 = 1024.0 * 1024.0;

/// A loss on a tape from the logits and a constant of the same shape (the targets or the
/// target distribution); smaller inputs are captured.
type Loss<'a> = &'a dyn for<'t> Fn(Var<'t>, Var<'t>) -> Var<'t>;

/// Median ms of forward + backward, and the peak heap (MiB) of one step from an empty pool.
/// Both logits-sized inputs are on the tape before the clock and the counter start.
fn measure(logits: &Tensor, other: &Tensor, loss: Loss<'_>) -> (f64, f64) {
    let step = || {
        let tape = Tape::new();
        let (x, c) = (tape.var(logits.clone()), tape.constant(other.clone()));
        let start = Instant::now();
        let grads = loss(x, c).backward();
        black_box(grads.wrt(x).map(|g| g.data()[0]));
        start.elapsed().as_secs_f64() * 1e3
    };
    step();
    let mut times: Vec<f64> = (0..7).map(|_| step()).collect();
    times.sort_by(f64::total_cmp);
    // Peak: the logits on the tape first, then everything the loss and its backward allocate.
    let tape = Tape::new();
    let (x, c) = (tape.var(logits.clone()), tape.constant(other.clone()));
    tapegrad::release_cached_buffers();
    let base = CURRENT.load(Relaxed);
    PEAK.store(base, Relaxed);
    let grads = loss(x, c).backward();
    let peak = (PEAK.load(Relaxed) - base) as f64 / MIB;
    black_box(grads.wrt(x).map(|g| g.data()[0]));
    (times[3], peak)
}

fn report(name: &str, fused: (f64, f64), composite: (f64, f64)) {
    println!("losses {name} fused: {:.1} ms, peak {:.0} MiB", fused.0, fused.1);
    println!("losses {name} composite: {:.1} ms, peak {:.0} MiB", composite.0, composite.1);
}

fn main() {
    let mut rng = StdRng::seed_from_u64(7);
    let logits = Tensor::randn(&[ROWS, CLASSES], &mut rng);

    // Cross-entropy: weights, smoothing, and every row whose target is class 0 ignored.
    let targets: Vec<usize> = (0..ROWS).map(|r| if r % 16 == 0 { 0 } else { (r * 7919) % CLASSES }).collect();
    let weight = Tensor::from_fn(&[CLASSES], |i| 0.5 + (i[0] % 7) as f64 * 0.25);
    let eps = 0.1;
    let opts = CrossEntropy::new().weight(weight.clone()).label_smoothing(eps).ignore_index(0);
    // The composition's constant target distribution q (an input, built before measuring).
    let w = weight.data();
    let kept = |r: usize| targets[r] != 0;
    let q = Tensor::from_fn(&[ROWS, CLASSES], |i| {
        let (r, c) = (i[0], i[1]);
        let picked = if c == targets[r] { (1.0 - eps) * w[c] } else { 0.0 };
        if kept(r) { picked + eps / CLASSES as f64 * w[c] } else { 0.0 }
    });
    let divisor: f64 = (0..ROWS).filter(|&r| kept(r)).map(|r| w[targets[r]]).sum();
    let fused = measure(&logits, &q, &|x, _| x.cross_entropy_with(&targets, &opts));
    let composite = measure(&logits, &q, &|x, q| -(x.log_softmax(1) * q).sum_axis(1, false).sum() / divisor);
    report("cross_entropy_with(weight, label_smoothing, ignore_index)", fused, composite);

    // BCE with a pos_weight per class.
    let y = Tensor::uniform(&[ROWS, CLASSES], 0.0, 1.0, &mut rng);
    let pos_weight = Tensor::from_fn(&[CLASSES], |i| 1.0 + (i[0] % 5) as f64);
    let opts = BceWithLogits::new().pos_weight(pos_weight.clone());
    let fused = measure(&logits, &y, &|x, y| x.bce_with_logits(y, &opts));
    let composite = measure(&logits, &y, &|x, y| {
        let tape = x.tape();
        let log_sigmoid = -((-x).relu() + ((-x.abs()).exp() + 1.0).log());
        let log_weight = (tape.constant(pos_weight.clone()) - 1.0) * y + 1.0;
        ((1.0 - y) * x - log_weight * log_sigmoid).mean()
    });
    report("bce_with_logits(pos_weight)", fused, composite);
}
