//! The optimizers against PyTorch's update rules: two steps of each worked by hand in the
//! comments, asserted to 1e-15; the values `torch.optim` gives for the same steps (float64,
//! torch 2.x) are asserted too. Then stepping by name, frozen parameters, clipping and
//! schedules.

use approx::assert_abs_diff_eq;
use tapegrad::optim::{Adam, AdamW, CosineLr, LrSchedule, Optimizer, Sgd, StepLr, WarmupCosineLr, clip_grad_norm};
use tapegrad::{ParamGrads, Params, Tape, Tensor};

/// Runs `opt` for one scalar parameter `p0` over the gradients `gs`; the value after each step.
fn run(opt: &mut dyn Optimizer, p0: f64, gs: &[f64]) -> Vec<f64> {
    let mut params = Params::new();
    params.insert("p", Tensor::scalar(p0));
    gs.iter()
        .map(|&g| {
            let mut grads = ParamGrads::new();
            grads.insert("p", Tensor::scalar(g));
            opt.step(&mut params, &grads);
            params["p"].item()
        })
        .collect()
}

#[test]
fn sgd_momentum_dampening_weight_decay_two_steps() {
    // lr 0.1, momentum 0.9, dampening 0.1, weight decay 0.01; p = 2, g = 0.5 then -0.25.
    // Step 1: d = 0.5 + 0.01 * 2 = 0.52; the buffer starts as d (no dampening at the first
    //         step): b = 0.52; p = 2 - 0.1 * 0.52 = 1.948.
    // Step 2: d = -0.25 + 0.01 * 1.948 = -0.23052; b = 0.9 * 0.52 + 0.9 * -0.23052 = 0.260532;
    //         p = 1.948 - 0.1 * 0.260532 = 1.9219468.
    let got = run(&mut Sgd::new(0.1).momentum(0.9).dampening(0.1).weight_decay(0.01), 2.0, &[0.5, -0.25]);
    assert_abs_diff_eq!(got[0], 1.948, epsilon = 1e-15);
    assert_abs_diff_eq!(got[1], 1.9219468, epsilon = 1e-15);
}

#[test]
fn sgd_nesterov_two_steps() {
    // lr 0.1, momentum 0.9, Nesterov, weight decay 0.01; p = 2, g = 0.5 then -0.25.
    // Step 1: d = 0.52; b = 0.52; d = d + 0.9 b = 0.988; p = 2 - 0.0988 = 1.9012.
    // Step 2: d = -0.25 + 0.019012 = -0.230988; b = 0.9 * 0.52 + d = 0.237012;
    //         d = d + 0.9 b = -0.0176772; p = 1.9012 + 0.00176772 = 1.90296772.
    let got = run(&mut Sgd::new(0.1).momentum(0.9).nesterov(true).weight_decay(0.01), 2.0, &[0.5, -0.25]);
    assert_abs_diff_eq!(got[0], 1.9012, epsilon = 1e-15);
    assert_abs_diff_eq!(got[1], 1.90296772, epsilon = 1e-15);
}

#[test]
#[should_panic(expected = "Sgd::step: Nesterov momentum requires a momentum > 0 and zero dampening")]
fn sgd_nesterov_without_momentum_panics() {
    run(&mut Sgd::new(0.1).nesterov(true), 1.0, &[1.0]);
}

#[test]
fn adam_with_l2_weight_decay_two_steps() {
    // lr 0.1, betas 0.9 / 0.999, eps 1e-8, weight decay 0.1 (added to the gradient); p = 1,
    // g = 0.5 then -0.25.
    // Step 1: g = 0.5 + 0.1 * 1 = 0.6; m = 0.06; v = 0.001 * 0.36 = 0.00036;
    //         step size = lr / (1 - 0.9) = 1; denom = sqrt(0.00036) / sqrt(0.001) + 1e-8 = 0.6 + 1e-8;
    //         p = 1 - 0.06 / (0.6 + 1e-8) = 0.9000000016666666.
    // Step 2: g = -0.25 + 0.1 p1; m = 0.9 * 0.06 + 0.1 g; v = 0.999 * 0.00036 + 0.001 g^2;
    //         p = p1 - (0.1 / 0.19) m / (sqrt(v) / sqrt(0.001999) + 1e-8) = 0.8544413674617625.
    let got = run(&mut Adam::new(0.1).weight_decay(0.1), 1.0, &[0.5, -0.25]);
    let p1 = 1.0 - 0.06 / (0.6 + 1e-8);
    assert_abs_diff_eq!(got[0], p1, epsilon = 1e-15);
    let g: f64 = -0.25 + 0.1 * p1;
    let (m, v) = (0.9 * 0.06 + 0.1 * g, 0.999 * 0.00036 + 0.001 * g * g);
    let p2 = p1 - (0.1 / 0.19) * m / (v.sqrt() / 0.001999f64.sqrt() + 1e-8);
    assert_abs_diff_eq!(got[1], p2, epsilon = 1e-15);
    // torch.optim.Adam(lr=0.1, weight_decay=0.1), float64:
    assert_abs_diff_eq!(got[0], 0.9000000016666666, epsilon = 1e-15);
    assert_abs_diff_eq!(got[1], 0.8544413674617625, epsilon = 1e-15);
}

#[test]
fn adamw_two_steps_with_and_without_amsgrad() {
    // lr 0.1, betas 0.9 / 0.999, eps 1e-8, decoupled weight decay 0.01; p = 1, g = 0.5 then
    // 0.01 (small, so that v falls and AMSGrad's running maximum differs from v).
    // Step 1: p = 1 * (1 - 0.1 * 0.01) = 0.999; m = 0.05; v = 0.00025 (= v_max);
    //         p = 0.999 - 1 * 0.05 / (sqrt(0.00025) / sqrt(0.001) + 1e-8) = 0.899000002.
    // Step 2: p = p1 * 0.999; m = 0.9 * 0.05 + 0.1 * 0.01 = 0.046;
    //         v = 0.999 * 0.00025 + 0.001 * 0.0001 = 0.00024985; v_max = max(0.00025, v) = 0.00025;
    //         p -= (0.1 / 0.19) * 0.046 / (sqrt(v or v_max) / sqrt(0.001999) + 1e-8).
    let p1 = 0.999 - 0.05 / (0.5 + 1e-8);
    let step2 = |second: f64| p1 * 0.999 - (0.1 / 0.19) * 0.046 / (second.sqrt() / 0.001999f64.sqrt() + 1e-8);
    let plain = run(&mut AdamW::new(0.1), 1.0, &[0.5, 0.01]);
    let ams = run(&mut AdamW::new(0.1).amsgrad(true), 1.0, &[0.5, 0.01]);
    for got in [&plain, &ams] {
        assert_abs_diff_eq!(got[0], p1, epsilon = 1e-15);
    }
    assert_abs_diff_eq!(plain[1], step2(0.00024985), epsilon = 1e-15);
    assert_abs_diff_eq!(ams[1], step2(0.00025), epsilon = 1e-15);
    // torch.optim.AdamW(lr=0.1) and AdamW(lr=0.1, amsgrad=True), float64:
    assert_abs_diff_eq!(plain[0], 0.899000002, epsilon = 1e-15);
    assert_abs_diff_eq!(plain[1], 0.82961986874374, epsilon = 1e-15);
    assert_abs_diff_eq!(ams[1], 0.8296404161657112, epsilon = 1e-15);
}

#[test]
fn adam_amsgrad_two_steps() {
    // As the AdamW case without the decay: p1 = 1 - 0.05 / (0.5 + 1e-8) = 0.900000002;
    // p2 = p1 - (0.1 / 0.19) * 0.046 / (sqrt(0.00025) / sqrt(0.001999) + 1e-8).
    let got = run(&mut Adam::new(0.1).amsgrad(true), 1.0, &[0.5, 0.01]);
    let p1 = 1.0 - 0.05 / (0.5 + 1e-8);
    assert_abs_diff_eq!(got[0], p1, epsilon = 1e-15);
    assert_abs_diff_eq!(
        got[1],
        p1 - (0.1 / 0.19) * 0.046 / (0.00025f64.sqrt() / 0.001999f64.sqrt() + 1e-8),
        epsilon = 1e-15
    );
    // torch.optim.Adam(lr=0.1, amsgrad=True), float64:
    assert_abs_diff_eq!(got[1], 0.8315394161677112, epsilon = 1e-15);
}

/// The same model whose parameters are inserted in another order (and whose gradients come
/// in another order) ends bit-identical: the optimizers step by name.
#[test]
fn order_of_parameters_never_matters() {
    let train = |names: [&str; 2]| {
        let mut params = Params::new();
        for name in names {
            let init = if name == "a" { vec![1.0, -2.0] } else { vec![0.5, 0.25, 3.0] };
            params.insert(name, Tensor::new(init.clone(), &[init.len()]).unwrap());
        }
        let mut opt = AdamW::new(0.05).amsgrad(true);
        for _ in 0..5 {
            let tape = Tape::new();
            let p = params.on(&tape);
            let loss = (p["a"] * p["a"]).sum() * (p["b"].exp()).sum();
            let grads = loss.backward();
            opt.step(&mut params, &p.grads(&grads));
        }
        (params["a"].clone(), params["b"].clone())
    };
    assert_eq!(train(["a", "b"]), train(["b", "a"]));
}

#[test]
fn frozen_parameters_are_left_alone() {
    let mut params = Params::new();
    params.insert("w", Tensor::scalar(1.0));
    params.insert("b", Tensor::scalar(1.0));
    params.freeze("b");
    let mut opt = Sgd::new(0.5);
    let tape = Tape::new();
    let p = params.on(&tape);
    let grads = (p["w"] * p["b"]).backward();
    let g = p.grads(&grads);
    assert!(g.get("b").is_none());
    opt.step(&mut params, &g);
    assert_eq!((params["w"].item(), params["b"].item()), (0.5, 1.0));
    // Even a hand-made gradient for a frozen parameter is ignored.
    let mut by_hand = ParamGrads::new();
    by_hand.insert("b", Tensor::scalar(1.0));
    opt.step(&mut params, &by_hand);
    assert_eq!(params["b"].item(), 1.0);
}

#[test]
fn clip_grad_norm_matches_torch() {
    // Gradients [3, 0] and 4: total norm 5; every gradient times 1 / (5 + 1e-6).
    // torch.nn.utils.clip_grad_norm_ gives 5.0, [0.599999880000024, 0.0], 0.799999840000032.
    let mut g = ParamGrads::new();
    g.insert("a", Tensor::new(vec![3.0, 0.0], &[2]).unwrap());
    g.insert("b", Tensor::scalar(4.0));
    assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
    assert_abs_diff_eq!(g["a"].data()[0], 0.599999880000024, epsilon = 1e-15);
    assert_abs_diff_eq!(g["b"].item(), 0.799999840000032, epsilon = 1e-15);
    // Below the bound nothing changes.
    let before = g.clone();
    assert!(clip_grad_norm(&mut g, 10.0) < 1.0);
    assert_eq!(g["a"], before["a"]);
    // A NaN total propagates, as torch's default.
    g.insert("b", Tensor::scalar(f64::NAN));
    assert!(clip_grad_norm(&mut g, 1.0).is_nan());
    assert!(g["a"].data()[0].is_nan());
}

#[test]
fn schedules() {
    let step = StepLr { base_lr: 1.0, step_size: 3, gamma: 0.1 };
    assert_eq!((0..7).map(|s| step.lr(s)).collect::<Vec<_>>(), [1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.1f64.powi(2)]);
    // CosineAnnealingLR(T_max=4, eta_min=0.1) from 1.0: 0.1 + 0.9 (1 + cos(pi t / 4)) / 2.
    let cos = CosineLr { base_lr: 1.0, t_max: 4, eta_min: 0.1 };
    let expected = [1.0, 0.1 + 0.45 * (1.0 + 0.5f64.sqrt()), 0.55, 0.1 + 0.45 * (1.0 - 0.5f64.sqrt()), 0.1];
    for (t, e) in expected.iter().enumerate() {
        assert_abs_diff_eq!(cos.lr(t), e, epsilon = 1e-15);
    }
    assert_abs_diff_eq!(cos.lr(9), expected[1], epsilon = 1e-15); // past t_max it climbs again, as PyTorch's
    let wc = WarmupCosineLr { base_lr: 2.0, warmup: 4, total: 8, min_lr: 0.0 };
    assert_eq!((0..5).map(|s| wc.lr(s)).collect::<Vec<_>>(), [0.0, 0.5, 1.0, 1.5, 2.0]);
    assert_abs_diff_eq!(wc.lr(6), 1.0, epsilon = 1e-15);
    assert_eq!((wc.lr(8), wc.lr(100)), (0.0, 0.0));
    // An optimizer takes the schedule's rate.
    let mut opt = Sgd::new(0.0);
    opt.set_lr(wc.lr(2));
    assert_eq!(opt.lr(), 1.0);
}

/// A state file for one parameter "w" of two elements, written by hand: the optimizer's step
/// count, the parameter's, and its buffers.
fn state_file(tag: &str, steps: f64, step: f64, buffers: &[(&str, [f64; 2])]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("tapegrad-optim-{}-{tag}.safetensors", std::process::id()));
    let mut owned = vec![("steps".to_string(), Tensor::scalar(steps)), ("w.step".to_string(), Tensor::scalar(step))];
    for (name, values) in buffers {
        owned.push((format!("w.{name}"), Tensor::new(values.to_vec(), &[2]).unwrap()));
    }
    let pairs: Vec<(&str, &Tensor)> = owned.iter().map(|(n, t)| (n.as_str(), t)).collect();
    tapegrad::checkpoint::save(&path, &pairs).unwrap();
    path
}

#[test]
fn load_state_refuses_state_no_run_can_produce() {
    let good = [0.5, -0.25];
    let adam_cases = [
        ("negative-v", 3.0, 3.0, good, [0.1, -1e-300], "negative"),
        ("nan-m", 3.0, 3.0, [f64::NAN, 0.0], [0.1, 0.2], "NaN"),
        ("inf-m", 3.0, 3.0, [0.0, f64::NEG_INFINITY], [0.1, 0.2], "inf"),
        ("inf-v", 3.0, 3.0, good, [f64::INFINITY, 0.2], "inf"),
        ("nan-v", 3.0, 3.0, good, [0.1, -f64::NAN], "NaN"),
        ("step-above", 3.0, 4.0, good, [0.1, 0.2], "4 steps"),
    ];
    for (tag, steps, step, m, v, why) in adam_cases {
        let path = state_file(tag, steps, step, &[("exp_avg", m), ("exp_avg_sq", v)]);
        let err = Adam::new(0.1).load_state(&path).unwrap_err().to_string();
        assert!(err.contains("\"w\"") && err.contains(why), "{tag}: {err}");
        std::fs::remove_file(path).unwrap();
    }
    let path = state_file(
        "amsgrad",
        1.0,
        1.0,
        &[("exp_avg", good), ("exp_avg_sq", [0.1, 0.2]), ("max_exp_avg_sq", [-1.0, 0.2])],
    );
    let err = AdamW::new(0.1).amsgrad(true).load_state(&path).unwrap_err().to_string();
    assert!(err.contains("\"w\"") && err.contains("max_exp_avg_sq"), "{err}");
    let path = state_file("sgd", 1.0, 1.0, &[("momentum_buffer", [f64::NAN, 1.0])]);
    let err = Sgd::new(0.1).momentum(0.9).load_state(&path).unwrap_err().to_string();
    assert!(err.contains("\"w\"") && err.contains("NaN"), "{err}");
    // What a run does produce loads: a negative first moment, a zero second moment.
    let path = state_file("fine", 3.0, 2.0, &[("exp_avg", [-0.5, 0.0]), ("exp_avg_sq", [0.0, 0.2])]);
    let mut opt = Adam::new(0.1);
    opt.load_state(&path).unwrap();
    assert_eq!(opt.steps(), 3);
    std::fs::remove_file(path).unwrap();
}

/// A step that panics has changed nothing: not the parameters before the one it panics on,
/// nor the step count.
#[test]
fn a_step_that_panics_changes_nothing() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let mut params = Params::new();
    params.insert("a", Tensor::new(vec![1.0, 2.0], &[2]).unwrap());
    params.insert("b", Tensor::new(vec![3.0, 4.0], &[2]).unwrap());
    let grads = |params: &Params| {
        let mut g = ParamGrads::new();
        for (name, t) in params.iter() {
            g.insert(name, Tensor::ones(t.shape()));
        }
        g
    };
    let mut adam = AdamW::new(0.1);
    let g = grads(&params);
    adam.step(&mut params, &g);
    // "b" now has another shape than its state: the step must panic before updating "a".
    params.set("b", Tensor::zeros(&[3]));
    let before = params.clone();
    let g = grads(&params);
    let err = catch_unwind(AssertUnwindSafe(|| adam.step(&mut params, &g))).unwrap_err();
    let message = err.downcast_ref::<String>().unwrap();
    assert!(message.contains("\"b\"") && message.contains("[3]"), "{message}");
    assert_eq!((params["a"].data(), adam.steps()), (before["a"].data(), 1));
    // The same for the positional form.
    let (mut a, mut b) = (params["a"].clone(), Tensor::zeros(&[3]));
    let one = Tensor::ones(&[2]);
    let mut adam = AdamW::new(0.1);
    adam.step_tensors(&mut [&mut a, &mut Tensor::zeros(&[2])], &[&one, &one]);
    let a_before = a.clone();
    let three = Tensor::ones(&[3]);
    assert!(catch_unwind(AssertUnwindSafe(|| adam.step_tensors(&mut [&mut a, &mut b], &[&one, &three]))).is_err());
    assert_eq!((&a, adam.steps()), (&a_before, 1));
    // AMSGrad switched on after the state was made.
    let mut adam = Adam::new(0.1);
    let mut params = before.clone();
    params.set("b", Tensor::zeros(&[2]));
    let g = grads(&params);
    adam.step(&mut params, &g);
    let after_one = params.clone();
    adam.amsgrad = true;
    let g = grads(&params);
    assert!(catch_unwind(AssertUnwindSafe(|| adam.step(&mut params, &g))).is_err());
    assert_eq!((&params["a"], adam.steps()), (&after_one["a"], 1));
    // Settings PyTorch refuses: the count stays.
    let mut sgd = Sgd::new(0.1).nesterov(true);
    let g = grads(&params);
    assert!(catch_unwind(AssertUnwindSafe(|| sgd.step(&mut params, &g))).is_err());
    assert_eq!(sgd.steps(), 0);
}
