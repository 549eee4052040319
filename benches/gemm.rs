//! GEMM at the workloads' shapes, release build, median GFLOP/s (higher is better).
//!
//! Each case is `m x k x n` (`c[m, n] = a[m, k] b[k, n]`) in one of the layouts matmul uses:
//! `NN` (forward), `NT` (`dA = G B^T`: `b` stored `[n, k]`, read transposed) and `TN`
//! (`dB = A^T G`: `a` stored `[k, m]`, read transposed); a batch count `> 1` runs that many
//! independent products back to back, as a batched matmul does (one attention head each).
//!
//! Candidates, alternated case by case so that the machine's drift hits all alike:
//! - `tapegrad`: the kernel the ops call (`src/kernels/gemm.rs`, reached through
//!   `tapegrad::bench_internals`), with a batch of small products split over two cores as
//!   `matmul` splits it,
//! - `gemm 1t` / `gemm 2t`: the `gemm` crate on one thread / on two (rayon),
//! - `mm`: the `matrixmultiply` crate with its own threading (both cores when large enough).
//!
//! `benches/peers/gemm_numpy.py` times NumPy's BLAS on the same cases.
//!
//! Run: `cargo bench --features bench-internals --bench gemm` (`-- 1024` runs only the cases
//! whose name contains `1024`).

use std::hint::black_box;
use std::time::Instant;

use tapegrad::bench_internals::{self as kernel, MatRef};

/// One product shape and layout, run `batch` times.
struct Case {
    m: usize,
    k: usize,
    n: usize,
    batch: usize,
    a_t: bool,
    b_t: bool,
    what: &'static str,
}

impl Case {
    fn name(&self) -> String {
        let layout = format!("{}{}", if self.a_t { 'T' } else { 'N' }, if self.b_t { 'T' } else { 'N' });
        let batch = if self.batch > 1 { format!("{} x ", self.batch) } else { String::new() };
        format!("{batch}{}x{}x{} {layout} ({})", self.m, self.k, self.n, self.what)
    }

    fn flops(&self) -> f64 {
        2.0 * (self.m * self.k * self.n * self.batch) as f64
    }
}

const fn case(m: usize, k: usize, n: usize, layout: &str, what: &'static str) -> Case {
    let l = layout.as_bytes();
    Case { m, k, n, batch: 1, a_t: l[0] == b'T', b_t: l[1] == b'T', what }
}

fn cases() -> Vec<Case> {
    vec![
        case(1024, 1024, 1024, "NN", "W2"),
        case(64, 784, 256, "NN", "W4 fwd"),
        case(784, 64, 256, "TN", "W4 dW1"),
        case(64, 256, 784, "NT", "W4 dX"),
        case(1024, 128, 384, "NN", "W6 QKV"),
        case(1024, 384, 128, "NT", "W6 QKV dX"),
        case(128, 1024, 384, "TN", "W6 QKV dW"),
        case(1024, 128, 512, "NN", "W6 FF up"),
        case(1024, 512, 128, "NN", "W6 FF down"),
        case(512, 1024, 128, "TN", "W6 FF down dW"),
        case(1024, 128, 512, "NT", "W6 FF down dX"),
        Case { batch: 64, ..case(64, 32, 64, "NN", "W6 scores") },
        Case { batch: 64, ..case(64, 64, 32, "NN", "W6 att v") },
        Case { batch: 64, ..case(64, 64, 32, "NT", "W6 dscores") },
        Case { batch: 64, ..case(32, 64, 64, "TN", "W6 dk") },
        // Square products around the size where a second thread starts to pay.
        case(64, 64, 64, "NN", "sweep"),
        case(96, 96, 96, "NN", "sweep"),
        case(128, 128, 128, "NN", "sweep"),
        case(160, 160, 160, "NN", "sweep"),
        case(192, 192, 192, "NN", "sweep"),
        case(256, 256, 256, "NN", "sweep"),
        case(384, 384, 384, "NN", "sweep"),
    ]
}

/// The products of one W6 training step (`benches/transformer.rs`), each with how many times a
/// step runs it: per layer the forward's four Linear layers and two attention products, and
/// their backward's two products each; then the LM head's three. Timed back to back, they are
/// what the step's GEMMs would cost if each ran at its isolated speed (`gemm_numpy.py` times
/// the same list for NumPy and PyTorch).
fn w6_step_products() -> Vec<(Case, usize)> {
    let batched = |c: Case| Case { batch: 64, ..c };
    let layers = 2;
    let mut products = vec![];
    for (m, k, n) in [(1024, 128, 384), (1024, 128, 128), (1024, 128, 512), (1024, 512, 128)] {
        products.push((case(m, k, n, "NN", "forward"), layers));
        products.push((case(m, n, k, "NT", "dX"), layers));
        products.push((case(k, m, n, "TN", "dW"), layers));
    }
    products.extend([
        (batched(case(64, 32, 64, "NN", "scores")), layers),
        (batched(case(64, 64, 32, "NN", "att v")), layers),
        (batched(case(64, 32, 64, "NT", "dP")), layers),
        (batched(case(64, 64, 32, "TN", "dv")), layers),
        (batched(case(64, 64, 32, "NN", "dq")), layers),
        (batched(case(32, 64, 64, "TN", "dk")), layers),
        (case(1024, 128, 512, "NN", "head"), 1),
        (case(1024, 512, 128, "NT", "head dX"), 1),
        (case(128, 1024, 512, "TN", "head dW"), 1),
    ]);
    products
}

/// Milliseconds for all of [`w6_step_products`] with the ops' kernel, median of `rounds`.
fn time_w6_step(rounds: usize) -> (f64, f64) {
    let products = w6_step_products();
    let mut operands: Vec<Operands> = products.iter().map(|(case, _)| Operands::new(case)).collect();
    let flops: f64 = products.iter().map(|(case, count)| case.flops() * *count as f64).sum();
    let mut step = || -> f64 {
        products
            .iter()
            .zip(&mut operands)
            .map(|((case, count), ops)| {
                (0..*count).map(|_| time_once(case, ops, (CANDIDATES[0].1, CANDIDATES[0].2))).sum::<f64>()
            })
            .sum()
    };
    step(); // warm the caches and the thread pool
    let mut times: Vec<f64> = (0..rounds).map(|_| step() * 1e3).collect();
    times.sort_by(f64::total_cmp);
    (times[rounds / 2], flops)
}

/// A deterministic, well-scaled fill (no RNG crate needed for timing).
fn fill(len: usize, seed: usize) -> Vec<f64> {
    (0..len).map(|i| (((i * 7919 + seed * 104_729) % 1000) as f64 - 500.0) / 500.0).collect()
}

/// The operands of one case: `batch` copies of `a`, `b` and `c`, each in its storage layout.
struct Operands {
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
}

impl Operands {
    fn new(case: &Case) -> Operands {
        let (m, k, n, batch) = (case.m, case.k, case.n, case.batch);
        Operands { a: fill(batch * m * k, 1), b: fill(batch * k * n, 2), c: vec![0.0; batch * m * n] }
    }
}

/// The `i`-th product's operands as matrices, each in its storage layout.
fn views<'s>(case: &Case, a: &'s [f64], b: &'s [f64], i: usize) -> (MatRef<'s>, MatRef<'s>) {
    let (m, k, n) = (case.m, case.k, case.n);
    let a = &a[i * m * k..(i + 1) * m * k];
    let b = &b[i * k * n..(i + 1) * k * n];
    let a = if case.a_t { MatRef::row_major(a, k, m).t() } else { MatRef::row_major(a, m, k) };
    let b = if case.b_t { MatRef::row_major(b, n, k).t() } else { MatRef::row_major(b, k, n) };
    (a, b)
}

/// `c = a b` through `matrixmultiply`.
fn mm(a: MatRef, b: MatRef, c: &mut [f64]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(b.rows == k && c.len() == m * n && m * k * n > 0);
    assert!(a.data.len() > (m - 1) * a.row_stride + (k - 1) * a.col_stride);
    assert!(b.data.len() > (k - 1) * b.row_stride + (n - 1) * b.col_stride);
    let s = |x: usize| x as isize;
    // SAFETY: the asserts bound every element the strides reach inside its slice; `c` is a
    // unique borrow, so it aliases neither input.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            s(a.row_stride),
            s(a.col_stride),
            b.data.as_ptr(),
            s(b.row_stride),
            s(b.col_stride),
            0.0,
            c.as_mut_ptr(),
            s(n),
            1,
        );
    }
}

type Kernel = fn(MatRef, MatRef, &mut [f64]);

/// Each candidate, and whether it splits a batch of small products over two cores as
/// `matmul`'s op does (`src/ops/matmul.rs`: when each product is below the kernel's threshold
/// for two threads and the batch together is above it).
const CANDIDATES: [(&str, Kernel, bool); 4] = [
    ("tapegrad", |a, b, c| kernel::gemm(a, b, 0.0, c), true),
    ("gemm 1t", |a, b, c| kernel::gemm_with(a, b, 0.0, c, kernel::Parallelism::None), false),
    ("gemm 2t", |a, b, c| kernel::gemm_with(a, b, 0.0, c, kernel::Parallelism::Rayon(2)), false),
    ("mm", mm, false),
];

/// Seconds for one pass over the whole batch.
fn time_once(case: &Case, ops: &mut Operands, (kernel, split_batch): (Kernel, bool)) -> f64 {
    let (m, k, n, batch) = (case.m, case.k, case.n, case.batch);
    let each = m * k * n;
    let split =
        split_batch && batch > 1 && each < kernel::MIN_PARALLEL_MULADDS && each * batch >= kernel::MIN_PARALLEL_MULADDS;
    let start = Instant::now();
    if split {
        let half = batch / 2;
        let (c_low, c_high) = ops.c.split_at_mut(half * m * n);
        let (a, b) = (&ops.a, &ops.b);
        let run = |range: std::ops::Range<usize>, c: &mut [f64]| {
            for i in range.clone() {
                let (a, b) = views(case, a, b, i);
                kernel(a, b, &mut c[(i - range.start) * m * n..(i - range.start + 1) * m * n]);
            }
        };
        rayon::join(|| run(0..half, c_low), || run(half..batch, c_high));
    } else {
        for i in 0..batch {
            let (a, b) = views(case, &ops.a, &ops.b, i);
            kernel(a, b, &mut ops.c[i * m * n..(i + 1) * m * n]);
        }
    }
    black_box(&ops.c);
    start.elapsed().as_secs_f64()
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    const ROUNDS: usize = 9;
    println!("GEMM f64, median GFLOP/s of {ROUNDS} rounds (each round: every candidate, in turn)");
    println!("{:<40} {}", "case", CANDIDATES.map(|(name, _, _)| format!("{name:>9}")).join(""));
    for case in cases().iter().filter(|c| c.name().contains(&filter)) {
        let mut ops = Operands::new(case);
        // Enough repetitions for ~20 ms per timing, so that timer and wake-up noise vanish.
        let once = time_once(case, &mut ops, (CANDIDATES[0].1, CANDIDATES[0].2));
        let reps = ((0.02 / once.max(1e-7)) as usize).clamp(1, 10_000);
        let mut rates = vec![vec![]; CANDIDATES.len()];
        for _ in 0..ROUNDS {
            for (rate, (_, kernel, split)) in rates.iter_mut().zip(CANDIDATES) {
                time_once(case, &mut ops, (kernel, split)); // warm the caches and the thread pool
                let seconds: f64 = (0..reps).map(|_| time_once(case, &mut ops, (kernel, split))).sum();
                rate.push(case.flops() * reps as f64 / seconds / 1e9);
            }
        }
        let medians = rates.into_iter().map(|mut r| {
            r.sort_by(f64::total_cmp);
            format!("{:>9.1}", r[r.len() / 2])
        });
        println!("{:<40} {}", case.name(), medians.collect::<String>());
    }
    if "W6 step".contains(&filter) {
        let (ms, flops) = time_w6_step(21);
        println!(
            "W6 GEMMs of a step: {ms:.2} ms ({:.2} GFLOP, {:.1} GFLOP/s; median of 21)",
            flops / 1e9,
            flops / ms / 1e6
        );
    }
}
