//! The seed chapter reproduced: its probability table, turned into logits `ln p`, gives the
//! chapter's printed gradient table through the fused backward (to the 4 printed decimals).

use approx::assert_abs_diff_eq;
use tapegrad::{Tape, Tensor};
use tapegrad_seed::chapter::{PRINTED_GRADIENT_SUMS, PRINTED_GRADIENTS, PROBS, TARGETS, TOKEN_NAMES};

#[test]
fn the_fused_backward_gives_the_chapters_gradient_table() {
    let rows = PROBS.len();
    let classes = TOKEN_NAMES.len();
    let logits: Vec<f64> = PROBS.iter().flatten().map(|p| p.ln()).collect();

    let tape = Tape::new();
    let x = tape.var(Tensor::new(logits, &[rows, classes]).unwrap());
    // The chapter's P - onehot is the gradient of the SUM over positions; the node's loss is the mean.
    let sum_loss = x.cross_entropy(&TARGETS) * rows as f64;
    let grads = sum_loss.backward();
    let dlogits = grads.wrt(x).unwrap();

    let printed = Tensor::new(PRINTED_GRADIENTS.iter().flatten().copied().collect(), &[rows, classes]).unwrap();
    // Printed to 4 decimals: within half a unit of the last place. Position 2's probabilities
    // sum to 0.9999, and softmax renormalises them, moving them by up to 2.1e-5.
    assert_abs_diff_eq!(*dlogits, printed, epsilon = 0.5e-4 + 2.1e-5);
    // The tape's rows sum to zero, where the chapter's position 2 printed -0.0001.
    for row in dlogits.data().chunks(classes) {
        assert_abs_diff_eq!(row.iter().sum::<f64>(), 0.0, epsilon = 1e-15);
    }
    assert_eq!(PRINTED_GRADIENT_SUMS[2], -0.0001);
}

#[test]
fn the_unfused_path_gives_the_same_table() {
    let rows = PROBS.len();
    let logits = Tensor::new(PROBS.iter().flatten().map(|p| p.ln()).collect(), &[rows, 6]).unwrap();
    let grad = |fused: bool| {
        let tape = Tape::new();
        let x = tape.var(logits.clone());
        let loss = if fused { x.cross_entropy(&TARGETS) } else { x.softmax(1).log().nll_loss(&TARGETS) };
        (loss * rows as f64).backward().wrt(x).unwrap().clone()
    };
    assert_abs_diff_eq!(grad(true), grad(false), epsilon = 1e-15);
}
