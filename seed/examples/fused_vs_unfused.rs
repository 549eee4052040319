//! The fused-versus-unfused lab: softmax cross-entropy two ways, on the seed chapter's numbers
//! and then at scale.
//!
//! 1. On the chapter's first row, each step of the unfused derivation, numerically: softmax's
//!    Jacobian `diag(p) - p p^T`, the log's diagonal `1/p`, their product `I - 1 p^T`, and the
//!    pick of the target's row, which gives `P - onehot`; then the fused node's one step.
//!    Then the curvature: the Hessian of the loss with respect to the logits, from the fused
//!    node and from the composite (each differentiating its own recorded backward), next to
//!    `diag(p) - p p^T`.
//! 2. The two tapes side by side: their dumps, node counts and bytes kept for backward.
//! 3. Scale-up: logits `[1024, 8192]`, forward + backward time (median of 7) and peak heap
//!    (a counting global allocator) of the fused node against `softmax -> log -> nll_loss` and
//!    `log_softmax -> nll_loss`.
//! 4. Logits around 1e4: what `log(softmax)` does, and anomaly mode naming the culprit.
//! 5. The loss family: cross-entropy with weights, label smoothing and an ignored row, and the
//!    binary cross-entropy with `pos_weight`, each fused against its composition (values,
//!    gradients, nodes, bytes kept for backward), one worked row of "prediction minus target
//!    distribution" each, and BCE at `x = +-1e4`.
//! 6. Time and peak heap of the three ways against the number of classes (256 .. 32768), as
//!    SVG charts in `target/lab/`.
//!
//! Everything measured, the tapes and the seed transformer's graph are also gathered in one
//! self-contained page, `target/lab/index.html` (inline SVG, no network): open it in a browser.
//!
//! ```text
//! cargo run --release --example fused_vs_unfused              # [1024, 8192]
//! cargo run --release --example fused_vs_unfused -- 4096 8192 # another size
//! ```

use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::{BceWithLogits, CrossEntropy, Reduction, Tape, Tensor, Var, check_equivalent, hessian, jacobian};
use tapegrad_seed::chapter::{PRINTED_GRADIENTS, PROBS, TARGETS, TOKEN_NAMES, TOKENS};
use tapegrad_seed::model::SeedParams;
use tapegrad_support::counting_alloc::{CURRENT, Counting, PEAK};
use tapegrad_support::page::Page;
use tapegrad_support::plot::{Series, XScale, line_chart};

// Counts the bytes a way to the loss allocates (as the root crate's loss benchmark does).
#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: f64 = 1024.0 * 1024.0;

/// A way to the loss from logits and targets.
type Loss = for<'t> fn(Var<'t>, &[usize]) -> Var<'t>;

/// The three ways to the same loss.
const WAYS: [(&str, Loss); 3] = [
    ("fused cross_entropy", |x, t| x.cross_entropy(t)),
    ("softmax -> log -> nll", |x, t| x.softmax(1).log().nll_loss(t)),
    ("log_softmax -> nll", |x, t| x.log_softmax(1).nll_loss(t)),
];

fn print_matrix(title: &str, names: &[&str], m: &Tensor) {
    println!("{title}");
    let head: String = names.iter().map(|n| format!("{:>9}", short_name(n))).collect();
    println!("{:>8}{head}", "");
    for (i, name) in names.iter().enumerate() {
        let row: String = (0..names.len()).map(|j| format!("{:>9.4}", m.get(&[i, j]))).collect();
        println!("{:>8}{row}", short_name(name));
    }
}

fn print_vector(title: &str, names: &[&str], v: &[f64]) {
    let head: String = names.iter().map(|n| format!("{:>9}", short_name(n))).collect();
    let row: String = v.iter().map(|x| format!("{x:>9.4}")).collect();
    println!("{title}\n{:>8}{head}\n{:>8}{row}", "", "");
}

fn short_name(name: &str) -> &str {
    if name == "transformers" { "trans" } else { name }
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Part 1: the chapter's first row, step by step.
fn derivation() {
    let names = &TOKEN_NAMES;
    let (p, t) = (&PROBS[0], TARGETS[0]);
    let n = p.len();
    println!("== 1. The chapter's first row: position 0 (<BOS>), target {t} ({})\n", names[t]);
    // Logits whose softmax is the chapter's p: ln p (softmax ignores a shift, and p sums to 1).
    let z = Tensor::new(p.to_vec(), &[n]).unwrap().log();
    let p_engine = z.softmax(-1);
    print_vector("p = softmax(z), z = ln(chapter's p):", names, p_engine.data());
    println!("   max |p - chapter's p| = {:.1e}\n", max_abs_diff(p_engine.data(), p));
    let p = p_engine.data().to_vec();

    let js = jacobian(|v| v.softmax(0), &z);
    print_matrix("Step 1. softmax's Jacobian dP_i/dz_j = diag(p) - p p^T:", names, &js);
    let expected = Tensor::from_fn(&[n, n], |ix| if ix[0] == ix[1] { p[ix[0]] } else { 0.0 } - p[ix[0]] * p[ix[1]]);
    println!("   max |J - (diag(p) - p p^T)| = {:.1e}\n", max_abs_diff(js.data(), expected.data()));

    let jl = jacobian(|v| v.log(), &p_engine);
    let diag: Vec<f64> = (0..n).map(|i| jl.get(&[i, i])).collect();
    print_vector("Step 2. the log's Jacobian is diagonal, d log P_i / dP_i = 1/p_i:", names, &diag);
    println!();

    let product = Tensor::from_fn(&[n, n], |ix| diag[ix[0]] * js.get(ix));
    let jc = jacobian(|v| v.softmax(0).log(), &z);
    print_matrix("Step 3. their product diag(1/p) (diag(p) - p p^T) = I - 1 p^T:", names, &product);
    let identity_minus = Tensor::from_fn(&[n, n], |ix| f64::from(u8::from(ix[0] == ix[1])) - p[ix[1]]);
    println!(
        "   max |product - (I - 1 p^T)| = {:.1e}; max |product - jacobian(log(softmax))| = {:.1e}\n",
        max_abs_diff(product.data(), identity_minus.data()),
        max_abs_diff(product.data(), jc.data())
    );

    let picked: Vec<f64> = (0..n).map(|j| -jc.get(&[t, j])).collect();
    print_vector(
        &format!("Step 4. the pick: L = -log P[{t}], so dL/dz = -(row {t} of I - 1 p^T) = p - onehot:"),
        names,
        &picked,
    );
    print_vector("   the chapter's printed gradient row:", names, &PRINTED_GRADIENTS[0]);
    println!(
        "   max |difference| = {:.1e} (the chapter prints 4 decimals)\n",
        max_abs_diff(&picked, &PRINTED_GRADIENTS[0])
    );

    let fused = jacobian(|v| v.reshape(&[1, n]).cross_entropy(&[t]), &z);
    print_vector(
        "Step 5. fused: L = logsumexp(z) - z_t, dL/dz = softmax(z) - onehot, in one pass:",
        names,
        fused.data(),
    );
    println!("   max |fused - unfused| = {:.1e}\n", max_abs_diff(fused.data(), &picked));
    curvature(names, &z, t, &expected);
}

/// Part 1, continued: the Hessian of the loss with respect to the logits, `d/dz (p - onehot)`.
fn curvature(names: &[&str], z: &Tensor, t: usize, softmax_jacobian: &Tensor) {
    let n = z.numel();
    println!("== 1b. Curvature: the Hessian d2L/dz2 of the same row\n");
    let fused = hessian(|v| v.reshape(&[1, n]).cross_entropy(&[t]), z);
    let composite = hessian(|v| v.reshape(&[1, n]).softmax(1).log().nll_loss(&[t]), z);
    print_matrix(
        "from the fused node (its recorded backward (softmax(z) - onehot) * g, differentiated):",
        names,
        &fused,
    );
    print_matrix("from softmax -> log -> nll (every node's recorded backward, differentiated):", names, &composite);
    print_matrix("diag(p) - p p^T:", names, softmax_jacobian);
    println!(
        "   max |fused - diag(p) - p p^T| = {:.1e}; max |composite - diag(p) - p p^T| = {:.1e}",
        max_abs_diff(fused.data(), softmax_jacobian.data()),
        max_abs_diff(composite.data(), softmax_jacobian.data())
    );
    println!(
        "   The target ({}) appears nowhere: dL/dz = p - onehot, and the onehot is a constant, so it \
         drops out of d/dz; the curvature is the softmax's Jacobian for every target.\n",
        names[t]
    );
}

/// Part 2: both tapes on the chapter's four rows.
fn tapes(page: &mut Page) {
    println!("== 2. The two tapes, on the chapter's four rows (logits = ln p, shape [4, 6])\n");
    let rows = PROBS.len();
    let logits = Tensor::from_fn(&[rows, 6], |ix| PROBS[ix[0]][ix[1]].ln());
    let targets = &TARGETS;
    let mut dumps = Vec::new();
    for (name, way) in WAYS.iter().take(2) {
        let tape = Tape::new();
        let x = tape.var(logits.clone());
        let loss = way(x, targets);
        let grads = loss.backward();
        let dump = tape.dump().values().grads(&grads).to_string();
        println!("{name}:");
        println!("{dump}");
        dumps.push((name, dump));
    }
    let eq = check_equivalent(&[logits], |v| v[0].cross_entropy(targets), |v| v[0].softmax(1).log().nll_loss(targets));
    println!("check_equivalent(fused, softmax -> log -> nll):\n{eq}");
    page.heading("The two tapes, on the seed chapter's four rows");
    for (name, dump) in dumps {
        page.paragraph(&format!("{name}:")).pre(&dump);
    }
    page.paragraph("check_equivalent(fused, softmax -> log -> nll):").pre(&eq.to_string());
}

struct Run {
    time: Duration,
    peak: usize,
    kept: usize,
    nodes: usize,
    loss: f64,
}

/// One forward + backward of `way` on a fresh tape. The logits are put on the tape before the
/// clock and the allocation counter start, so both see only the op's own work. tapegrad keeps
/// freed large buffers for reuse; the pool is emptied first so that every buffer this run
/// needs is counted (and paid for) as a fresh allocation, as in a first training step.
fn run(logits: &Tensor, targets: &[usize], way: Loss) -> Run {
    let tape = Tape::new();
    let x = tape.var(logits.clone());
    tapegrad::release_cached_buffers();
    let base = CURRENT.load(Relaxed);
    PEAK.store(base, Relaxed);
    let start = Instant::now();
    let loss = way(x, targets);
    let grads = loss.backward();
    let time = start.elapsed();
    let peak = PEAK.load(Relaxed) - base;
    black_box(grads.wrt(x).map(|g| g.data()[0]));
    Run { time, peak, kept: tape.memory().kept_bytes(), nodes: tape.len(), loss: loss.item() }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Every way on logits `[rows, cols]`, `repeats` times, alternating the ways within each
/// repeat: the median time of each way and its last run (peak and kept bytes do not vary).
fn measure(rows: usize, cols: usize, repeats: usize) -> (Vec<Duration>, Vec<Run>) {
    let logits = Tensor::randn(&[rows, cols], &mut StdRng::seed_from_u64(7));
    let targets: Vec<usize> = (0..rows).map(|r| (r * 7919) % cols).collect();
    let mut times = vec![Vec::new(); WAYS.len()];
    let mut last = Vec::new();
    for _ in 0..repeats {
        last.clear();
        for (k, (_, way)) in WAYS.iter().enumerate() {
            let r = run(&logits, &targets, *way);
            times[k].push(r.time);
            last.push(r);
        }
    }
    (times.into_iter().map(median).collect(), last)
}

/// Part 3: the scale-up.
fn scale_up(rows: usize, cols: usize, page: &mut Page) {
    println!(
        "== 3. Scale-up: logits [{rows}, {cols}] (one logits-sized buffer = {:.1} MiB)\n",
        (rows * cols * 8) as f64 / MIB
    );
    const REPEATS: usize = 7;
    let (medians, last) = measure(rows, cols, REPEATS);
    let buffer = (rows * cols * 8) as f64;
    println!(
        "{:<24}{:>7}{:>14}{:>16}{:>20}{:>12}",
        "", "nodes", "fwd+bwd ms", "peak heap MiB", "kept for bwd MiB", "loss"
    );
    let mut table = Vec::new();
    for (k, (name, _)) in WAYS.iter().enumerate() {
        let r = &last[k];
        println!(
            "{name:<24}{:>7}{:>14.1}{:>10.1} ({:.2}x){:>13.3} ({:.2}x){:>12.6}",
            r.nodes,
            medians[k].as_secs_f64() * 1e3,
            r.peak as f64 / MIB,
            r.peak as f64 / buffer,
            r.kept as f64 / MIB,
            r.kept as f64 / buffer,
            r.loss
        );
        table.push(vec![
            name.to_string(),
            r.nodes.to_string(),
            format!("{:.1}", medians[k].as_secs_f64() * 1e3),
            format!("{:.1} ({:.2}x)", r.peak as f64 / MIB, r.peak as f64 / buffer),
            format!("{:.3} ({:.2}x)", r.kept as f64 / MIB, r.kept as f64 / buffer),
            format!("{:.6}", r.loss),
        ]);
    }
    page.heading(&format!("Scale-up: logits [{rows}, {cols}]"))
        .paragraph(&format!(
            "Forward + backward, median of {REPEATS} runs alternating the three ways in one process; (Nx) = in \
             logits-sized buffers ({:.1} MiB).",
            buffer / MIB
        ))
        .table(&["", "nodes", "fwd+bwd ms", "peak heap MiB", "kept for backward MiB", "loss"], &table);
    let ratio = |k: usize| medians[k].as_secs_f64() / medians[0].as_secs_f64();
    println!(
        "\nmedian of {REPEATS}, one process, interleaved. (Nx) = in logits-sized buffers. The logits themselves \
         are on the tape before measuring.\nunfused / fused: time {:.2}x (softmax -> log -> nll), {:.2}x \
         (log_softmax -> nll); peak heap {:.2}x and {:.2}x; kept for backward {:.3}x and {:.3}x.",
        ratio(1),
        ratio(2),
        last[1].peak as f64 / last[0].peak as f64,
        last[2].peak as f64 / last[0].peak as f64,
        last[1].kept as f64 / last[0].kept as f64,
        last[2].kept as f64 / last[0].kept as f64,
    );
    println!(
        "Kept for backward is nearly equal: fused keeps the logits + one log-sum-exp per row, the unfused \
         chain keeps P\n(read by softmax's rule and by log's) and no lse. The unfused peak is higher because \
         the tape also holds log P and\nbackward makes three logits-sized gradients (d log P, dP, dlogits) \
         against the fused node's one.\n"
    );
}

/// The number of classes the sweep of part 5 runs through, with [`SWEEP_ROWS`] rows.
const SWEEP_CLASSES: [usize; 8] = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768];
const SWEEP_ROWS: usize = 256;

/// Part 5: time and peak heap of the three ways against the number of classes, as a table
/// and two SVG charts (`target/lab/time_vs_classes.svg`, `target/lab/peak_vs_classes.svg`).
fn classes_sweep(
    page: &mut Page,
    dir: &Path,
    classes: &[usize],
    rows: usize,
    repeats: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("== 6. Against the number of classes: logits [{rows}, C], median of {repeats}\n");
    println!(
        "{:>7}{:>12}{:>12}{:>12}{:>14}{:>12}{:>12}",
        "C", "fused ms", "s>log>nll", "ls>nll", "fused MiB", "s>log>nll", "ls>nll"
    );
    let mut time = vec![Vec::new(); WAYS.len()];
    let mut peak = vec![Vec::new(); WAYS.len()];
    let mut table = Vec::new();
    for &cols in classes {
        let (medians, last) = measure(rows, cols, repeats);
        let ms: Vec<f64> = medians.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let mib: Vec<f64> = last.iter().map(|r| r.peak as f64 / MIB).collect();
        println!(
            "{cols:>7}{:>12.2}{:>12.2}{:>12.2}{:>14.2}{:>12.2}{:>12.2}",
            ms[0], ms[1], ms[2], mib[0], mib[1], mib[2]
        );
        let mut row = vec![cols.to_string()];
        row.extend(ms.iter().map(|v| format!("{v:.2}")));
        row.extend(mib.iter().map(|v| format!("{v:.2}")));
        table.push(row);
        for k in 0..WAYS.len() {
            time[k].push((cols as f64, ms[k]));
            peak[k].push((cols as f64, mib[k]));
        }
    }
    let series = |values: &[Vec<(f64, f64)>]| -> Vec<Series> {
        WAYS.iter()
            .zip(values)
            .map(|((name, _), points)| Series { name: name.to_string(), points: points.clone() })
            .collect()
    };
    let title = |what: &str| format!("{what}, logits [{rows}, C]");
    let time_svg =
        line_chart(&title("forward + backward time"), "classes C", "ms (median)", XScale::Log2, &series(&time))?;
    let peak_svg = line_chart(&title("peak heap"), "classes C", "MiB", XScale::Log2, &series(&peak))?;
    std::fs::write(dir.join("time_vs_classes.svg"), &time_svg)?;
    std::fs::write(dir.join("peak_vs_classes.svg"), &peak_svg)?;
    println!(
        "\nwrote {} and {}\n",
        dir.join("time_vs_classes.svg").display(),
        dir.join("peak_vs_classes.svg").display()
    );
    page.heading("Fused against composite, by number of classes")
        .paragraph(&format!(
            "Logits [{rows}, C], forward + backward; median time of {repeats} runs alternating the three ways, \
             and the peak heap above the logits (a counting global allocator, buffer pool emptied first)."
        ))
        .charts(&[&time_svg, &peak_svg])
        .table(
            &[
                "C",
                "fused ms",
                "softmax -> log -> nll ms",
                "log_softmax -> nll ms",
                "fused MiB",
                "softmax -> log -> nll MiB",
                "log_softmax -> nll MiB",
            ],
            &table,
        );
    Ok(())
}

/// The seed transformer's loss graph on the page: its tape as a table, the Graphviz DOT text,
/// and the rendered picture when Graphviz's `dot` is installed (the page does not need it).
fn seed_graph(page: &mut Page) {
    let params = SeedParams::init();
    let tape = Tape::new();
    let vars = params.vars(&tape);
    let loss = vars.mean_loss(vars.forward(&TOKENS).logits, &TARGETS);
    let grads = loss.backward();
    let dot = tape.to_dot_with(&grads);
    page.heading("The seed graph")
        .paragraph(&format!(
            "The seed transformer's whole tape ({} nodes, loss {:.6}), one row per node with what it keeps for backward \
             (the seed_graph example prints the same and writes the .dot file).",
            tape.len(),
            loss.item()
        ))
        .pre(&tape.dump().grads(&grads).to_string());
    if let Some(svg) = render_dot(&dot) {
        page.paragraph("Rendered by Graphviz (installed on the machine that wrote this page):").charts(&[&svg]);
    }
    page.folded("Graphviz DOT source (render with: dot -Tsvg seed_graph.dot -o seed_graph.svg)", &dot);
}

/// `dot` rendered to SVG by Graphviz, or `None` when it is not installed or fails.
fn render_dot(dot: &str) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("dot").arg("-Tsvg").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().ok()?;
    child.stdin.take()?.write_all(dot.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    out.status.success().then(|| String::from_utf8(out.stdout).ok()).flatten()
}

/// Part 4: huge logits.
fn huge_logits(rows: usize, cols: usize) {
    println!("== 4. Logits ~ 1e4: randn x 1e4, shape [{rows}, {cols}]\n");
    let logits = Tensor::randn(&[rows, cols], &mut StdRng::seed_from_u64(11)).map(|v| v * 1e4);
    let targets: Vec<usize> = (0..rows).map(|r| (r * 7919) % cols).collect();
    for (name, way) in WAYS {
        let tape = Tape::new();
        let x = tape.var(logits.clone());
        let loss = way(x, &targets);
        let grads = loss.backward();
        let g = grads.wrt(x).unwrap().data();
        let nan = g.iter().filter(|v| v.is_nan()).count();
        let inf = g.iter().filter(|v| v.is_infinite()).count();
        println!("{name:<24} loss {:>14.6e}   gradient entries NaN {nan:>9}, inf {inf}, of {}", loss.item(), g.len());
    }
    println!(
        "\nsoftmax underflows to exact zeros away from each row's max, and log(0) = -inf: a target that is not \
         its row's max\ngives an infinite loss. Backward, log's rule divides by p: -inf at the target, 0/0 = NaN \
         beside it, and softmax's rule\nspreads the NaN over every row. Anomaly mode names the op:"
    );
    let tape = Tape::with_anomaly_detection();
    let x = tape.var(logits.clone());
    let p = x.softmax(1);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let caught = catch_unwind(AssertUnwindSafe(|| p.log().nll_loss(&targets).item()));
    std::panic::set_hook(hook);
    match caught {
        Err(payload) => println!("  {}", payload.downcast_ref::<String>().map_or("(no message)", String::as_str)),
        Ok(loss) => println!("  (no anomaly: loss {loss})"),
    }
}

/// Prints a row of numbers after a label.
fn row(label: &str, v: &[f64]) {
    let cells: String = v.iter().map(|x| format!("{x:>12.4}")).collect();
    println!("   {label:<38}{cells}");
}

/// Part 5: the loss family, each gradient "prediction minus target distribution".
fn loss_family() {
    println!("== 5. The loss family: every gradient is prediction minus target distribution\n");
    // The numbers of the PyTorch-pinned test (tests/suite/ops/losses_pytorch.rs).
    let x = Tensor::new(vec![0.5, -1.0, 2.0, 0.25, 0.0, 1.5, -0.5, 1.0, 2.0, 0.0, 0.75, -1.25], &[3, 4]).unwrap();
    let (w, eps, targets) = ([1.0, 2.0, 0.5, 3.0], 0.1, [0, 3, 1]);
    let opts = CrossEntropy::new().weight(Tensor::new(w.to_vec(), &[4]).unwrap()).ignore_index(1).label_smoothing(eps);
    println!(
        "cross_entropy_with: logits [3, 4], targets {targets:?}, weight {w:?}, label_smoothing {eps}, ignore_index 1"
    );
    // q: the weighted, smoothed target distribution, zero on the ignored row.
    let q = Tensor::from_fn(&[3, 4], |i| {
        let (r, c) = (i[0], i[1]);
        let picked = if c == targets[r] { (1.0 - eps) * w[c] } else { 0.0 };
        if targets[r] == 1 { 0.0 } else { picked + eps / 4.0 * w[c] }
    });
    let divisor = w[0] + w[3];
    let eq = check_equivalent(
        std::slice::from_ref(&x),
        |v| v[0].cross_entropy_with(&targets, &opts),
        |v| -(v[0].log_softmax(1) * v[0].tape().constant(q.clone())).sum_axis(1, false).sum() / divisor,
    );
    println!("fused against -(log_softmax(x) * q).sum_axis(1).sum() / D:\n{eq}");
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let loss = xv.cross_entropy_with(&targets, &opts);
    let grad = loss.backward().wrt(xv).unwrap().clone();
    let p = xv.softmax(1).value();
    let (p0, q0) = (&p.data()[..4], &q.data()[..4]);
    let s: f64 = q0.iter().sum();
    println!(
        "Worked row 0 (target 0): q_c = w_c eps / C + [c = t] (1 - eps) w_t, s = sum(q), D = w_0 + w_3 = {divisor}"
    );
    row("P = softmax(x_0)", p0);
    row("q", q0);
    println!("   s = {s:.4}");
    let by_hand: Vec<f64> = p0.iter().zip(q0).map(|(p, q)| (s * p - q) / divisor).collect();
    row("(s P - q) / D", &by_hand);
    row("the fused node's gradient", &grad.data()[..4]);
    row("row 2 (ignored): gradient", &grad.data()[8..]);
    println!("   loss {:.16} (PyTorch: 1.3611749528231134)\n", loss.item());

    // (No logit at 0: the composition's abs and relu have their kink there, the fused node none.)
    let bx = Tensor::new(vec![0.5, -2.0, 3.0, -0.25, 1.0, 0.75], &[2, 3]).unwrap();
    let by = Tensor::new(vec![1.0, 0.0, 0.3, 0.0, 1.0, 0.5], &[2, 3]).unwrap();
    let pw = Tensor::new(vec![3.0, 1.0, 0.5], &[3]).unwrap();
    let bopts = BceWithLogits::new().pos_weight(pw.clone());
    println!("bce_with_logits: logits [2, 3], targets in [0, 1], pos_weight {:?}", pw.data());
    let eq = check_equivalent(
        &[bx.clone(), by.clone()],
        |v| v[0].bce_with_logits(v[1], &bopts),
        |v| {
            let log_sigmoid = -((-v[0]).relu() + ((-v[0].abs()).exp() + 1.0).log());
            let log_weight = (v[0].tape().constant(pw.clone()) - 1.0) * v[1] + 1.0;
            ((1.0 - v[1]) * v[0] - log_weight * log_sigmoid).mean()
        },
    );
    println!("fused against the composition w((1 - y) x - (1 + (pw - 1) y) log sigmoid(x)), mean:\n{eq}");
    let tape = Tape::new();
    let (xv, yv) = (tape.var(bx.clone()), tape.constant(by.clone()));
    let plain = xv.bce_with_logits(yv, &BceWithLogits::new().reduction(Reduction::Sum));
    let grad = plain.backward().wrt(xv).unwrap().clone();
    let sig = xv.sigmoid().value();
    println!("Worked row 0, no pos_weight, sum: the gradient is sigmoid(x) - y");
    row("sigmoid(x)", &sig.data()[..3]);
    row("y", &by.data()[..3]);
    let by_hand: Vec<f64> = sig.data()[..3].iter().zip(&by.data()[..3]).map(|(s, y)| s - y).collect();
    row("sigmoid(x) - y", &by_hand);
    row("the fused node's gradient", &grad.data()[..3]);
    let weighted = xv.bce_with_logits(yv, &bopts.clone().reduction(Reduction::Sum));
    let grad = weighted.backward().wrt(xv).unwrap().clone();
    let (pwd, y0) = (pw.data(), &by.data()[..3]);
    let scale: Vec<f64> = pwd.iter().zip(y0).map(|(pw, y)| pw * y + 1.0 - y).collect();
    let target: Vec<f64> = pwd.iter().zip(y0).zip(&scale).map(|((pw, y), k)| pw * y / k).collect();
    println!(
        "With pos_weight: (pw y + 1 - y) (sigmoid(x) - pw y / (pw y + 1 - y)), a weight times prediction minus target"
    );
    row("weight pw y + 1 - y", &scale);
    row("target pw y / (pw y + 1 - y)", &target);
    let by_hand: Vec<f64> = scale.iter().zip(&target).zip(&sig.data()[..3]).map(|((k, t), s)| k * (s - t)).collect();
    row("weight (sigmoid(x) - target)", &by_hand);
    row("the fused node's gradient", &grad.data()[..3]);
    println!();

    println!("BCE at x = +-1e4 (targets [0, 1, 1, 0]), per element:");
    let big = Tensor::new(vec![1e4, 1e4, -1e4, -1e4], &[4]).unwrap();
    let ys = Tensor::new(vec![0.0, 1.0, 1.0, 0.0], &[4]).unwrap();
    let tape = Tape::new();
    let (xv, yv) = (tape.var(big), tape.constant(ys));
    let fused = xv.bce_with_logits(yv, &BceWithLogits::new().reduction(Reduction::None));
    let naive = -(yv * xv.sigmoid().log() + (1.0 - yv) * (1.0 - xv.sigmoid()).log());
    let gf = fused.sum().backward().wrt(xv).unwrap().clone();
    let gn = naive.sum().backward().wrt(xv).unwrap().clone();
    row("fused loss", fused.value().data());
    row("fused gradient", gf.data());
    row("-(y log s + (1 - y) log(1 - s)) loss", naive.value().data());
    row("its gradient", gn.data());
    println!(
        "   sigmoid(1e4) rounds to 1, so log(1 - s) = -inf; the fused form uses log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)).\n"
    );
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (rows, cols) = match args[..] {
        [r, c] => (r, c),
        _ => (1024, 8192),
    };
    // The workspace's target/ (this crate is its `seed/` member).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace folder");
    let dir = root.join("target").join("lab");
    std::fs::create_dir_all(&dir).expect("target/lab can be created");
    let mut page = Page::new("tapegrad lab: fused against unfused softmax cross-entropy");
    page.paragraph("Written by `cargo run --release --example fused_vs_unfused`; self-contained (inline SVG, no scripts, no network).");
    derivation();
    tapes(&mut page);
    scale_up(rows, cols, &mut page);
    huge_logits(rows, cols);
    loss_family();
    classes_sweep(&mut page, &dir, &SWEEP_CLASSES, SWEEP_ROWS, 5).expect("the charts can be drawn and written");
    seed_graph(&mut page);
    let index = dir.join("index.html");
    page.write(&index).expect("target/lab/index.html can be written");
    println!("wrote {0}: open file://{0} in a browser", index.display());
}

/// The page holds the sweep's two charts and table and the seed graph, and needs nothing from
/// outside itself (no scripts, no links, no external images). A small sweep, for speed.
#[test]
fn the_page_gathers_charts_tables_and_the_seed_graph() {
    let dir = std::env::temp_dir().join(format!("tapegrad-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut page = Page::new("lab");
    classes_sweep(&mut page, &dir, &[256, 512, 1024], 8, 1).unwrap();
    seed_graph(&mut page);
    let index = dir.join("index.html");
    page.write(&index).unwrap();
    let html = std::fs::read_to_string(&index).unwrap();
    for file in ["time_vs_classes.svg", "peak_vs_classes.svg"] {
        assert!(std::fs::read_to_string(dir.join(file)).unwrap().starts_with("<svg"), "{file}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("forward + backward time, logits [8, C]") && html.contains("peak heap, logits [8, C]"));
    assert!(html.matches("<svg").count() >= 2);
    for way in ["fused cross_entropy", "softmax -&gt; log -&gt; nll", "log_softmax -&gt; nll"] {
        assert!(html.contains(way), "{way}");
    }
    assert_eq!(html.matches("<tr>").count(), 1 + 3, "the sweep table: header + one row per size");
    assert!(html.contains("The seed graph") && html.contains("digraph"));
    for outside in ["<script", "src=", "<link", "@import", "url("] {
        assert!(!html.contains(outside), "{outside}");
    }
}
