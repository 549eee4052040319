//! The loss family: every loss and option checked against its composition from ordinary ops,
//! value and gradients to 1e-12 (their gradchecks, gradients to soft and BCE targets included,
//! are rows of the op table). PyTorch's numbers and edge cases are pinned in `losses_pytorch.rs`.

use crate::common::{randn, uniform};
use tapegrad::{BceWithLogits, CrossEntropy, KlDiv, Reduction, Tensor, Var, check_equivalent};

/// The option sets every cross-entropy test runs through.
fn option_sets(classes: usize) -> Vec<CrossEntropy> {
    let weight = Tensor::from_fn(&[classes], |i| 0.5 + i[0] as f64 * 0.75);
    let mut sets = Vec::new();
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let base = CrossEntropy::new().reduction(reduction);
        sets.push(base.clone());
        sets.push(base.clone().weight(weight.clone()));
        sets.push(base.clone().ignore_index(1));
        sets.push(base.clone().label_smoothing(0.2));
        sets.push(base.clone().weight(weight.clone()).ignore_index(1).label_smoothing(0.1));
        // An ignored class outside 0..C (PyTorch's default is -100, an index no row uses).
        sets.push(base.weight(weight.clone()).ignore_index(classes + 5).label_smoothing(1.0));
    }
    sets
}

/// Cross-entropy with options composed from ordinary ops: `-(log_softmax(x) * Q)` summed over
/// classes, with `Q` the constant (weighted, smoothed, masked) target distribution, then reduced.
fn composite_hard<'t>(x: Var<'t>, targets: &[usize], opts_of: &Opts) -> Var<'t> {
    let shape = x.shape();
    let last = shape.len() - 1;
    let classes = shape[last];
    let w = |c: usize| opts_of.weight.as_ref().map_or(1.0, |w| w[c]);
    let kept = |r: usize| Some(targets[r]) != opts_of.ignore;
    let q = Tensor::from_fn(&shape, |i| {
        let r = flat_row(i, &shape);
        if !kept(r) {
            return 0.0;
        }
        let c = i[last];
        let picked = if c == targets[r] { (1.0 - opts_of.eps) * w(c) } else { 0.0 };
        picked + opts_of.eps / classes as f64 * w(c)
    });
    let rows = -(x.log_softmax(last) * x.tape().constant(q)).sum_axis(last, false);
    let divisor: f64 = (0..targets.len()).filter(|&r| kept(r)).map(|r| w(targets[r])).sum();
    match opts_of.reduction {
        Reduction::Mean => rows.sum() / divisor,
        Reduction::Sum => rows.sum(),
        Reduction::None => rows,
    }
}

/// The row of a multi-index (all axes but the last, row-major).
fn flat_row(i: &[usize], shape: &[usize]) -> usize {
    i[..i.len() - 1].iter().zip(&shape[..shape.len() - 1]).fold(0, |acc, (&k, &n)| acc * n + k)
}

/// The options as plain values, for the compositions.
struct Opts {
    weight: Option<Vec<f64>>,
    ignore: Option<usize>,
    eps: f64,
    reduction: Reduction,
}

/// `option_sets` as plain values, in the same order.
fn opts_values(classes: usize) -> Vec<Opts> {
    let weight: Vec<f64> = (0..classes).map(|i| 0.5 + i as f64 * 0.75).collect();
    let mut sets = Vec::new();
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let plain = |weight: Option<Vec<f64>>, ignore, eps| Opts { weight, ignore, eps, reduction };
        sets.push(plain(None, None, 0.0));
        sets.push(plain(Some(weight.clone()), None, 0.0));
        sets.push(plain(None, Some(1), 0.0));
        sets.push(plain(None, None, 0.2));
        sets.push(plain(Some(weight.clone()), Some(1), 0.1));
        sets.push(plain(Some(weight.clone()), Some(classes + 5), 1.0));
    }
    sets
}

const TARGETS: [usize; 4] = [0, 1, 3, 1];

#[test]
fn cross_entropy_with_equals_its_composition() {
    for shape in [&[4, 4][..], &[2, 2, 4][..]] {
        for (opts, plain) in option_sets(4).iter().zip(opts_values(4)) {
            let eq = check_equivalent(
                &[randn(shape, 5)],
                |v| v[0].cross_entropy_with(&TARGETS, opts),
                |v| composite_hard(v[0], &TARGETS, &plain),
            );
            eq.assert_within(1e-12);
            // One node besides the leaf, whatever the options.
            assert_eq!(eq.fused.nodes, 2, "{opts:?}");
        }
    }
}

#[test]
fn plain_cross_entropy_is_cross_entropy_with_defaults() {
    let x = randn(&[5, 7], 8);
    let targets = [0, 6, 3, 3, 1];
    let eq = check_equivalent(
        &[x],
        |v| v[0].cross_entropy(&targets),
        |v| v[0].cross_entropy_with(&targets, &CrossEntropy::new()),
    );
    assert_eq!(eq.max_diff(), 0.0);
}

/// Soft targets composed: `-(log_softmax(x) * w * ((1 - eps) y + eps / C))` per row, reduced.
fn composite_soft<'t>(x: Var<'t>, y: Var<'t>, plain: &Opts) -> Var<'t> {
    let shape = x.shape();
    let last = shape.len() - 1;
    let classes = shape[last] as f64;
    let mut q = y * (1.0 - plain.eps) + plain.eps / classes;
    if let Some(w) = &plain.weight {
        q *= x.tape().constant(Tensor::new(w.clone(), &[w.len()]).unwrap());
    }
    let rows = -(x.log_softmax(last) * q).sum_axis(last, false);
    match plain.reduction {
        Reduction::Mean => rows.mean(),
        Reduction::Sum => rows.sum(),
        Reduction::None => rows,
    }
}

/// Soft-target option sets: no ignore_index (refused), with the plain values beside them.
fn soft_sets() -> Vec<(CrossEntropy, Opts)> {
    option_sets(4).into_iter().zip(opts_values(4)).filter(|(_, p)| p.ignore.is_none()).collect()
}

#[test]
fn cross_entropy_probs_equals_its_composition() {
    for shape in [&[3, 4][..], &[2, 2, 4][..]] {
        for (opts, plain) in soft_sets() {
            let eq = check_equivalent(
                &[randn(shape, 6), uniform(shape, 0.0, 1.0, 7)],
                |v| v[0].cross_entropy_probs(v[1], &opts),
                |v| composite_soft(v[0], v[1], &plain),
            );
            eq.assert_within(1e-12);
        }
    }
}

/// The BCE option sets: weight broadcast over rows ([2, 1]) or full, pos_weight along the last axis.
fn bce_sets() -> Vec<(BceWithLogits, Option<Tensor>, Option<Tensor>, Reduction)> {
    let w = Tensor::new(vec![2.0, 0.5], &[2, 1]).unwrap();
    let pw = Tensor::new(vec![3.0, 1.0, 0.5], &[3]).unwrap();
    let full = uniform(&[2, 3], 0.5, 2.0, 9);
    let mut sets = Vec::new();
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let base = BceWithLogits::new().reduction(reduction);
        for (w, pw) in
            [(None, None), (Some(w.clone()), None), (None, Some(pw.clone())), (Some(full.clone()), Some(pw.clone()))]
        {
            let mut opts = base.clone();
            if let Some(w) = &w {
                opts = opts.weight(w.clone());
            }
            if let Some(pw) = &pw {
                opts = opts.pos_weight(pw.clone());
            }
            sets.push((opts, w, pw, reduction));
        }
    }
    sets
}

/// BCE composed from ordinary ops: `w ((1 - y) x - (1 + (pw - 1) y) log sigmoid(x))` with
/// `log sigmoid(x) = -(relu(-x) + log(1 + exp(-|x|)))`.
fn composite_bce<'t>(x: Var<'t>, y: Var<'t>, w: &Option<Tensor>, pw: &Option<Tensor>, reduction: Reduction) -> Var<'t> {
    let tape = x.tape();
    let log_sigmoid = -((-x).relu() + ((-x.abs()).exp() + 1.0).log());
    let log_weight = match pw {
        Some(pw) => (tape.constant(pw.clone()) - 1.0) * y + 1.0,
        None => y * 0.0 + 1.0,
    };
    let mut loss = (1.0 - y) * x - log_weight * log_sigmoid;
    if let Some(w) = w {
        loss *= tape.constant(w.clone());
    }
    match reduction {
        Reduction::Mean => loss.mean(),
        Reduction::Sum => loss.sum(),
        Reduction::None => loss,
    }
}

#[test]
fn bce_with_logits_equals_its_composition() {
    for (opts, w, pw, reduction) in bce_sets() {
        let eq = check_equivalent(
            &[randn(&[2, 3], 13), uniform(&[2, 3], 0.0, 1.0, 14)],
            |v| v[0].bce_with_logits(v[1], &opts),
            |v| composite_bce(v[0], v[1], &w, &pw, reduction),
        );
        eq.assert_within(1e-12);
    }
}

const REDUCTIONS: [Reduction; 3] = [Reduction::Mean, Reduction::Sum, Reduction::None];

fn reduce<'t>(v: Var<'t>, reduction: Reduction) -> Var<'t> {
    match reduction {
        Reduction::Mean => v.mean(),
        Reduction::Sum => v.sum(),
        Reduction::None => v,
    }
}

#[test]
fn mse_loss_equals_its_composition() {
    for r in REDUCTIONS {
        let inputs = [randn(&[3, 4], 20), randn(&[3, 4], 21)];
        let eq = check_equivalent(&inputs, |v| v[0].mse_loss(v[1], r), |v| reduce((v[0] - v[1]).powf(2.0), r));
        eq.assert_within(1e-12);
    }
}

/// Huber from ordinary ops: `clamp(d, -delta, delta) = d - relu(d - delta) + relu(-d - delta)`
/// and `|d| - |clamp(d)| = relu(d - delta) + relu(-d - delta)`.
fn huber_composite<'t>(v: &[Var<'t>], delta: f64, r: Reduction) -> Var<'t> {
    let d = v[0] - v[1];
    let (over, under) = ((d - delta).relu(), (-d - delta).relu());
    let c = d - over + under;
    reduce(0.5 * c * c + delta * (over + under), r)
}

#[test]
fn huber_loss_equals_its_composition() {
    for r in REDUCTIONS {
        for delta in [0.5, 1.0, 2.5] {
            // Residuals on both sides of delta, none at it (the kink).
            let inputs = [randn(&[3, 4], 22).map(|v| 2.0 * v), randn(&[3, 4], 23)];
            let eq = check_equivalent(&inputs, |v| v[0].huber_loss(v[1], delta, r), |v| huber_composite(v, delta, r));
            eq.assert_within(1e-12);
        }
    }
}

fn kl_sets() -> Vec<(KlDiv, &'static str, bool)> {
    let mut sets = Vec::new();
    for log_target in [false, true] {
        let base = KlDiv::new().log_target(log_target);
        sets.push((base, "mean", log_target));
        sets.push((base.reduction(Reduction::Sum), "sum", log_target));
        sets.push((base.reduction(Reduction::None), "none", log_target));
        sets.push((base.batchmean(), "batchmean", log_target));
    }
    sets
}

/// KL from ordinary ops: `t (log t - x)` or `exp(t) (t - x)`, reduced (`batchmean`: over 3 rows).
fn kl_composite<'t>(v: &[Var<'t>], reduction: &str, log_target: bool) -> Var<'t> {
    let pointwise = if log_target { v[1].exp() * (v[1] - v[0]) } else { v[1] * (v[1].log() - v[0]) };
    match reduction {
        "mean" => pointwise.mean(),
        "sum" => pointwise.sum(),
        "batchmean" => pointwise.sum() / 3.0,
        _ => pointwise,
    }
}

#[test]
fn kl_div_equals_its_composition() {
    for (opts, reduction, log_target) in kl_sets() {
        let logp = randn(&[3, 4], 30).map(|v| v - 2.0);
        let target = if log_target { randn(&[3, 4], 31).map(|v| v - 1.5) } else { uniform(&[3, 4], 0.05, 1.0, 31) };
        let inputs = [logp, target];
        let eq = check_equivalent(&inputs, |v| v[0].kl_div(v[1], &opts), |v| kl_composite(v, reduction, log_target));
        eq.assert_within(1e-12);
    }
}

/// `max + log(sum(exp(x - max)))`: the max's own gradient cancels (`1 - sum softmax`).
fn logsumexp_composite(x: Var<'_>, axis: usize, keep_dim: bool) -> Var<'_> {
    let m = x.max_axis(axis, true);
    let lse = (x - m).exp().sum_axis(axis, true).log() + m;
    if keep_dim { lse } else { lse.sum_axis(axis, false) }
}

#[test]
fn logsumexp_equals_its_composition() {
    let x = randn(&[2, 3, 4], 40);
    for axis in 0..3 {
        for keep_dim in [false, true] {
            let eq = check_equivalent(
                std::slice::from_ref(&x),
                |v| v[0].logsumexp(axis, keep_dim),
                |v| logsumexp_composite(v[0], axis, keep_dim),
            );
            eq.assert_within(1e-12);
        }
    }
}

/// The one-buffer rule of the fused node holds with every option: backward keeps the logits,
/// the targets, one log-sum-exp per row and the class weights, never the probabilities.
#[test]
fn cross_entropy_with_keeps_one_logits_buffer() {
    let (rows, classes) = (8, 50);
    let tape = tapegrad::Tape::new();
    let x = tape.var(randn(&[rows, classes], 50));
    let targets: Vec<usize> = (0..rows).map(|r| (r * 7) % classes).collect();
    let weight = Tensor::ones(&[classes]);
    let opts = CrossEntropy::new().weight(weight).ignore_index(7).label_smoothing(0.1);
    let loss = x.cross_entropy_with(&targets, &opts);
    let m = tape.memory();
    assert_eq!(m.nodes[loss.id()].extras, vec![("targets", rows * 8), ("lse", rows * 16), ("weight", classes * 8)]);
    assert_eq!(m.kept_bytes(), rows * classes * 8 + 3 * rows * 8 + classes * 8);
    // BCE keeps its two inputs and the pos_weight row as given (not expanded).
    let y = tape.constant(uniform(&[rows, classes], 0.0, 1.0, 51));
    let tape_before = m.kept_bytes();
    let bce = x.bce_with_logits(y, &BceWithLogits::new().pos_weight(Tensor::ones(&[classes])));
    let m = tape.memory();
    assert_eq!(m.nodes[bce.id()].extras, vec![("weights", classes * 8)]);
    assert_eq!(m.kept_bytes(), tape_before + rows * classes * 8 + classes * 8);
}
