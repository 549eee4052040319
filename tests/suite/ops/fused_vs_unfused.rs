//! The fused `cross_entropy` node against the two unfused paths built from ordinary ops:
//! `softmax -> log -> nll_loss` and `log_softmax -> nll_loss`.

use crate::common::randn;
use approx::assert_abs_diff_eq;
use tapegrad::{Tape, Tensor, Var};

/// The three ways to compute the same loss.
#[derive(Clone, Copy, Debug)]
enum Path {
    Fused,
    SoftmaxLog,
    LogSoftmax,
}

fn loss<'t>(path: Path, logits: Var<'t>, targets: &[usize]) -> Var<'t> {
    let last = logits.shape().len() - 1;
    match path {
        Path::Fused => logits.cross_entropy(targets),
        Path::SoftmaxLog => logits.softmax(last).log().nll_loss(targets),
        Path::LogSoftmax => logits.log_softmax(last).nll_loss(targets),
    }
}

/// (loss, gradient with respect to the logits) along one path.
fn loss_and_grad(path: Path, logits: &Tensor, targets: &[usize]) -> (f64, Tensor) {
    let tape = Tape::new();
    let x = tape.var(logits.clone());
    let loss = loss(path, x, targets);
    let grads = loss.backward();
    (loss.item(), grads.wrt(x).unwrap().clone())
}

/// `(softmax(x) - onehot(t)) / rows`, computed directly from the definition.
fn expected_gradient(logits: &Tensor, targets: &[usize]) -> Tensor {
    let classes = *logits.shape().last().unwrap();
    let mut grad = logits.clone();
    for (r, row) in grad.data_mut().chunks_mut(classes).enumerate() {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|x| (x - max).exp()).sum();
        for (j, x) in row.iter_mut().enumerate() {
            let onehot = if j == targets[r] { 1.0 } else { 0.0 };
            *x = ((*x - max).exp() / sum - onehot) / targets.len() as f64;
        }
    }
    grad
}

fn cases() -> Vec<(Tensor, Vec<usize>)> {
    vec![
        (randn(&[1, 6], 1), vec![3]),
        (randn(&[4, 5], 2), vec![0, 4, 2, 2]),
        (randn(&[7], 3), vec![6]),
        // 3-D logits [B, T, C]: one target per (b, t).
        (randn(&[2, 3, 4], 4), vec![0, 1, 2, 3, 3, 0]),
        (randn(&[8, 32], 5) * 3.0, (0..8).map(|r| (r * 5) % 32).collect()),
    ]
}

#[test]
fn the_three_paths_agree_in_loss_and_gradient() {
    for (logits, targets) in cases() {
        let (fused_loss, fused_grad) = loss_and_grad(Path::Fused, &logits, &targets);
        for path in [Path::SoftmaxLog, Path::LogSoftmax] {
            let (l, g) = loss_and_grad(path, &logits, &targets);
            assert_abs_diff_eq!(l, fused_loss, epsilon = 1e-12);
            assert_abs_diff_eq!(g, fused_grad, epsilon = 1e-12);
        }
    }
}

#[test]
fn the_fused_gradient_is_softmax_minus_onehot_over_rows() {
    for (logits, targets) in cases() {
        let (_, grad) = loss_and_grad(Path::Fused, &logits, &targets);
        assert_abs_diff_eq!(grad, expected_gradient(&logits, &targets), epsilon = 1e-15);
    }
}

#[test]
fn the_fused_loss_is_the_mean_of_minus_log_p_target() {
    let logits = Tensor::new(vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0], &[2, 3]).unwrap();
    let (loss, _) = loss_and_grad(Path::Fused, &logits, &[2, 0]);
    let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    assert_abs_diff_eq!(loss, ((lse - 3.0) + 3f64.ln()) / 2.0, epsilon = 1e-15);
}

/// Logits of magnitude 1e4: the softmax of such a row is exactly one-hot in f64 (every other
/// entry is `exp(-1e4)`, far below the smallest subnormal), so `log(softmax)` takes `log(0)`.
fn huge_logits() -> (Tensor, Vec<usize>) {
    (randn(&[4, 6], 6) * 1e4, vec![0, 1, 2, 3])
}

#[test]
fn at_logits_1e4_the_fused_and_log_softmax_paths_stay_exact() {
    let (logits, targets) = huge_logits();
    let (fused_loss, fused_grad) = loss_and_grad(Path::Fused, &logits, &targets);
    let (ls_loss, ls_grad) = loss_and_grad(Path::LogSoftmax, &logits, &targets);
    // The loss of a row is max - x[target] exactly (the other terms of the log-sum-exp vanish).
    let classes = 6;
    let expected: f64 = logits
        .data()
        .chunks(classes)
        .zip(&targets)
        .map(|(row, &t)| row.iter().copied().fold(f64::NEG_INFINITY, f64::max) - row[t])
        .sum::<f64>()
        / 4.0;
    assert_abs_diff_eq!(fused_loss, expected, epsilon = 1e-9);
    assert_abs_diff_eq!(ls_loss, fused_loss, epsilon = 1e-9);
    assert_abs_diff_eq!(fused_grad, expected_gradient(&logits, &targets), epsilon = 1e-15);
    assert_abs_diff_eq!(ls_grad, fused_grad, epsilon = 1e-15);
}

/// What the unfused `softmax -> log` path does at logits ~1e4: the probabilities of
/// non-arg-max classes underflow to exactly 0 and `log(0) = -inf`, so a row whose target is
/// not its arg-max has an infinite loss, and so does the mean. Backward is worse: `log`'s rule
/// is `g / p`, and for every underflowed entry that is `0 / 0 = NaN` (or `-1/4 / 0 = -inf`
/// at the target), which the softmax rule spreads over the whole row. So EVERY row with an
/// underflowed probability gets all-NaN gradients, even a row whose own loss is finite. This
/// is the failure the fused node exists to avoid (PyTorch's `log(softmax(x))` does the same).
#[test]
fn at_logits_1e4_softmax_then_log_underflows_to_inf_loss_and_nan_gradients() {
    let (logits, targets) = huge_logits();
    let tape = Tape::new();
    let x = tape.var(logits.clone());
    let probs = x.softmax(1);
    let row_has_zero: Vec<bool> = probs.value().data().chunks(6).map(|row| row.contains(&0.0)).collect();
    let target_is_zero: Vec<bool> =
        probs.value().data().chunks(6).zip(&targets).map(|(row, &t)| row[t] == 0.0).collect();
    assert!(row_has_zero.iter().all(|&z| z), "every row of 1e4-scale logits underflows somewhere");
    assert!(
        target_is_zero.contains(&true) && target_is_zero.contains(&false),
        "the data should have both kinds of row"
    );

    let loss = probs.log().nll_loss(&targets);
    assert_eq!(loss.item(), f64::INFINITY);
    let grads = loss.backward();
    assert!(grads.wrt(x).unwrap().data().iter().all(|g| g.is_nan()));
}
