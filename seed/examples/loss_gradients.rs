//! The seed chapter ("Gradients: Loss") reproduced on the tape.
//!
//! The chapter prints `dL/dlogits = P - onehot(target)` from a table of probabilities. Here the
//! same table becomes logits (`ln p`, so that softmax gives the probabilities back), the loss is
//! recorded on a tape twice — once with the fused `cross_entropy` node and once unfused as
//! `softmax -> log -> nll_loss` — and `backward()` produces the gradient table. The chapter's
//! gradient is that of the SUM of the per-position losses, so the mean loss is scaled by the
//! number of positions.
//!
//! Run: `cargo run --release --example loss_gradients`

use tapegrad::{Tape, Tensor, Var};
use tapegrad_seed::chapter::{PRINTED_GRADIENT_SUMS, PRINTED_GRADIENTS, PROBS, TARGETS, TOKEN_NAMES, TOKENS};

/// `dL/dlogits` of the summed loss along one path.
fn gradient(path: impl for<'t> Fn(Var<'t>, &[usize]) -> Var<'t>) -> Result<Tensor, tapegrad::Error> {
    let classes = TOKEN_NAMES.len();
    let log_probs: Vec<f64> = PROBS.iter().flatten().map(|p| p.ln()).collect();
    let tape = Tape::new();
    let logits = tape.var(Tensor::new(log_probs, &[PROBS.len(), classes])?);
    let sum_loss = path(logits, &TARGETS) * TARGETS.len() as f64;
    Ok(sum_loss.backward().wrt(logits).expect("the loss depends on the logits").clone())
}

fn main() -> Result<(), tapegrad::Error> {
    let fused = gradient(|x, t| x.cross_entropy(t))?;
    let unfused = gradient(|x, t| x.softmax(1).log().nll_loss(t))?;
    let classes = TOKEN_NAMES.len();

    println!("Loss gradients w.r.t. logits, from the tape (the chapter's table: P - onehot)");
    println!("{}", "=".repeat(124));
    let short = |name: &str| if name == "transformers" { "trans".to_string() } else { name.to_string() };
    let header: String = TOKEN_NAMES.iter().map(|n| format!(" {:>8}", short(n))).collect();
    println!("{:<12} {:^54} | {:^54}", "", "fused cross_entropy", "unfused softmax -> log -> nll_loss");
    println!("{:<12}{header} |{header}", "Position");
    println!("{}", "-".repeat(124));
    for (r, (f, u)) in fused.data().chunks(classes).zip(unfused.data().chunks(classes)).enumerate() {
        let cells = |row: &[f64]| row.iter().map(|g| format!(" {g:>8.4}")).collect::<String>();
        let name = TOKEN_NAMES[TOKENS[r]];
        println!("{name:<12}{} |{}", cells(f), cells(u));
    }

    let printed = PRINTED_GRADIENTS.iter().flatten();
    let worst = fused.data().iter().zip(printed).map(|(g, p)| (g - p).abs()).fold(0.0, f64::max);
    println!("\nlargest difference to the chapter's printed table: {worst:.2e} (its values have 4 decimals)");
    println!("largest difference fused vs unfused: {:.2e}", fused.max_abs_diff(&unfused));

    println!("\nRow sums (the gradient of a softmax row sums to zero):");
    for (r, row) in fused.data().chunks(classes).enumerate() {
        println!(
            "  position {r}: tape {:>13.10}   chapter {:>13.10}",
            row.iter().sum::<f64>(),
            PRINTED_GRADIENT_SUMS[r]
        );
    }
    let p2: f64 = PROBS[2].iter().sum();
    println!(
        "Position 2 sums to -0.0001 in the chapter because its probabilities are rounded to 4 decimals and \
         sum to {p2:.4}; the formula P - onehot is exact, and from real logits the row sums to 0."
    );
    Ok(())
}
