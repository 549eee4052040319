//! What this machine gives a GEMM right now: the two numbers every speed figure here rests on.
//!
//! 1. The FMA peak: a loop of nothing but fused multiply-adds on registers (AVX-512 where the
//!    CPU has it, else AVX2 + FMA), on one core, then on both at once.
//! 2. The `gemm` crate (the kernel `matmul` calls) on one of W6's products, 1024x128x512, in
//!    cache: on one thread; then two one-thread products on separate data at once, one per
//!    core (nothing shared); then the crate's own two-thread call on one product.
//!
//! The first says how near the kernel runs to the core's peak (its headroom: what a kernel
//! of our own could gain at most). The second says how much a second core adds on this
//! machine at this moment: on a shared host it can add anything from almost nothing to a
//! whole core, within minutes, which decides any ratio measured with two threads.
//!
//! Each of the nine rounds runs every case once, one after the other, so the machine's drift
//! hits all alike; the figures are medians, ratios the medians of the per-round ratios.
//!
//! Run: `cargo bench --features bench-internals --bench machine`.

use std::hint::black_box;
use std::time::Instant;

use tapegrad::bench_internals::{self as kernel, MatRef};

const ROUNDS: usize = 9;

/// A loop of FMAs on registers: its instruction set, the flops of one iteration, and the loop.
struct FmaLoop {
    isa: &'static str,
    flops_per_iter: f64,
    run: fn(usize) -> f64,
}

#[cfg(target_arch = "x86_64")]
mod fma {
    use std::arch::x86_64::*;

    /// Independent accumulator chains: more than the FMA latency (4 cycles) times the two FMA
    /// ports, so the loop is bound by the ports' throughput alone, and few enough to stay in
    /// registers with the two constants (32 registers with AVX-512, 16 with AVX2).
    const CHAINS_AVX512: usize = 16;
    const CHAINS_AVX2: usize = 12;

    #[target_feature(enable = "avx512f")]
    unsafe fn loop_avx512(iters: usize) -> f64 {
        let mut acc = [_mm512_set1_pd(1.0); CHAINS_AVX512];
        let (x, y) = (_mm512_set1_pd(0.999_999), _mm512_set1_pd(1e-7));
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_pd(*a, x, y);
            }
        }
        acc.iter().map(|&a| _mm512_reduce_add_pd(a)).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn loop_avx2(iters: usize) -> f64 {
        let mut acc = [_mm256_set1_pd(1.0); CHAINS_AVX2];
        let (x, y) = (_mm256_set1_pd(0.999_999), _mm256_set1_pd(1e-7));
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_pd(*a, x, y);
            }
        }
        let mut lanes = [0.0; 4];
        acc.iter()
            .map(|&a| {
                // SAFETY: `lanes` holds the four f64 an unaligned store writes.
                unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), a) };
                lanes.iter().sum::<f64>()
            })
            .sum()
    }

    /// The widest FMA loop this CPU runs, or `None`.
    pub fn widest() -> Option<super::FmaLoop> {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked on the line above).
            Some(super::FmaLoop {
                isa: "AVX-512",
                flops_per_iter: (CHAINS_AVX512 * 8 * 2) as f64,
                run: |n| unsafe { loop_avx512(n) },
            })
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked on the line above).
            Some(super::FmaLoop {
                isa: "AVX2 + FMA",
                flops_per_iter: (CHAINS_AVX2 * 4 * 2) as f64,
                run: |n| unsafe { loop_avx2(n) },
            })
        } else {
            None
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod fma {
    pub fn widest() -> Option<super::FmaLoop> {
        None
    }
}

/// `c = a b` (row-major, `m x k` by `k x n`) by the `gemm` crate with the given threads, through
/// the kernel `matmul` calls.
fn product(m: usize, k: usize, n: usize, a: &[f64], b: &[f64], c: &mut [f64], threads: kernel::Parallelism) {
    kernel::gemm_with(MatRef::row_major(a, m, k), MatRef::row_major(b, k, n), 0.0, c, threads);
}

/// GFLOP/s of `work`, which does `flops` floating-point operations.
fn rate(flops: f64, work: impl FnOnce()) -> f64 {
    let start = Instant::now();
    work();
    flops / start.elapsed().as_secs_f64() / 1e9
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_ratio(num: &[f64], den: &[f64]) -> f64 {
    median(num.iter().zip(den).map(|(n, d)| n / d).collect())
}

fn main() {
    let Some(FmaLoop { isa, flops_per_iter, run: fma_loop }) = fma::widest() else {
        println!("no AVX2 + FMA on this CPU: nothing to measure");
        return;
    };
    let iters = 20_000_000;
    let fma_flops = flops_per_iter * iters as f64;

    let (m, k, n) = (1024, 128, 512);
    let gemm_flops = 2.0 * (m * k * n) as f64;
    let reps = 20;
    let operands = |seed: usize| -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let a = (0..m * k).map(|i| ((i * 7 + seed) % 17) as f64 / 8.0 - 1.0).collect();
        let b = (0..k * n).map(|i| ((i * 5 + seed) % 13) as f64 / 4.0 - 1.5).collect();
        (a, b, vec![0.0; m * n])
    };
    let (a1, b1, mut c1) = operands(1);
    let (a2, b2, mut c2) = operands(2);
    let one = kernel::Parallelism::None;

    let (mut fma_one, mut fma_two) = (vec![], vec![]);
    let (mut gemm_one, mut gemm_two_apart, mut gemm_split) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        fma_one.push(rate(fma_flops, || {
            black_box(fma_loop(black_box(iters)));
        }));
        fma_two.push(rate(2.0 * fma_flops, || {
            std::thread::scope(|s| {
                s.spawn(|| black_box(fma_loop(black_box(iters))));
                black_box(fma_loop(black_box(iters)));
            })
        }));
        gemm_one
            .push(rate(reps as f64 * gemm_flops, || (0..reps).for_each(|_| product(m, k, n, &a1, &b1, &mut c1, one))));
        gemm_two_apart.push(rate(2.0 * reps as f64 * gemm_flops, || {
            std::thread::scope(|s| {
                s.spawn(|| (0..reps).for_each(|_| product(m, k, n, &a2, &b2, &mut c2, one)));
                (0..reps).for_each(|_| product(m, k, n, &a1, &b1, &mut c1, one));
            })
        }));
        gemm_split.push(rate(reps as f64 * gemm_flops, || {
            (0..reps).for_each(|_| product(m, k, n, &a1, &b1, &mut c1, kernel::Parallelism::Rayon(2)))
        }));
    }

    println!("FMA loop ({isa}, on registers), GFLOP/s, median of {ROUNDS} rounds:");
    println!("  one core            {:7.1}", median(fma_one.clone()));
    println!(
        "  both cores at once  {:7.1}   (x{:.2} of one)",
        median(fma_two.clone()),
        median_ratio(&fma_two, &fma_one)
    );
    println!("gemm crate, {m}x{k}x{n} in cache, GFLOP/s:");
    println!(
        "  one thread                           {:7.1}   ({:.2} of the one-core FMA loop)",
        median(gemm_one.clone()),
        median_ratio(&gemm_one, &fma_one)
    );
    println!(
        "  two one-thread products at once      {:7.1}   (x{:.2} of one)",
        median(gemm_two_apart.clone()),
        median_ratio(&gemm_two_apart, &gemm_one)
    );
    println!(
        "  its own two-thread call, one product {:7.1}   (x{:.2} of one)",
        median(gemm_split.clone()),
        median_ratio(&gemm_split, &gemm_one)
    );
}
