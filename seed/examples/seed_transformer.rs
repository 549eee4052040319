//! The seed's tiny transformer, rebuilt from tapegrad ops: the series' forward numbers, the
//! chapter's `P - onehot` taken from the tape, every gradient checked against finite
//! differences, the verdict on the series' published hand-derived gradients, one AdamW step
//! as the series takes it, then training until the loss is below 0.01.
//!
//! ```text
//! cargo run --release --example seed_transformer
//! ```

use std::time::Instant;

use tapegrad_support::plot::{Series, XScale, line_chart};
use tapegrad_support::progress::Progress;

use tapegrad::Tape;
use tapegrad::optim::{AdamW, Optimizer};
use tapegrad_seed::chapter::{self, BOS, TARGETS, TOKEN_NAMES, TOKENS};
use tapegrad_seed::model::{MAX_LEN, PARAM_NAMES, SeedParams, VOCAB};
use tapegrad_seed::published::{PUBLISHED, published_entries};
use tapegrad_seed::slips::Mistake;
use tapegrad_seed::verdict::published_derivation;

/// The chapter's column headers ("transformers" is abbreviated, as the chapter prints it).
const COLUMNS: [&str; VOCAB] = ["<PAD>", "<BOS>", "<EOS>", "I", "like", "trans"];

fn header(label: &str) -> String {
    let cols: String = COLUMNS.iter().map(|c| format!(" {c:>8}")).collect();
    format!("{label:<12}{cols}")
}

fn row(label: &str, values: &[f64]) -> String {
    let cells: String = values.iter().map(|v| format!(" {v:>8.4}")).collect();
    format!("{label:<12}{cells}")
}

/// `x` with 6 significant digits.
fn sig6(x: f64) -> String {
    if x == 0.0 {
        return "0.00000".into();
    }
    let decimals = (5 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.decimals$}")
}

fn section(title: &str) {
    println!("\n{title}\n{}", "=".repeat(title.len()));
}

fn main() {
    let params = SeedParams::init();
    println!(
        "The seed's transformer: V {VOCAB}, d_model 16, 2 heads of 8, d_ff 64, T {MAX_LEN}; {} parameters in {} tensors,",
        params.numel(),
        PARAM_NAMES.len()
    );
    println!("initialised with Python's random.seed(42) / random.gauss(0, 0.1) (tapegrad_seed::pyrandom::PyRandom).");

    // 1. Forward.
    section("1. Forward: logits, probabilities, losses");
    let tape = Tape::new();
    let vars = params.vars(&tape);
    let f = vars.forward(&TOKENS);
    let logits = f.logits.value();
    let probs = logits.softmax(-1);
    let logp = logits.log_softmax(-1);
    println!("Logits\n{}", header("Position"));
    for (i, r) in logits.data().chunks(VOCAB).enumerate() {
        println!("{}", row(TOKEN_NAMES[TOKENS[i]], r));
    }
    println!("\nProbabilities (the chapter's table is positions 0..3)\n{}", header("Position"));
    for (i, r) in probs.data().chunks(VOCAB).enumerate() {
        println!("{}", row(TOKEN_NAMES[TOKENS[i]], r));
    }
    let rounded_equal = chapter::PROBS
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.iter().enumerate().map(move |(j, &c)| (i, j, c)))
        .filter(|&(i, j, c)| format!("{:.4}", probs.get(&[i, j])) == format!("{c:.4}"))
        .count();
    println!(
        "Against the chapter's table: {rounded_equal} of {} printed probabilities agree to all 4 decimals.",
        chapter::PROBS.len() * VOCAB
    );
    println!("\nPer-position losses -log P[target]:");
    let mut total = 0.0;
    for (i, &t) in TARGETS.iter().enumerate() {
        let loss = -logp.get(&[i, t]);
        total += loss;
        println!("  position {i} ({:>12} -> {:<12}) {loss:.16}", TOKEN_NAMES[TOKENS[i]], TOKEN_NAMES[t]);
    }
    let mean = vars.mean_loss(f.logits, &TARGETS).item();
    println!("  mean (fused cross_entropy)                 {mean:.16}");
    println!("  mean (sum of the four / 4)                 {:.16}", total / TARGETS.len() as f64);

    // 2. P - onehot from the tape.
    section("2. dL/dlogits of the SUM loss, from the tape: fused | unfused");
    let fused = {
        let tape = Tape::new();
        let v = params.vars(&tape);
        let lg = v.forward(&TOKENS).logits;
        v.sum_loss(lg, &TARGETS).backward().wrt(lg).unwrap().clone()
    };
    let unfused = {
        let tape = Tape::new();
        let v = params.vars(&tape);
        let lg = v.forward(&TOKENS).logits;
        let loss = lg.narrow(0, 0, TARGETS.len()).softmax(1).log().nll_loss(&TARGETS) * TARGETS.len() as f64;
        loss.backward().wrt(lg).unwrap().clone()
    };
    let cells = |v: &[f64]| v.iter().map(|x| format!(" {x:>8.4}")).collect::<String>();
    let names: String = COLUMNS.iter().map(|c| format!(" {c:>8}")).collect();
    println!("{} |{names}", header("Position"));
    for i in 0..TARGETS.len() {
        let fr = &fused.data()[i * VOCAB..(i + 1) * VOCAB];
        let ur = &unfused.data()[i * VOCAB..(i + 1) * VOCAB];
        println!("{} |{}", row(TOKEN_NAMES[TOKENS[i]], fr), cells(ur));
    }
    println!(
        "(left: cross_entropy(targets) * 4, one fused node; right: softmax(1).log().nll_loss(targets) * 4, three nodes)"
    );
    println!("max |fused - unfused| = {:.2e}", fused.max_abs_diff(&unfused));
    for i in 0..TARGETS.len() {
        let sum: f64 = fused.data()[i * VOCAB..(i + 1) * VOCAB].iter().sum();
        let chapter_sum: f64 = chapter::PROBS[i].iter().sum::<f64>() - 1.0;
        println!(
            "position {i}: sum of tapegrad's row {sum:>10.2e}; sum(P) - 1 of the chapter's 4-decimal P {chapter_sum:+.10} (it prints {:.10})",
            chapter::PRINTED_GRADIENT_SUMS[i]
        );
    }

    // The same logits scaled by 10^4: the fused node works in log space and stays finite.
    let scaled = 1e4 * &logits;
    let (fused_big, unfused_big) = {
        let tape = Tape::new();
        let lg = tape.var(scaled.clone()).narrow(0, 0, TARGETS.len());
        let (a, b) = (lg.cross_entropy(&TARGETS), lg.softmax(1).log().nll_loss(&TARGETS));
        let finite = |l: tapegrad::Var| l.backward().wrt(lg).unwrap().data().iter().all(|g| g.is_finite());
        ((a.item(), finite(a)), (b.item(), finite(b)))
    };
    println!(
        "logits x 10^4: fused mean loss {:.6} (gradient finite: {}), unfused {} (gradient finite: {})",
        fused_big.0, fused_big.1, unfused_big.0, unfused_big.1
    );

    // 3. Gradient norms and finite differences.
    section("3. Gradients of the sum loss at step 0: L2 norms and central differences (eps 1e-6)");
    let truth = params.step(Mistake::None);
    println!("{:<7} {:>12} {:>10} {:>14} {:>14}  check", "tensor", "shape", "|grad|", "max|a - fd|", "max|a|");
    let started = Instant::now();
    let mut all_ok = true;
    for (k, name) in PARAM_NAMES.iter().enumerate() {
        let g = &truth.grads[k];
        let mut worst: f64 = 0.0;
        let mut ok = true;
        for at in 0..g.numel() {
            let (a, n) = (g.data()[at], params.finite_difference(k, at, 1e-6));
            worst = worst.max((a - n).abs());
            ok &= (a - n).abs() <= 1e-7 + 1e-5 * n.abs();
        }
        all_ok &= ok;
        let max_a = g.data().iter().fold(0.0f64, |m, x| m.max(x.abs()));
        println!(
            "{name:<7} {:>12} {:>10} {worst:>14.2e} {max_a:>14.6}  {}",
            format!("{:?}", g.shape()),
            sig6(g.norm()),
            if ok { "ok" } else { "FAIL" }
        );
    }
    println!(
        "{} of {} elements checked in {:.2?}; criterion |a - fd| <= 1e-7 + 1e-5 |fd|: {}",
        params.numel(),
        params.numel(),
        started.elapsed(),
        if all_ok { "all pass" } else { "FAILURES" }
    );

    // 4. The verdict on the published hand-derived gradients.
    section("4. The series' published hand-derived gradients, judged");
    let published = PUBLISHED;
    let ours = published_entries(&truth.grads);
    let fd = params.published_by_finite_differences(1e-6);
    let slip = params.step(Mistake::WoNotTransposed);
    let slipped = published_entries(&slip.grads);
    let line = |label: &str, v: &[f64]| {
        let cells: String = v.iter().map(|x| format!(" {x:>10.6}")).collect();
        println!("{label:<30}{cells}");
    };
    println!("{:<30}{:>44}{:>44}", "", "dE_tok[<BOS>][0..4]", "dW_V[head 0][row 0][0..4]");
    line("published (hand-derived)", &published);
    line("tapegrad backward", &ours);
    line("central differences", &fd);
    line("hand backward, W_O not transp.", &slipped);
    let max_fd = ours.iter().zip(&fd).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let max_pub = ours.iter().zip(&published).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    println!("tapegrad vs finite differences: max diff {max_fd:.1e}. Published vs tapegrad: max diff {max_pub:.6}.");
    let right = published.iter().zip(&fd).filter(|(p, n)| format!("{p:.6}") == format!("{n:.6}")).count();
    println!("Published values that finite differences confirm (to their 6 decimals): {right} of 8.");
    println!("\nThe general derivation checker (tapegrad::Derivation), from the 8 published entries alone:");
    let tape = Tape::new();
    let (derivation, _) = published_derivation(&tape, &params);
    let report = derivation.check();
    print!("{report}");
    println!("({})", report.search_stats());
    println!("\nCross-check: which of twenty slips written by hand for this model reproduces all 8?");
    println!("(each slip rebuilt as a forward with the same values whose tape gradient is the slip's)");
    let mut matches = vec![];
    for m in Mistake::ALL {
        let got = published_entries(&params.step(m).grads);
        let agree = got.iter().zip(&published).filter(|(g, p)| format!("{g:.6}") == format!("{p:.6}")).count();
        let diff = got.iter().zip(&published).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        println!("  {:<30} {agree} of 8 agree to 6 decimals, max diff {diff:.6}", format!("{m:?}"));
        if agree == 8 {
            matches.push(m);
        }
    }
    println!("Verdict: the published values are WRONG ({right} of 8 right by finite differences).");
    if matches == [Mistake::WoNotTransposed] {
        println!("The one slip that reproduces all 8 to their 6 decimals: W_O not transposed in backward.");
        println!("  Forward: mh = concat W_O^T, so d concat = d mh W_O; the hand derivation used d mh W_O^T. W_O is");
        println!(
            "  square, so the wrong product has the right shape; everything upstream of concat inherits the error."
        );
    } else if matches.is_empty() {
        println!("No single slip among the {} tried reproduces all 8 published numbers.", Mistake::ALL.len());
    } else {
        println!("Slips that reproduce all 8 published numbers: {matches:?}");
    }
    let right_params: Vec<&str> = PARAM_NAMES
        .iter()
        .zip(slip.grads.iter().zip(&truth.grads))
        .filter(|(_, (s, t))| s.max_abs_diff(t) < 1e-15)
        .map(|(n, _)| *n)
        .collect();
    println!("  Parameter gradients the slip leaves exactly right: {right_params:?}");

    // 5. One AdamW step as the series takes it.
    section("5. One AdamW step (lr 0.001, betas 0.9/0.999, eps 1e-8, weight decay 0.01 as theta *= 1 - lr wd)");
    let mut stepped = params.clone();
    let mut opt = AdamW::new(0.001);
    opt.step_tensors(&mut stepped.tensors_mut(), &truth.grads.iter().collect::<Vec<_>>());
    let after = stepped.mean_loss();
    let mut series = params.clone();
    AdamW::new(0.001).step_tensors(&mut series.tensors_mut(), &slip.grads.iter().collect::<Vec<_>>());
    println!("mean loss before:                                  {:.16}", truth.mean_loss);
    println!("mean loss after, from the correct gradients:       {after:.16}");
    println!("mean loss after, from the W_O-slip gradients:      {:.16}", series.mean_loss());

    // 6. Training.
    let lr = 0.001;
    section("6. Training with AdamW until the mean loss < 0.01 (lr 0.001, the series' own settings)");
    let mut params = stepped; // the step above was step 1
    let started = Instant::now();
    let progress = Progress::open_ended("seed", 50);
    // (step, mean loss) from step 1, the AdamW step of section 5.
    let mut curve = vec![(0.0, truth.mean_loss)];
    let final_loss = loop {
        let step = params.step(Mistake::None);
        curve.push((opt.steps() as f64, step.mean_loss));
        progress.step(opt.steps() - 1, step.mean_loss);
        if step.mean_loss < 0.01 {
            break step.mean_loss;
        }
        opt.step_tensors(&mut params.tensors_mut(), &step.grads.iter().collect::<Vec<_>>());
    };
    progress.finish();
    let elapsed = started.elapsed();
    println!(
        "loss {final_loss:.6} < 0.01 after {} AdamW steps (lr {lr}) in {elapsed:.2?}: {:.0} steps/s overall",
        opt.steps(),
        (opt.steps() - 1) as f64 / elapsed.as_secs_f64()
    );
    let svg = line_chart(
        "seed transformer: mean loss per AdamW step (lr 0.001)",
        "step",
        "mean cross-entropy",
        XScale::Linear,
        &[Series { name: "mean loss over the 4 positions".into(), points: curve }],
    )
    .expect("the loss curve can be drawn");
    // The workspace's target/ (this crate is its `seed/` member).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace folder");
    let path = root.join("target").join("seed_transformer_loss.svg");
    std::fs::create_dir_all(path.parent().expect("target/")).expect("target/ can be created");
    std::fs::write(&path, svg).expect("the loss curve can be written");
    println!("wrote {}", path.display());
    let continuation = params.greedy(&[BOS]);
    let words: Vec<&str> = continuation.iter().map(|&t| TOKEN_NAMES[t]).collect();
    println!("greedy continuation of <BOS>: {}", words.join(" "));
}
