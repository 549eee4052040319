//! The seed transformer rebuilt from tapegrad ops (`tapegrad_seed::model`): the series'
//! forward numbers, gradients against finite differences, the verdict on the published
//! hand-derived gradients, the series' AdamW step and training.

use approx::{assert_abs_diff_eq, assert_relative_eq};
use tapegrad::optim::AdamW;
use tapegrad::{Gradcheck, Tape, Tensor};
use tapegrad_seed::chapter::{BOS, EOS, PRINTED_GRADIENTS, PROBS, TARGETS, TOKENS};
use tapegrad_seed::model::{N_PARAMS, PARAM_NAMES, SeedParams, SeedVars, VOCAB};
use tapegrad_seed::published::{PUBLISHED, published_entries};
use tapegrad_seed::slips::Mistake;

/// `x` rounded to `d` decimals, as the chapter prints it.
fn round(x: f64, d: i32) -> f64 {
    let s = 10f64.powi(d);
    (x * s).round() / s
}

fn probabilities(params: &SeedParams) -> Tensor {
    let tape = Tape::new();
    params.vars(&tape).forward(&TOKENS).logits.softmax(1).value()
}

#[test]
fn init_reproduces_pythons_generator_and_the_tying_of_w_lm() {
    let p = SeedParams::init();
    // Python's check values (the series' companion scripts): the first four gauss(0, 0.1) after seed(42).
    assert_eq!(
        &p.e_tok.data()[..4],
        &[-0.014409032957792837, -0.01729036003315193, -0.011131586156766246, 0.07019837250988631]
    );
    assert_eq!(p.w_lm, p.e_tok, "W_lm is drawn from a fresh seed(42), like E_tok");
    assert_eq!(&p.w_o.data()[..4], &p.e_tok.data()[..4]);
    assert_eq!(p.numel(), 3456);
}

#[test]
fn forward_reproduces_the_chapter_probabilities_and_losses() {
    let params = SeedParams::init();
    let probs = probabilities(&params);
    for (i, row) in PROBS.iter().enumerate() {
        for (j, &expected) in row.iter().enumerate() {
            assert_eq!(round(probs.get(&[i, j]), 4), expected, "P[{i}][{j}]");
        }
    }
    // Position 4 (not in the chapter's table; from the series' companion scripts).
    let pos4 = [0.1845, 0.1974, 0.1779, 0.1322, 0.1394, 0.1686];
    for (j, &expected) in pos4.iter().enumerate() {
        assert_eq!(round(probs.get(&[4, j]), 4), expected, "P[4][{j}]");
    }
    // Logits of position 0 (the series' companion scripts, 4 decimals).
    let tape = Tape::new();
    let vars = params.vars(&tape);
    let logits = vars.forward(&TOKENS).logits;
    let logits0 = [0.0261, 0.1433, 0.0115, -0.3270, -0.1065, -0.0633];
    for (j, &expected) in logits0.iter().enumerate() {
        assert_eq!(round(logits.value().get(&[0, j]), 4), expected);
    }
    // The four losses and their mean, 12 significant digits.
    let losses = [2.0763018813851617, 1.8969125667977764, 1.7556963551288793, 1.7310208915391951];
    let logp = logits.log_softmax(1).value();
    for (i, (&t, &expected)) in TARGETS.iter().zip(&losses).enumerate() {
        assert_relative_eq!(-logp.get(&[i, t]), expected, max_relative = 1e-12);
    }
    assert_relative_eq!(vars.mean_loss(logits, &TARGETS).item(), 1.8649829237127533, max_relative = 1e-12);
    assert_relative_eq!(vars.sum_loss(logits, &TARGETS).item(), 4.0 * 1.8649829237127533, max_relative = 1e-12);
}

#[test]
fn dlogits_from_the_tape_is_the_chapters_p_minus_onehot() {
    let params = SeedParams::init();
    let step = params.step(Mistake::None);
    let probs = probabilities(&params);
    for (i, row) in PRINTED_GRADIENTS.iter().enumerate() {
        for (j, &printed) in row.iter().enumerate() {
            let d = step.dlogits.get(&[i, j]);
            assert_eq!(round(d, 4), printed, "dL/dlogit[{i}][{j}]");
            let onehot = if j == TARGETS[i] { 1.0 } else { 0.0 };
            assert_abs_diff_eq!(d, probs.get(&[i, j]) - onehot, epsilon = 1e-15);
        }
        let row_sum: f64 = (0..VOCAB).map(|j| step.dlogits.get(&[i, j])).sum();
        assert_abs_diff_eq!(row_sum, 0.0, epsilon = 1e-15);
    }
    // Position 4 predicts nothing: no gradient.
    assert!((0..VOCAB).all(|j| step.dlogits.get(&[4, j]) == 0.0));
    // The unfused path gives the same gradient.
    let tape = Tape::new();
    let lg = params.vars(&tape).forward(&TOKENS).logits;
    let unfused = (lg.narrow(0, 0, 4).softmax(1).log().nll_loss(&TARGETS) * 4.0).backward();
    assert_abs_diff_eq!(unfused.wrt(lg).unwrap(), &step.dlogits, epsilon = 1e-15);
}

/// Finite differences of the whole model's sum loss with respect to every element of every
/// parameter tensor (3,456 of them: 6,912 forward passes), through `Gradcheck` with tolerances
/// 100 times tighter than PyTorch's defaults.
#[test]
fn gradcheck_every_parameter_of_the_whole_model() {
    let params = SeedParams::init();
    let inputs: Vec<Tensor> = params.tensors().iter().map(|t| (*t).clone()).collect();
    let check = Gradcheck::new().eps(1e-6).atol(1e-7).rtol(1e-5);
    let result = check.run(&inputs, |v| {
        let vars = SeedVars { all: v.try_into().expect("13 parameters") };
        vars.sum_loss(vars.forward(&TOKENS).logits, &TARGETS)
    });
    if let Err(e) = result {
        panic!("{e} (input {:?})", PARAM_NAMES);
    }
}

#[test]
fn gradient_norms_at_step_0() {
    // Measured with `cargo run --release --example seed_transformer` (section 3) and confirmed
    // by the finite-difference test above; 6 significant digits.
    let expected = [
        0.831897, 0.831897, 0.00179387, 0.00178996, 0.966850, 1.09413, 0.182202, 2.19930, 1.95698, 5.10606, 0.497101,
        0.505399, 5.36780,
    ];
    let step = SeedParams::init().step(Mistake::None);
    for k in 0..N_PARAMS {
        assert_relative_eq!(step.grads[k].norm(), expected[k], max_relative = 6e-6);
    }
    // Each token occurs once, so dE_tok's used rows are dE_pos's rows: the norms agree.
    assert_relative_eq!(step.grads[0].norm(), step.grads[1].norm(), max_relative = 1e-14);
}

#[test]
fn published_gradients_are_wrong_and_w_o_not_transposed_reproduces_them() {
    let params = SeedParams::init();
    let truth = published_entries(&params.step(Mistake::None).grads);
    // The truth, by finite differences, is far from the published values...
    let fd = params.published_by_finite_differences(1e-6);
    for i in 0..8 {
        assert_abs_diff_eq!(truth[i], fd[i], epsilon = 1e-8);
        assert!((truth[i] - PUBLISHED[i]).abs() > 0.01, "published value {i} is right after all");
    }
    assert_abs_diff_eq!(truth[0], 0.257304, epsilon = 5e-7);
    assert_abs_diff_eq!(truth[4], 0.018871, epsilon = 5e-7);
    // ... and one slip, W_O not transposed in backward, reproduces all 8 to their 6 decimals.
    let slipped = published_entries(&params.step(Mistake::WoNotTransposed).grads);
    for i in 0..8 {
        assert_eq!(round(slipped[i], 6), PUBLISHED[i], "published value {i}");
    }
    // No other candidate does.
    for m in Mistake::ALL.into_iter().filter(|&m| m != Mistake::WoNotTransposed) {
        let got = published_entries(&params.step(m).grads);
        assert!(got.iter().zip(&PUBLISHED).any(|(g, p)| round(*g, 6) != *p), "{m:?} also reproduces them");
    }
}

#[test]
fn mistakes_change_gradients_but_not_the_forward_values() {
    let params = SeedParams::init();
    let reference = {
        let tape = Tape::new();
        params.vars(&tape).forward(&TOKENS).logits.value()
    };
    let truth = params.step(Mistake::None);
    for m in Mistake::ALL {
        let tape = Tape::new();
        assert_eq!(params.vars(&tape).forward_with(&TOKENS, m).logits.value(), reference, "{m:?}");
        let step = params.step(m);
        assert_eq!(step.mean_loss, truth.mean_loss, "{m:?}");
        assert!(step.grads.iter().zip(&truth.grads).any(|(a, b)| a.max_abs_diff(b) > 1e-6), "{m:?} changes nothing");
    }
}

#[test]
fn one_adamw_step_as_the_series_takes_it() {
    let mut params = SeedParams::init();
    let step = params.step(Mistake::None);
    let before = params.clone();
    let mut opt = AdamW::new(0.001);
    opt.step_tensors(&mut params.tensors_mut(), &step.grads.iter().collect::<Vec<_>>());
    // At step 1 the bias-corrected moments are g and g^2: every weight moves by
    // lr * g / (|g| + eps) after the decay theta *= 1 - lr * wd.
    let (p0, g0) = (before.w_v.data()[0], step.grads[4].data()[0]);
    assert_relative_eq!(params.w_v.data()[0], p0 * (1.0 - 1e-5) - 0.001 * g0 / (g0.abs() + 1e-8), max_relative = 1e-14);
    // Measured with the example (section 5).
    assert_relative_eq!(params.mean_loss(), 1.8310815133507712, max_relative = 1e-12);
}

/// Training with the series' AdamW (lr 0.001). The example reaches mean loss < 0.01 at step
/// 521 (0.009995); after 600 steps the measured loss is 0.00762, so the bound 0.01 (the issue's
/// target) leaves a 24% margin for summation-order noise while still failing if training
/// slows by more than ~80 steps. Runs in well under a second in debug.
#[test]
fn training_reaches_loss_below_0_01_and_decodes_the_sentence() {
    let mut params = SeedParams::init();
    let mut opt = AdamW::new(0.001);
    for _ in 0..600 {
        let step = params.step(Mistake::None);
        opt.step_tensors(&mut params.tensors_mut(), &step.grads.iter().collect::<Vec<_>>());
    }
    let loss = params.mean_loss();
    assert!(loss < 0.01, "loss after 600 steps: {loss}");
    assert_eq!(params.greedy(&[BOS]), [BOS, 3, 4, 5, EOS]);
}
