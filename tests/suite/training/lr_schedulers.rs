//! Learning-rate schedulers against PyTorch's `torch.optim.lr_scheduler`, step by step.
//!
//! `tests/data/lr_schedules.txt` holds, for every case below, the rate PyTorch's optimizer
//! uses at each step, written by `tests/data/lr_schedules.py` in two forms: PyTorch's closed
//! form (what tapegrad computes, with the same operations in the same order: equal to the bit)
//! and the chainable form its `scheduler.step()` applies (each rate from the previous one:
//! equal within 1e-12 relative, the rounding it accumulates). Then: a scheduler drives a real
//! optimizer, a resumed run equals an uninterrupted one bit for bit, and the edge cases.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::common::panic_message;
use tapegrad::optim::{
    AdamW, Anneal, CosineLr, ExponentialLr, LinearLr, LrSchedule, LrScheduler, OneCycleLr, Optimizer, Sgd, StepLr,
    WarmupCosineLr,
};
use tapegrad::{ParamGrads, Params, Tensor};

/// PyTorch's rates per case: `(closed form, chainable)` at steps 0, 1, ...
fn pytorch() -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut cases: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for line in include_str!("../../data/lr_schedules.txt").lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let rates = cases.entry(f[0].to_string()).or_default();
        assert_eq!(f[1].parse::<usize>().unwrap(), rates.len(), "{line}");
        rates.push((f[2].parse().unwrap(), f[3].parse().unwrap()));
    }
    cases
}

/// The cases of the data file, built as tapegrad schedules.
fn cases() -> Vec<(&'static str, Box<dyn LrSchedule>)> {
    vec![
        ("step", Box::new(StepLr { base_lr: 0.1, step_size: 3, gamma: 0.1 })),
        ("step_half", Box::new(StepLr { base_lr: 0.05, step_size: 7, gamma: 0.5 })),
        ("exponential", Box::new(ExponentialLr { base_lr: 0.1, gamma: 0.95 })),
        ("cosine", Box::new(CosineLr { base_lr: 0.1, t_max: 25, eta_min: 0.001 })),
        ("cosine_to_zero", Box::new(CosineLr::new(1e-3, 40))),
        ("linear_defaults", Box::new(LinearLr::new(0.3))),
        ("linear_decay", Box::new(LinearLr { base_lr: 0.2, start_factor: 1.0, end_factor: 0.01, total_iters: 30 })),
        ("one_cycle", Box::new(OneCycleLr::new(0.1, 100))),
        (
            "one_cycle_three_phase_linear",
            Box::new(OneCycleLr {
                pct_start: 0.25,
                anneal_strategy: Anneal::Linear,
                div_factor: 10.0,
                final_div_factor: 100.0,
                three_phase: true,
                ..OneCycleLr::new(0.01, 57)
            }),
        ),
        ("one_cycle_three_phase_cos", Box::new(OneCycleLr { three_phase: true, ..OneCycleLr::new(2.0, 33) })),
        ("warmup_cosine", Box::new(WarmupCosineLr { base_lr: 0.05, warmup: 10, total: 60, min_lr: 0.0 })),
    ]
}

fn rel_diff(a: f64, b: f64) -> f64 {
    if a == b { 0.0 } else { (a - b).abs() / b.abs() }
}

#[test]
fn every_schedule_equals_pytorchs_rates_step_by_step() {
    let torch = pytorch();
    assert_eq!(torch.len(), cases().len(), "every case of the data file is built here");
    for (name, schedule) in cases() {
        let rates = &torch[name];
        assert!(rates.len() > 10, "{name}");
        for (k, &(closed, chainable)) in rates.iter().enumerate() {
            let lr = schedule.lr(k);
            // The warm-up's LambdaLR multiplies `base_lr * (s / warmup)`; tapegrad divides
            // `base_lr * s / warmup`: the one case not written in PyTorch's own order.
            if name == "warmup_cosine" {
                assert!(rel_diff(lr, closed) <= 1e-15, "{name} step {k}: {lr:e} vs PyTorch {closed:e}");
            } else {
                assert_eq!(
                    lr.to_bits(),
                    closed.to_bits(),
                    "{name} step {k}: {lr:e} vs PyTorch's closed form {closed:e}"
                );
            }
            assert!(rel_diff(lr, chainable) <= 1e-12, "{name} step {k}: {lr:e} vs PyTorch's step() {chainable:e}");
        }
    }
}

/// A scalar parameter and a constant gradient, for runs that only need steps to happen.
fn one_param() -> (Params, ParamGrads) {
    let mut params = Params::new();
    params.insert("w", Tensor::new(vec![1.0, -2.0], &[2]).unwrap());
    let mut grads = ParamGrads::new();
    grads.insert("w", Tensor::new(vec![0.5, 0.25], &[2]).unwrap());
    (params, grads)
}

#[test]
fn a_scheduler_sets_the_rate_the_optimizer_uses_at_each_step() {
    let torch = pytorch();
    for (name, schedule) in cases() {
        let (mut params, grads) = one_param();
        let mut opt = Sgd::new(123.0); // overwritten by the schedule's rate of step 0
        let mut sched = LrScheduler::new(&mut opt, schedule);
        for (k, &(closed, _)) in torch[name].iter().enumerate() {
            assert!(rel_diff(opt.lr(), closed) <= 1e-15, "{name} step {k}: {} vs {closed:e}", opt.lr());
            assert_eq!((sched.last_epoch(), sched.last_lr()), (k, opt.lr()), "{name}");
            // The update uses that rate: p -= lr * g.
            let before = params["w"].data()[0];
            opt.step(&mut params, &grads);
            let moved = before - params["w"].data()[0];
            assert!(
                (moved - opt.lr() * 0.5).abs() <= 4.0 * f64::EPSILON * before.abs(),
                "{name} step {k}: moved {moved:e}"
            );
            if k + 1 < torch[name].len() {
                sched.step(&mut opt);
            }
        }
    }
}

fn temp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-lr-{name}.safetensors", std::process::id()))
}

/// `n` steps of AdamW under `schedule` on a small quadratic, resuming from files after `stop`
/// steps when given; the parameters and the rate of every step.
fn train(schedule: impl Fn() -> Box<dyn LrSchedule>, n: usize, stop: Option<usize>, tag: &str) -> (Params, Vec<f64>) {
    let fresh = || {
        let mut params = Params::new();
        params.insert("w", Tensor::new(vec![0.3, -1.7, 2.5], &[3]).unwrap());
        let mut opt = AdamW::new(0.5).amsgrad(true);
        let sched = LrScheduler::new(&mut opt, schedule());
        (params, opt, sched)
    };
    let (mut params, mut opt, mut sched) = fresh();
    let mut rates = vec![];
    for k in 0..n {
        if Some(k) == stop {
            let files = (temp(&format!("{tag}-params")), temp(&format!("{tag}-opt")), temp(&format!("{tag}-sched")));
            params.save(&files.0).unwrap();
            opt.save_state(&files.1).unwrap();
            sched.save_state(&files.2).unwrap();
            (params, opt, sched) = fresh();
            params.load(&files.0).unwrap();
            opt.load_state(&files.1).unwrap();
            sched.load_state(&files.2, &mut opt).unwrap();
        }
        rates.push(opt.lr());
        let mut grads = ParamGrads::new();
        let w = &params["w"];
        grads.insert("w", Tensor::new(w.data().iter().map(|x| 2.0 * x + (k as f64).sin()).collect(), &[3]).unwrap());
        opt.step(&mut params, &grads);
        sched.step(&mut opt);
    }
    (params, rates)
}

/// A schedule made afresh for each run.
type MakeSchedule = fn() -> Box<dyn LrSchedule>;

#[test]
fn a_resumed_run_equals_the_uninterrupted_one_bit_for_bit() {
    let schedules: Vec<(&str, MakeSchedule)> = vec![
        ("one_cycle", || Box::new(OneCycleLr::new(0.2, 40))),
        ("cosine", || Box::new(CosineLr { base_lr: 0.1, t_max: 15, eta_min: 0.01 })),
        ("linear", || Box::new(LinearLr::new(0.05))),
        ("step", || Box::new(StepLr::new(0.1, 4))),
    ];
    for (tag, schedule) in schedules {
        let (straight, rates) = train(schedule, 40, None, tag);
        let (resumed, resumed_rates) = train(schedule, 40, Some(17), tag);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&rates), bits(&resumed_rates), "{tag}");
        assert_eq!(bits(straight["w"].data()), bits(resumed["w"].data()), "{tag}");
        // Without the scheduler's state the resumed run takes other rates: the test can fail.
        let mut opt = AdamW::new(0.5);
        LrScheduler::new(&mut opt, schedule());
        assert_ne!(opt.lr(), rates[17], "{tag}");
    }
}

#[test]
fn loading_a_state_checks_it_against_the_schedule() {
    let mut opt = Sgd::new(0.1);
    let mut sched = LrScheduler::new(&mut opt, CosineLr::new(0.1, 10));
    for _ in 0..4 {
        sched.step(&mut opt);
    }
    let path = temp("check");
    sched.save_state(&path).unwrap();

    // Another schedule's settings: its rate at step 4 is not the saved one.
    let mut other = LrScheduler::new(&mut opt, CosineLr::new(0.1, 20));
    let err = other.load_state(&path, &mut opt).unwrap_err().to_string();
    assert!(err.contains("other settings"), "{err}");
    assert_eq!(other.last_epoch(), 0);

    // A step count past a one-cycle's end.
    let mut short = LrScheduler::new(&mut opt, OneCycleLr::new(0.1, 3));
    let err = short.load_state(&path, &mut opt).unwrap_err().to_string();
    assert!(err.contains("past the schedule's last step 3"), "{err}");

    // Not a step count; a stray tensor; not a scheduler's file.
    let bad = temp("bad");
    for (tensors, says) in [
        (vec![("last_epoch", Tensor::scalar(2.5)), ("last_lr", Tensor::scalar(0.1))], "not a step count"),
        (vec![("last_epoch", Tensor::scalar(-1.0)), ("last_lr", Tensor::scalar(0.1))], "not a step count"),
        (
            vec![("last_epoch", Tensor::scalar(0.0)), ("last_lr", Tensor::scalar(0.1)), ("x", Tensor::scalar(0.0))],
            "unexpected tensor \"x\"",
        ),
        (vec![("last_epoch", Tensor::zeros(&[2]))], "not one number"),
        (vec![("w", Tensor::zeros(&[2]))], "lacks \"last_epoch\""),
    ] {
        let pairs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
        tapegrad::checkpoint::save(&bad, &pairs).unwrap();
        let mut fresh = LrScheduler::new(&mut opt, CosineLr::new(0.1, 10));
        let err = fresh.load_state(&bad, &mut opt).unwrap_err().to_string();
        assert!(err.contains(says), "{err} (wanted {says:?})");
    }

    // The right schedule loads, and sets the optimizer's rate.
    let mut same = LrScheduler::new(&mut opt, CosineLr::new(0.1, 10));
    same.load_state(&path, &mut opt).unwrap();
    assert_eq!((same.last_epoch(), opt.lr()), (4, CosineLr::new(0.1, 10).lr(4)));
}

/// Issue 22: `StepLr` raised `gamma` to `(step / step_size) as i32`, which wraps at 2^31
/// steps: 0.5^(-2^31) = inf.
#[test]
fn step_lr_at_two_to_the_31_steps_is_finite() {
    let s = StepLr { base_lr: 1.0, step_size: 1, gamma: 0.5 };
    assert_eq!(s.lr(1 << 31), 0.0);
    let slow = StepLr { base_lr: 1.0, step_size: 1, gamma: 1.0 - 1e-10 };
    let expected = (2f64.powi(31) * (1.0 - 1e-10f64).ln()).exp(); // e^(2^31 ln gamma) = 0.8068..
    assert!(rel_diff(slow.lr(1 << 31), expected) < 1e-6, "{} vs {expected}", slow.lr(1 << 31));
    assert_eq!(ExponentialLr { base_lr: 1.0, gamma: 0.5 }.lr(1 << 31), 0.0);
}

/// Issue 22: `CosineLr { t_max: 0 }` stayed at `base_lr` forever; it reaches `eta_min` at
/// step `t_max`, here at once.
#[test]
fn cosine_with_t_max_zero_is_at_eta_min() {
    let s = CosineLr { base_lr: 1.0, t_max: 0, eta_min: 0.25 };
    assert_eq!([s.lr(0), s.lr(1), s.lr(1000)], [0.25; 3]);
    assert_eq!(LinearLr { total_iters: 0, ..LinearLr::new(2.0) }.lr(0), 2.0);
}

#[test]
fn cosine_climbs_again_past_t_max_as_pytorch() {
    let s = CosineLr { base_lr: 1.0, t_max: 10, eta_min: 0.0 };
    assert_eq!(s.lr(10), 0.0);
    assert!((s.lr(15) - s.lr(5)).abs() < 1e-15, "{} {}", s.lr(15), s.lr(5));
    assert_eq!(s.lr(20), 1.0);
}

#[test]
fn bad_settings_panic_naming_the_schedule() {
    let mut opt = Sgd::new(0.1);
    let mut sched = LrScheduler::new(&mut opt, OneCycleLr::new(0.1, 2));
    sched.step(&mut opt);
    sched.step(&mut opt); // step 2 = total_steps: PyTorch allows it
    let msg = panic_message(move || sched.step(&mut Sgd::new(0.1)));
    assert!(msg.contains("OneCycleLr: step 3 is past the cycle's total_steps 2"), "{msg}");

    let msg = panic_message(|| {
        LinearLr { start_factor: 0.0, ..LinearLr::new(0.1) }.lr(0);
    });
    assert!(msg.contains("LinearLr: start_factor 0 must be greater than 0"), "{msg}");
    let msg = panic_message(|| {
        LinearLr { end_factor: 1.5, ..LinearLr::new(0.1) }.lr(0);
    });
    assert!(msg.contains("LinearLr: end_factor 1.5"), "{msg}");
    let msg = panic_message(|| {
        StepLr::new(0.1, 0).lr(0);
    });
    assert!(msg.contains("StepLr: step_size must be positive"), "{msg}");
    let msg = panic_message(|| {
        OneCycleLr { pct_start: 1.5, ..OneCycleLr::new(0.1, 10) }.lr(0);
    });
    assert!(msg.contains("OneCycleLr: pct_start 1.5"), "{msg}");
}
