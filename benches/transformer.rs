//! W5 and W6 of `docs/perf.md`: one training step (forward, backward, SGD lr 0.01) of a
//! pre-LN decoder-only transformer written with plain tapegrad ops, as a tiny engine's user
//! would write it: token + learned position embedding -> L x [LN -> causal multi-head attention
//! (one fused QKV Linear, scaled scores, masked softmax, output Linear) + residual -> LN ->
//! Linear / ReLU / Linear + residual] -> final LN -> LM head -> cross-entropy over all positions.
//! Targets are the input rolled by one position.
//!
//! Run: `cargo bench --bench transformer`; `bash benches/peers/run_peers.sh` runs JAX beside it.
//!
//! `cargo bench --bench transformer -- hvp` times instead a Hessian-vector product of the W5
//! loss with respect to all parameters (one recorded backward, one plain backward, as
//! `tapegrad::hvp`) against one plain forward + backward, alternated;
//! `bash benches/peers/run_hvp.sh` runs PyTorch's `torch.autograd.functional.hvp` beside it.

use std::hint::black_box;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tapegrad::{Grads, Tape, Tensor, Var, causal_mask};

struct Config {
    name: &'static str,
    vocab: usize,
    d: usize,
    ff: usize,
    t: usize,
    heads: usize,
    layers: usize,
    batch: usize,
}

/// Parameter shapes in the order the forward pass consumes them.
fn parameter_shapes(c: &Config) -> Vec<Vec<usize>> {
    let mut shapes = vec![vec![c.vocab, c.d], vec![c.t, c.d]];
    for _ in 0..c.layers {
        shapes.extend([vec![c.d], vec![c.d], vec![c.d, 3 * c.d], vec![3 * c.d], vec![c.d, c.d], vec![c.d]]);
        shapes.extend([vec![c.d], vec![c.d], vec![c.d, c.ff], vec![c.ff], vec![c.ff, c.d], vec![c.d]]);
    }
    shapes.extend([vec![c.d], vec![c.d], vec![c.d, c.vocab], vec![c.vocab]]);
    shapes
}

fn init(c: &Config, rng: &mut StdRng) -> Vec<Tensor> {
    parameter_shapes(c)
        .iter()
        .map(|shape| match shape.len() {
            // Layer-norm gains start at 1, biases and shifts at 0; matrices ~ N(0, 0.02).
            1 => Tensor::zeros(shape),
            _ => Tensor::randn(shape, rng) * 0.02,
        })
        .enumerate()
        .map(|(i, t)| if is_gain(c, i) { Tensor::ones(t.shape()) } else { t })
        .collect()
}

/// Whether parameter `i` is a layer-norm gain (the first of each LN pair).
fn is_gain(c: &Config, i: usize) -> bool {
    let per_layer = 12;
    let final_gain = 2 + c.layers * per_layer;
    i == final_gain || (i >= 2 && i < final_gain && matches!((i - 2) % per_layer, 0 | 6))
}

/// A Linear layer with the weight stored `[in, out]`: `x w + b` as one node (`addmm`).
fn linear<'t>(x: Var<'t>, w: Var<'t>, b: Var<'t>) -> Var<'t> {
    b.addmm(x, w)
}

/// The mean cross-entropy of one batch.
fn loss<'t>(c: &Config, params: &[Var<'t>], ids: &[usize], mask: &Tensor) -> Var<'t> {
    let (b, t, d, h) = (c.batch, c.t, c.d, c.heads);
    let dk = d / h;
    let mut next = params.iter().copied();
    let mut p = move || next.next().expect("parameter");
    let positions: Vec<usize> = (0..b * t).map(|i| i % t).collect();
    let targets: Vec<usize> = (0..b * t).map(|i| ids[i - i % t + (i % t + 1) % t]).collect();
    let (tok, pos) = (p(), p());
    let mut x = tok.embedding(ids) + pos.embedding(&positions); // [b*t, d]
    for _ in 0..c.layers {
        let h1 = x.layer_norm(p(), p(), 1e-5);
        let qkv = linear(h1, p(), p()); // [b*t, 3d]
        let split = |part: usize| qkv.narrow(1, part * d, d).reshape(&[b, t, h, dk]).transpose(1, 2); // [b, h, t, dk]
        let (q, k, v) = (split(0), split(1), split(2));
        let scores = q.matmul(k.transpose(2, 3)) * (1.0 / (dk as f64).sqrt()); // [b, h, t, t]
        let attention = scores.masked_fill(mask, f64::NEG_INFINITY).softmax(3).matmul(v);
        let merged = attention.transpose(1, 2).reshape(&[b * t, d]);
        x += linear(merged, p(), p());
        let h2 = x.layer_norm(p(), p(), 1e-5);
        let hidden = linear(h2, p(), p()).relu();
        x += linear(hidden, p(), p());
    }
    let x = x.layer_norm(p(), p(), 1e-5);
    linear(x, p(), p()).cross_entropy(&targets)
}

fn step(c: &Config, params: &mut [Tensor], ids: &[usize], mask: &Tensor) -> f64 {
    // The tape is dropped before the update, so the parameters, whose buffers its leaves
    // shared, are written in place.
    let (loss, grads) = loss_and_grads(&Tape::new(), c, params, ids, mask);
    sgd(params, &grads);
    loss
}

/// One step's loss and parameter gradients, recorded on `tape` (a profiling tape, for
/// `profile`).
fn loss_and_grads(tape: &Tape, c: &Config, params: &[Tensor], ids: &[usize], mask: &Tensor) -> (f64, Vec<Tensor>) {
    let vars = tape.vars(params);
    let loss = loss(c, &vars, ids, mask);
    // Only the parameters' gradients are kept (as PyTorch and JAX keep them), and the graph's
    // values are released as the pass goes (as PyTorch frees what it saved for backward): a
    // step holds far less memory.
    let mut grads = loss.backward_wrt_releasing(&vars);
    let grads = vars.iter().map(|v| grads.take(*v).expect("every parameter reaches the loss")).collect();
    (loss.item(), grads)
}

fn sgd(params: &mut [Tensor], grads: &[Tensor]) {
    for (param, grad) in params.iter_mut().zip(grads) {
        param.add_scaled(grad, -0.01);
    }
}

fn bench(c: &Config, steps: usize) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut params = init(c, &mut rng);
    let ids: Vec<usize> = (0..c.batch * c.t).map(|_| rng.random_range(0..c.vocab)).collect();
    let mask = causal_mask(c.t);
    let resident_before = proc_status_mib("VmRSS");
    let first = step(c, &mut params, &ids, &mask);
    let mut times: Vec<f64> = (0..steps)
        .map(|_| {
            let start = Instant::now();
            black_box(step(c, &mut params, &ids, &mask));
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let tape = Tape::new();
    let vars = tape.vars(&params);
    let last = loss(c, &vars, &ids, &mask).item();
    println!(
        "{}: {:.3} ms/step (median of {steps}), {} nodes, loss {first:.4} -> {last:.4}",
        c.name,
        times[steps / 2],
        tape.len()
    );
    if let (Some(before), Some(peak)) = (resident_before, proc_status_mib("VmHWM")) {
        // The peak resident memory above what the process held before its first step: one
        // step's values, gradients and the pool that recycles them (`benches/peers` print the
        // same figure for PyTorch and JAX).
        println!("{} peak memory: {:.0} MiB above the process before its first step", c.name, peak - before);
    }
}

/// A `kB` line of `/proc/self/status` (`VmRSS`: resident now, `VmHWM`: the peak), in MiB;
/// `None` where there is no such file (not Linux).
fn proc_status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// W6's time by op: `steps` steps on profiling tapes after one warm-up step; prints the profile
/// of the step whose total is the median (`cargo bench --bench transformer -- profile`).
fn bench_profile(c: &Config, steps: usize) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut params = init(c, &mut rng);
    let ids: Vec<usize> = (0..c.batch * c.t).map(|_| rng.random_range(0..c.vocab)).collect();
    let mask = causal_mask(c.t);
    step(c, &mut params, &ids, &mask);
    // What a step's forward keeps on the tape (backward_wrt_releasing frees it as it goes).
    let values = {
        let tape = Tape::new();
        let vars = tape.vars(&params);
        let _ = loss(c, &vars, &ids, &mask);
        let memory = tape.memory();
        let mib = |bytes: usize| bytes as f64 / (1 << 20) as f64;
        (mib(memory.value_bytes()), mib(memory.kept_value_bytes()))
    };
    let mut runs: Vec<(f64, tapegrad::inspect::Profile)> = (0..steps)
        .map(|_| {
            let tape = Tape::with_profiling();
            let start = Instant::now();
            let (_, grads) = loss_and_grads(&tape, c, &params, &ids, &mask);
            sgd(&mut params, &grads);
            let wall = start.elapsed().as_secs_f64() * 1e3;
            (wall, tape.profile().expect("a profiling tape"))
        })
        .collect();
    runs.sort_by_key(|run| run.1.total());
    let (wall, profile) = &runs[steps / 2];
    println!("{} profile (the median of {steps} steps; whole step {wall:.1} ms):\n{profile}", c.name);
    println!(
        "values on the tape after the forward: {:.1} MiB ({:.1} MiB of them read by backward rules; a buffer shared by a reshape or a view counts once per tensor)",
        values.0, values.1
    );
    let mut nodes: Vec<_> = profile.nodes.iter().collect();
    nodes.sort_by_key(|n| std::cmp::Reverse(n.forward + n.backward.unwrap_or_default()));
    println!("the 12 slowest nodes:");
    for n in nodes.iter().take(12) {
        let micros = |d: std::time::Duration| d.as_secs_f64() * 1e6;
        println!(
            "  #{:<3} {:<28} fwd {:>8.1} µs  bwd {:>8.1} µs",
            n.id,
            n.op,
            micros(n.forward),
            micros(n.backward.unwrap_or_default())
        );
    }
}

/// `H v` for the loss at `params`, `v` one direction per parameter: the gradient recorded as
/// `Var`s, `sum_k <grad_k, v_k>`, and one backward of that (as `tapegrad::hvp`, over several
/// tensors at once).
fn hvp_all(c: &Config, params: &[Tensor], v: &[Tensor], ids: &[usize], mask: &Tensor) -> Grads {
    let tape = Tape::new();
    let vars = tape.vars(params);
    let grads = loss(c, &vars, ids, mask).backward_graph();
    let directional = vars
        .iter()
        .zip(v)
        .map(|(&p, v)| (grads.wrt(p).expect("every parameter reaches the loss") * tape.constant(v.clone())).sum())
        .reduce(|a, b| a + b)
        .expect("parameters");
    directional.backward()
}

/// The gradients of the loss at `params` (one forward, one backward).
fn gradients(c: &Config, params: &[Tensor], ids: &[usize], mask: &Tensor) -> Vec<Tensor> {
    let tape = Tape::new();
    let vars = tape.vars(params);
    let mut grads = loss(c, &vars, ids, mask).backward();
    vars.iter().map(|&p| grads.take(p).expect("every parameter reaches the loss")).collect()
}

/// Hessian-vector product against one plain backward, alternated, medians; checked against
/// central differences of the gradient.
fn bench_hvp(c: &Config, steps: usize) {
    let mut rng = StdRng::seed_from_u64(0);
    let params = init(c, &mut rng);
    let ids: Vec<usize> = (0..c.batch * c.t).map(|_| rng.random_range(0..c.vocab)).collect();
    let v: Vec<Tensor> = params.iter().map(|p| Tensor::randn(p.shape(), &mut rng)).collect();
    let mask = causal_mask(c.t);
    let (mut plain, mut hvp) = (vec![], vec![]);
    for _ in 0..steps {
        let start = Instant::now();
        black_box(gradients(c, &params, &ids, &mask));
        plain.push(start.elapsed().as_secs_f64() * 1e6);
        let start = Instant::now();
        black_box(hvp_all(c, &params, &v, &ids, &mask));
        hvp.push(start.elapsed().as_secs_f64() * 1e6);
    }
    plain.sort_by(f64::total_cmp);
    hvp.sort_by(f64::total_cmp);
    let (plain, hvp) = (plain[steps / 2], hvp[steps / 2]);
    // H v ~ (g(x + eps v) - g(x - eps v)) / (2 eps): a sanity check of the figure. It is
    // tight where no relu input crosses 0 between x - eps v and x + eps v (batch 1); with more
    // rows some do, and the difference quotient then sees the kink (batch 16: ~0.25; with gelu
    // in place of relu the same check gives ~6e-6).
    let eps = 1e-5;
    let shifted = |s: f64| -> Vec<Tensor> {
        params
            .iter()
            .zip(&v)
            .map(|(p, v)| {
                Tensor::new(p.data().iter().zip(v.data()).map(|(a, b)| a + s * b).collect(), p.shape()).unwrap()
            })
            .collect()
    };
    let (up, down) = (gradients(c, &shifted(eps), &ids, &mask), gradients(c, &shifted(-eps), &ids, &mask));
    let hv = hvp_all(c, &params, &v, &ids, &mask);
    let tape = Tape::new();
    let vars = tape.vars(&params);
    let (mut worst, mut scale) = (0.0f64, 0.0f64);
    for (k, &var) in vars.iter().enumerate() {
        // `vars` stand for the parameters of the tape `hvp_all` used: same ids, in order.
        let exact = hv.by_id(var.id()).expect("a parameter's H v");
        for ((e, u), d) in exact.data().iter().zip(up[k].data()).zip(down[k].data()) {
            worst = worst.max((e - (u - d) / (2.0 * eps)).abs());
            scale = scale.max(e.abs());
        }
    }
    let n: usize = params.iter().map(Tensor::numel).sum();
    println!(
        "{} hvp: {hvp:.1} us, plain forward+backward {plain:.1} us, ratio {:.2} (medians of {steps}, alternated); \
         {n} parameters; max |Hv - central difference| {worst:.1e} (max |Hv| {scale:.2})",
        c.name,
        hvp / plain
    );
}

fn main() {
    // `cargo bench --bench transformer -- W6` runs only the workloads whose name contains "W6".
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let w5 = |name, batch| Config { name, vocab: 6, d: 16, ff: 64, t: 5, heads: 2, layers: 1, batch };
    if filter == "hvp" {
        bench_hvp(&w5("W5 transformer, batch 1", 1), 501);
        bench_hvp(&w5("W5' transformer, batch 16", 16), 201);
        return;
    }
    let w6 = Config { name: "W6 transformer step", vocab: 512, d: 128, ff: 512, t: 64, heads: 4, layers: 2, batch: 16 };
    if filter == "profile" {
        bench_profile(&w6, 5);
        return;
    }
    let workloads =
        [(w5("W5 transformer step, batch 1", 1), 501), (w5("W5' transformer step, batch 16", 16), 501), (w6, 9)];
    for (config, steps) in workloads.iter().filter(|(c, _)| c.name.contains(&filter)) {
        bench(config, *steps);
    }
}
