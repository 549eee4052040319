//! Every op's differentiable backward (`backward_graph`) against its fast one (`backward`),
//! and its second derivatives against finite differences (`gradgradcheck`), on the cases of
//! `ops_gradcheck.rs` plus the ops that file leaves to others.

use crate::common::{randn, rng, uniform};
use tapegrad::{BceWithLogits, CrossEntropy, KlDiv, Reduction, Tape, Tensor, Var, causal_mask, gradgradcheck};

type F = Box<dyn for<'t> Fn(&[Var<'t>]) -> Var<'t>>;

/// One case: a name for failures, the inputs, the function.
struct Case(String, Vec<Tensor>, F);

fn case(name: impl Into<String>, inputs: Vec<Tensor>, f: impl for<'t> Fn(&[Var<'t>]) -> Var<'t> + 'static) -> Case {
    Case(name.into(), inputs, Box::new(f))
}

/// Every op with its broadcasting cases (the table of `ops_gradcheck.rs`), and the rest.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let (a, b) = (randn(&[2, 3], 1), uniform(&[2, 3], 0.5, 2.0, 2));
    cases.push(case("a + b", vec![a.clone(), b.clone()], |v| v[0] + v[1]));
    cases.push(case("a - b", vec![a.clone(), b.clone()], |v| v[0] - v[1]));
    cases.push(case("a * b", vec![a.clone(), b.clone()], |v| v[0] * v[1]));
    cases.push(case("a / b", vec![a.clone(), b.clone()], |v| v[0] / v[1]));
    cases.push(case("-a", vec![a.clone()], |v| -v[0]));
    let shapes: [(&[usize], &[usize]); 4] =
        [(&[2, 3], &[3]), (&[2, 3], &[2, 1]), (&[2, 1, 4], &[3, 1]), (&[], &[2, 3])];
    for (i, (sa, sb)) in shapes.into_iter().enumerate() {
        let seed = 10 * i as u64;
        let (a, b) = (randn(sa, seed), uniform(sb, 0.5, 2.0, seed + 1));
        for (x, y) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
            let shapes = format!("{:?} {:?}", x.shape(), y.shape());
            cases.push(case(format!("add {shapes}"), vec![x.clone(), y.clone()], |v| v[0] + v[1]));
            cases.push(case(format!("sub {shapes}"), vec![x.clone(), y.clone()], |v| v[0] - v[1]));
            cases.push(case(format!("mul {shapes}"), vec![x.clone(), y.clone()], |v| v[0] * v[1]));
        }
        cases.push(case(format!("div {sa:?} {sb:?}"), vec![a.clone(), b.clone()], |v| v[0] / v[1]));
        let (p, q) = (uniform(sb, 0.5, 2.0, seed + 2), uniform(sa, 0.5, 2.0, seed + 3));
        cases.push(case(format!("div {sb:?} {sa:?}"), vec![p, q], |v| v[0] / v[1]));
    }
    let x = uniform(&[2, 3], 0.5, 2.0, 3);
    cases.push(case("x + c", vec![x.clone()], |v| v[0] + 1.5));
    cases.push(case("c + x", vec![x.clone()], |v| 1.5 + v[0]));
    cases.push(case("x - c", vec![x.clone()], |v| v[0] - 1.5));
    cases.push(case("c - x", vec![x.clone()], |v| 1.5 - v[0]));
    cases.push(case("x * c", vec![x.clone()], |v| v[0] * 2.5));
    cases.push(case("x / c", vec![x.clone()], |v| v[0] / 4.0));
    cases.push(case("c / x", vec![x.clone()], |v| 10.0 / v[0]));
    let x = randn(&[3, 4], 4);
    let positive = uniform(&[3, 4], 0.2, 3.0, 5);
    let away_from_zero = x.map(|e| if e.abs() < 0.1 { e + 0.3 } else { e });
    cases.push(case("powf(2.5)", vec![positive.clone()], |v| v[0].powf(2.5)));
    cases.push(case("powf(3)", vec![x.clone()], |v| v[0].powf(3.0)));
    cases.push(case("powf(0)", vec![x.clone()], |v| v[0].powf(0.0) * v[0]));
    cases.push(case("exp", vec![x.clone()], |v| v[0].exp()));
    cases.push(case("log", vec![positive.clone()], |v| v[0].log()));
    cases.push(case("sqrt", vec![positive.clone()], |v| v[0].sqrt()));
    cases.push(case("tanh", vec![x.clone()], |v| v[0].tanh()));
    cases.push(case("sigmoid", vec![x.clone()], |v| v[0].sigmoid()));
    cases.push(case("gelu", vec![x.clone()], |v| v[0].gelu()));
    cases.push(case("relu", vec![away_from_zero.clone()], |v| v[0].relu() * v[0]));
    cases.push(case("abs", vec![away_from_zero], |v| v[0].abs() * v[0]));
    let x = randn(&[2, 3, 4], 6);
    cases.push(case("sum", vec![x.clone()], |v| v[0].sum()));
    cases.push(case("mean", vec![x.clone()], |v| v[0].mean()));
    for axis in 0..3 {
        for keep in [false, true] {
            cases.push(case(format!("sum_axis({axis}, {keep})"), vec![x.clone()], move |v| v[0].sum_axis(axis, keep)));
            cases
                .push(case(format!("mean_axis({axis}, {keep})"), vec![x.clone()], move |v| v[0].mean_axis(axis, keep)));
            cases.push(case(format!("max_axis({axis}, {keep})"), vec![x.clone()], move |v| v[0].max_axis(axis, keep)));
        }
    }
    let matmuls: [(&[usize], &[usize]); 5] = [
        (&[3, 4], &[4, 2]),
        (&[2, 3, 4], &[2, 4, 5]),
        (&[2, 3, 4], &[4, 5]),
        (&[3, 4], &[2, 4, 5]),
        (&[2, 1, 2, 3], &[3, 3, 2]),
    ];
    for (i, (sa, sb)) in matmuls.into_iter().enumerate() {
        let (a, b) = (randn(sa, 7 + 2 * i as u64), randn(sb, 8 + 2 * i as u64));
        cases.push(case(format!("matmul {sa:?} {sb:?}"), vec![a, b], |v| v[0].matmul(v[1])));
    }
    let (x, w, b) = (randn(&[2, 3, 4], 60), randn(&[5, 4], 61), randn(&[5], 62));
    cases.push(case("linear", vec![x, w, b], |v| v[0].linear(v[1], Some(v[2])) * v[0].sum()));
    let (x, w) = (randn(&[3, 4], 63), randn(&[4, 2], 64));
    cases.push(case("linear without bias", vec![x.clone(), randn(&[2, 4], 65)], |v| v[0].linear(v[1], None)));
    cases.push(case("addmm, bias [3, 1]", vec![randn(&[3, 1], 66), x, w], |v| v[0].addmm(v[1], v[2]) * v[1].sum()));
    let x = randn(&[2, 3, 4], 17);
    cases.push(case("transpose(0, 2)", vec![x.clone()], |v| v[0].transpose(0, 2)));
    cases.push(case("transpose squared", vec![x.clone()], |v| v[0].transpose(1, 2) * v[0].transpose(1, 2)));
    cases.push(case("reshape transpose", vec![x.clone()], |v| v[0].reshape(&[6, 4]).transpose(0, 1)));
    cases.push(case("reshape", vec![x.clone()], |v| v[0].reshape(&[24])));
    let x = randn(&[2, 3, 4], 18);
    for axis in 0..3 {
        cases.push(case(format!("softmax({axis})"), vec![x.clone()], move |v| v[0].softmax(axis)));
        cases.push(case(format!("log_softmax({axis})"), vec![x.clone()], move |v| v[0].log_softmax(axis)));
    }
    let x = randn(&[4, 5], 19);
    const T: [usize; 4] = [0, 4, 2, 2];
    cases.push(case("cross_entropy", vec![x.clone()], |v| v[0].cross_entropy(&T)));
    cases.push(case("nll_loss", vec![x.clone()], |v| v[0].nll_loss(&T)));
    cases.push(case("log_softmax nll", vec![x.clone()], |v| v[0].log_softmax(1).nll_loss(&T)));
    cases.push(case("softmax log nll", vec![x.clone()], |v| v[0].softmax(1).log().nll_loss(&T)));
    cases.push(case("cross_entropy upstream", vec![x.clone()], |v| v[0].cross_entropy(&T).powf(2.0) * 3.0));
    cases.push(case("cross_entropy 3-D", vec![randn(&[2, 2, 5], 20)], |v| v[0].cross_entropy(&T)));
    let x = randn(&[3], 20);
    cases.push(case("reached twice", vec![x.clone()], |v| v[0] * v[0] + v[0].exp() * v[0]));
    cases.push(case("reached twice, sum", vec![x], |v| (v[0] + v[0]).sum() * v[0]));
    // The ops beyond the contract's first table.
    cases.push(case("embedding", vec![randn(&[4, 3], 21)], |v| {
        v[0].embedding(&[2, 0, 2, 3]) * v[0].embedding(&[1, 1, 0, 3])
    }));
    cases.push(case("layer_norm", vec![randn(&[3, 5], 22), uniform(&[5], 0.5, 1.5, 23), randn(&[5], 24)], |v| {
        v[0].layer_norm(v[1], v[2], 1e-5)
    }));
    cases.push(case(
        "layer_norm 3-D",
        vec![randn(&[2, 2, 4], 25), uniform(&[4], 0.5, 1.5, 26), randn(&[4], 27)],
        |v| v[0].layer_norm(v[1], v[2], 1e-5) * v[0],
    ));
    cases
        .push(case("masked_fill", vec![randn(&[2, 3, 3], 28)], |v| v[0].masked_fill(&causal_mask(3), -1e9).softmax(2)));
    cases.push(case("concat", vec![randn(&[2, 1], 29), randn(&[2, 3], 30)], |v| {
        let c = Var::concat(&[v[0], v[1]], 1);
        c * c
    }));
    cases.push(case("narrow", vec![randn(&[2, 5], 31)], |v| v[0].narrow(1, 1, 3) * v[0].narrow(1, 2, 3)));
    cases.push(case("narrow at the start", vec![randn(&[4, 2], 32)], |v| v[0].narrow(0, 0, 2).exp()));
    cases.push(case("broadcast_to", vec![randn(&[2, 1], 33)], |v| v[0].broadcast_to(&[3, 2, 4]).tanh()));
    cases.push(case("sum_to_size", vec![randn(&[3, 2, 4], 34)], |v| v[0].sum_to_size(&[2, 1]).tanh()));
    loss_cases(&mut cases);
    cases.extend(new_op_cases());
    cases
}

/// The ops added with issue 9 (see `ops_more.rs` and friends for their first-order checks).
/// Piecewise ones are multiplied by their input, so that their second derivative is not 0,
/// at points away from their kinks (and from ties, for the extrema).
fn new_op_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let x = randn(&[3, 4], 40);
    let away_from_zero = x.map(|e| if e.abs() < 0.1 { e + 0.3 } else { e });
    cases.push(case("log1p", vec![uniform(&[3, 4], -0.5, 2.0, 41)], |v| v[0].log1p()));
    cases.push(case("expm1", vec![x.clone()], |v| v[0].expm1()));
    cases.push(case("sin", vec![x.clone()], |v| v[0].sin()));
    cases.push(case("cos", vec![x.clone()], |v| v[0].cos()));
    // Both sides of softplus's threshold (20).
    let wide = Tensor::new(vec![-3.0, -0.5, 0.7, 2.0, 19.5, 25.0], &[6]).unwrap();
    cases.push(case("softplus", vec![wide.clone()], |v| v[0].softplus()));
    cases.push(case("softplus times x", vec![wide], |v| v[0].softplus() * v[0]));
    cases.push(case("silu", vec![x.clone()], |v| v[0].silu()));
    cases.push(case("leaky_relu", vec![away_from_zero.clone()], |v| v[0].leaky_relu(0.1) * v[0]));
    cases.push(case("elu", vec![away_from_zero.clone()], |v| v[0].elu(1.5)));
    cases.push(case("elu times x", vec![away_from_zero.clone()], |v| v[0].elu(0.7) * v[0]));
    // Below, inside and above [-0.5, 0.8], away from the bounds.
    let spread = Tensor::new(vec![-1.3, -0.7, -0.2, 0.1, 0.6, 1.0, 2.2], &[7]).unwrap();
    cases.push(case("clamp", vec![spread], |v| v[0].clamp(-0.5, 0.8) * v[0]));
    let shapes: [(&[usize], &[usize]); 4] =
        [(&[2, 3], &[2, 3]), (&[2, 3], &[3]), (&[2, 1, 4], &[3, 1]), (&[], &[2, 3])];
    for (i, (sa, sb)) in shapes.into_iter().enumerate() {
        let (a, b) = (randn(sa, 42 + 2 * i as u64), randn(sb, 43 + 2 * i as u64));
        for (p, q) in [(a.clone(), b.clone()), (b, a)] {
            let shapes = format!("{:?} {:?}", p.shape(), q.shape());
            let inputs = vec![p, q];
            cases.push(case(format!("maximum {shapes}"), inputs.clone(), |v| v[0].maximum(v[1]) * v[0] * v[1]));
            cases.push(case(format!("minimum {shapes}"), inputs, |v| v[0].minimum(v[1]) * v[0] * v[1]));
        }
    }
    let (p, q) = (randn(&[2, 3], 50), randn(&[2, 3], 51));
    for axis in 0..3 {
        cases.push(case(format!("stack({axis})"), vec![p.clone(), q.clone()], move |v| {
            let s = Var::stack(&[v[0], v[1], v[0]], axis);
            s * s
        }));
    }
    let x = randn(&[2, 1, 3], 52);
    cases.push(case("squeeze", vec![x.clone()], |v| v[0].squeeze(1).exp()));
    cases.push(case("squeeze of a non-1 axis", vec![x.clone()], |v| v[0].squeeze(2).exp()));
    cases.push(case("unsqueeze", vec![x.clone()], |v| v[0].unsqueeze(3) * v[0].unsqueeze(0)));
    let x = randn(&[2, 3, 4], 53);
    let axes: [&[usize]; 5] = [&[], &[1], &[0, 2], &[2, 0], &[0, 1, 2]];
    for axes in axes {
        for keep in [false, true] {
            let name = format!("{axes:?}, {keep}");
            cases.push(case(format!("sum_axes({name})"), vec![x.clone()], move |v| v[0].sum_axes(axes, keep).tanh()));
            cases.push(case(format!("mean_axes({name})"), vec![x.clone()], move |v| v[0].mean_axes(axes, keep).exp()));
        }
    }
    for axis in 0..3 {
        // Correction 2 only where the axis is longer than 2 (else the divisor is 0).
        for (correction, keep) in [(0, false), (1, true), (2, false)].into_iter().filter(|&(c, _)| c < x.shape()[axis])
        {
            let name = format!("{axis}, {correction}, {keep}");
            cases.push(case(format!("var_axis({name})"), vec![x.clone()], move |v| {
                v[0].var_axis(axis, correction, keep)
            }));
            cases.push(case(format!("std_axis({name})"), vec![x.clone()], move |v| {
                v[0].std_axis(axis, correction, keep)
            }));
        }
        cases.push(case(format!("min_axis({axis})"), vec![x.clone()], move |v| v[0].min_axis(axis, false) * 2.0));
        cases.push(case(format!("min_axis({axis}) squared"), vec![x.clone()], move |v| {
            let m = v[0].min_axis(axis, true);
            m * m
        }));
        cases.push(case(format!("max_axis({axis}) squared"), vec![x.clone()], move |v| {
            let m = v[0].max_axis(axis, true);
            m * m
        }));
    }
    let x = randn(&[3, 4], 54);
    // Repeated picks: the scatter-add must sum them.
    let index = Tensor::new(vec![0.0, 2.0, 2.0, 1.0, 0.0, 0.0], &[2, 3]).unwrap();
    cases.push(case("gather(0)", vec![x.clone()], move |v| {
        let g = v[0].gather(0, &index);
        g * g
    }));
    let index = Tensor::new(vec![3.0, 3.0, 0.0, 1.0, 2.0, 1.0], &[3, 2]).unwrap();
    cases.push(case("gather(1)", vec![x.clone()], move |v| v[0].gather(1, &index).exp()));
    for axis in 0..2 {
        cases.push(case(format!("index_select({axis})"), vec![x.clone()], move |v| {
            let s = v[0].index_select(axis, &[2, 0, 2]);
            s * s
        }));
    }
    let conds: [(&[usize], &[usize], &[usize]); 4] =
        [(&[2, 3], &[2, 3], &[2, 3]), (&[3], &[2, 3], &[2, 1]), (&[2, 1, 1], &[3], &[]), (&[2, 3], &[], &[3])];
    for (i, (sc, sa, sb)) in conds.into_iter().enumerate() {
        let cond = uniform(sc, 0.0, 1.0, 60 + i as u64).map(|u| if u < 0.5 { 1.0 } else { 0.0 });
        let (a, b) = (randn(sa, 61 + i as u64), randn(sb, 62 + i as u64));
        cases.push(case(format!("where_ {sc:?} {sa:?} {sb:?}"), vec![a, b], move |v| {
            Var::where_(&cond, v[0], v[1]) * v[0] * v[1]
        }));
    }
    // The same seed on every call: the same mask for the finite differences.
    cases.push(case("dropout", vec![randn(&[4, 5], 70)], |v| v[0].dropout(0.4, &mut rng(71)) * v[0]));
    cases
}

/// Cases where the recorded backward must equal the fast one but finite differences do not
/// apply: `detach` (its gradient is not the function's derivative, by design), and the kinks
/// where the rules pick a subgradient (ties, NaN, the bounds of clamp, 0 for leaky_relu and
/// elu, a constant lane of std): both forms must pick the same one.
fn kink_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.push(case("detach", vec![randn(&[3], 72)], |v| v[0] * v[0].detach() * v[0]));
    cases.push(case("detach only", vec![randn(&[3], 73)], |v| (v[0].detach() * 2.0).exp() + v[0]));
    let a = Tensor::new(vec![1.0, 2.0, f64::NAN, 0.5, -1.0, f64::NAN], &[2, 3]).unwrap();
    let b = Tensor::new(vec![1.0, f64::NAN, 3.0, 0.5, -2.0, f64::NAN], &[2, 3]).unwrap();
    let row = Tensor::new(vec![1.0, 2.0, 0.5], &[3]).unwrap();
    for (name, p, q) in [("", &a, &b), (" broadcast", &a, &row), (" broadcast first", &row, &b)] {
        let inputs = vec![p.clone(), q.clone()];
        cases.push(case(format!("maximum ties and NaN{name}"), inputs.clone(), |v| v[0].maximum(v[1]) * v[0]));
        cases.push(case(format!("minimum ties and NaN{name}"), inputs, |v| v[0].minimum(v[1]) * v[1]));
    }
    let x = Tensor::new(vec![3.0, 1.0, 3.0, f64::NAN, 2.0, 2.0, 1.0, f64::NAN, 0.0], &[3, 3]).unwrap();
    for axis in 0..2 {
        cases.push(case(format!("max_axis({axis}) ties and NaN"), vec![x.clone()], move |v| {
            v[0].max_axis(axis, false) * 3.0
        }));
        cases.push(case(format!("min_axis({axis}) ties and NaN"), vec![x.clone()], move |v| {
            v[0].min_axis(axis, true) * 3.0
        }));
    }
    let lanes = Tensor::new(vec![2.0, 2.0, 2.0, 1.0, 4.0, 0.5], &[2, 3]).unwrap();
    cases.push(case("std_axis constant lane", vec![lanes.clone()], |v| v[0].std_axis(1, 1, false)));
    cases.push(case("std_axis constant lane, twice", vec![lanes], |v| v[0].std_axis(1, 0, true) * v[0]));
    let kinks = Tensor::new(vec![-0.5, 0.8, 0.0, -1.0, f64::NAN], &[5]).unwrap();
    cases.push(case("clamp at its bounds", vec![kinks.clone()], |v| v[0].clamp(-0.5, 0.8) * v[0]));
    cases.push(case("leaky_relu at 0", vec![kinks.clone()], |v| v[0].leaky_relu(0.2) * v[0]));
    cases.push(case("elu at 0", vec![kinks.clone()], |v| v[0].elu(1.5) * v[0]));
    cases.push(case("softplus NaN", vec![kinks], |v| v[0].softplus() * v[0]));
    cases
}

/// The loss family: every option of the fused nodes, and each reduction (an unreduced loss
/// gets a random per-row or per-element output gradient from the table's seed).
fn loss_cases(cases: &mut Vec<Case>) {
    const REDUCTIONS: [Reduction; 3] = [Reduction::Mean, Reduction::Sum, Reduction::None];
    let x = randn(&[4, 5], 40);
    let weight = uniform(&[5], 0.5, 2.0, 41);
    for r in REDUCTIONS {
        // (The ignored class may lie outside 0..classes; the last option ignores row 1.)
        let options: [(&str, [usize; 4], CrossEntropy); 5] = [
            ("plain", [0, 4, 1, 2], CrossEntropy::new()),
            ("weight", [0, 4, 1, 2], CrossEntropy::new().weight(weight.clone())),
            ("smoothing", [0, 4, 1, 2], CrossEntropy::new().label_smoothing(0.3)),
            ("ignore_index", [0, 4, 7, 2], CrossEntropy::new().ignore_index(7)),
            ("all", [0, 4, 1, 2], CrossEntropy::new().weight(weight.clone()).ignore_index(4).label_smoothing(0.2)),
        ];
        for (name, targets, opts) in options {
            let opts = opts.reduction(r);
            let o = opts.clone();
            cases.push(case(format!("cross_entropy_with {name} {r:?}"), vec![x.clone()], move |v| {
                v[0].cross_entropy_with(&targets, &o)
            }));
            let o = opts.clone();
            cases.push(case(format!("cross_entropy_with {name} {r:?} 3-D"), vec![randn(&[2, 2, 5], 42)], move |v| {
                v[0].cross_entropy_with(&[1, 4, 4, 0], &o) * 2.0
            }));
        }
        let soft = uniform(&[4, 5], 0.0, 1.0, 43);
        let options: [(&str, CrossEntropy); 3] = [
            ("plain", CrossEntropy::new()),
            ("weight", CrossEntropy::new().weight(weight.clone())),
            ("weight smoothing", CrossEntropy::new().weight(weight.clone()).label_smoothing(0.1)),
        ];
        for (name, opts) in options {
            let opts = opts.reduction(r);
            cases.push(case(format!("cross_entropy_probs {name} {r:?}"), vec![x.clone(), soft.clone()], move |v| {
                v[0].cross_entropy_probs(v[1], &opts)
            }));
        }
        let (logits, targets) = (randn(&[2, 3], 44), uniform(&[2, 3], 0.0, 1.0, 45));
        let options: [(&str, BceWithLogits); 3] = [
            ("plain", BceWithLogits::new()),
            ("weight", BceWithLogits::new().weight(uniform(&[2, 1], 0.5, 2.0, 46))),
            (
                "weight pos_weight",
                BceWithLogits::new().weight(uniform(&[3], 0.5, 2.0, 47)).pos_weight(uniform(&[3], 0.5, 3.0, 48)),
            ),
        ];
        for (name, opts) in options {
            let opts = opts.reduction(r);
            cases.push(case(
                format!("bce_with_logits {name} {r:?}"),
                vec![logits.clone(), targets.clone()],
                move |v| v[0].bce_with_logits(v[1], &opts),
            ));
        }
        let (a, b) = (randn(&[2, 3], 49), randn(&[2, 3], 50));
        cases.push(case(format!("mse_loss {r:?}"), vec![a.clone(), b], move |v| v[0].mse_loss(v[1], r)));
        // Huber's kink is at |x - y| = delta = 1: the differences stay away from it.
        let target = Tensor::new(vec![0.3, -1.0, 2.0, 0.5, -0.2, 1.1], &[2, 3]).unwrap();
        let input = Tensor::new(vec![0.5, -2.5, 2.6, -1.2, -0.1, 3.0], &[2, 3]).unwrap();
        cases.push(case(format!("huber_loss {r:?}"), vec![input, target], move |v| v[0].huber_loss(v[1], 1.0, r)));
        let (log_p, t) = (randn(&[2, 3], 51), uniform(&[2, 3], 0.1, 1.0, 52));
        let opts = KlDiv::new().reduction(r);
        cases.push(case(format!("kl_div {r:?}"), vec![log_p.clone(), t.clone()], move |v| v[0].kl_div(v[1], &opts)));
        let opts = KlDiv::new().reduction(r).log_target(true);
        cases.push(case(format!("kl_div log_target {r:?}"), vec![log_p, randn(&[2, 3], 53)], move |v| {
            v[0].kl_div(v[1], &opts)
        }));
    }
    let (log_p, t) = (randn(&[2, 3], 54), uniform(&[2, 3], 0.1, 1.0, 55));
    cases.push(case("kl_div batchmean", vec![log_p, t], |v| v[0].kl_div(v[1], &KlDiv::new().batchmean())));
    let x = randn(&[2, 3, 4], 56);
    for axis in 0..3 {
        for keep in [false, true] {
            cases
                .push(case(format!("logsumexp({axis}, {keep})"), vec![x.clone()], move |v| v[0].logsumexp(axis, keep)));
        }
    }
    cases.push(case("logsumexp squared", vec![x], |v| v[0].logsumexp(2, false).powf(2.0)));
}

/// With every row ignored the mean is 0 / 0 and the fast gradient is 0 (as PyTorch's); the
/// recorded one is too, not `0 * inf`.
#[test]
fn cross_entropy_every_row_ignored_records_a_zero_gradient() {
    let tape = Tape::new();
    let x = tape.var(randn(&[2, 3], 57));
    let loss = x.cross_entropy_with(&[1, 1], &CrossEntropy::new().ignore_index(1));
    assert!(loss.item().is_nan());
    let fast = loss.backward().wrt(x).unwrap().clone();
    let recorded = loss.backward_graph().wrt(x).unwrap().value();
    assert_eq!(fast.data(), &[0.0; 6]);
    assert_eq!(recorded.data(), &[0.0; 6]);
}

/// The recorded backward gives the fast backward's gradients, for every op and every input,
/// with a random output gradient.
#[test]
fn recorded_backward_equals_fast_backward_for_every_op() {
    assert_recorded_equals_fast(cases());
}

/// The same at the kinks, ties and NaN of the new ops, and for `detach`.
#[test]
fn recorded_backward_equals_fast_backward_at_kinks_ties_and_nan() {
    assert_recorded_equals_fast(kink_cases());
}

/// Equal to 1e-12 (relative), or both NaN, for every case and input.
fn assert_recorded_equals_fast(cases: Vec<Case>) {
    for Case(name, inputs, f) in cases {
        let tape = Tape::new();
        let vars = tape.vars(&inputs);
        let out = f(&vars);
        let seed = randn(&out.shape(), 99);
        let fast = out.backward_with(seed.clone());
        let recorded = out.backward_graph_with(tape.constant(seed));
        for (k, &x) in vars.iter().enumerate() {
            match (fast.wrt(x), recorded.wrt(x)) {
                (Some(a), Some(b)) => {
                    let b = b.value();
                    assert_eq!(a.shape(), b.shape(), "{name}: input {k}");
                    for (p, q) in a.data().iter().zip(b.data()) {
                        let close = (p.is_nan() && q.is_nan())
                            || approx::relative_eq!(p, q, epsilon = 1e-12, max_relative = 1e-12);
                        assert!(close, "{name}: input {k}: fast {a}, recorded {b}");
                    }
                }
                (None, None) => {}
                (a, b) => panic!("{name}: input {k}: fast {a:?}, recorded {:?}", b.map(Var::value)),
            }
        }
    }
}

/// Second derivatives of every op against finite differences of its gradient.
#[test]
fn gradgradcheck_every_op() {
    for Case(name, inputs, f) in cases() {
        if let Err(e) = gradgradcheck(&inputs, f) {
            panic!("{name}: {e}");
        }
    }
}

/// The check can fail: a backward whose differentiable form is wrong is caught. Relu's
/// recorded derivative is a constant mask, right away from 0; at the kink the central
/// difference of `2 relu(x)`, the gradient of `x relu(x)`, sees the average slope.
#[test]
fn gradgradcheck_catches_a_kink() {
    let x = Tensor::new(vec![0.0, 1.0], &[2]).unwrap();
    let err = gradgradcheck(&[x], |v| v[0].relu() * v[0]).unwrap_err();
    assert!(err.to_string().contains("input 0, element [0]"), "{err}");
}

/// Third derivatives through the recorded scatter-adds: differentiating `gather`'s and
/// `index_select`'s recorded backward twice runs `ScatterAdd`'s and `IndexAdd`'s own
/// `backward_graph` (the pick again). `f = sum(pick(x)^3)` with picks of `x_0` twice and
/// `x_2` once: `f' = 3 c x^2`, `f'' = 6 c x`, `f''' = 6 c` with `c` the pick counts.
#[test]
fn third_derivatives_through_gather_and_index_select() {
    type Pick = fn(Var<'_>) -> Var<'_>;
    let picks: [(&str, Pick); 2] = [
        ("gather", |x| x.gather(0, &Tensor::new(vec![0.0, 2.0, 0.0], &[3]).unwrap())),
        ("index_select", |x| x.index_select(0, &[0, 2, 0])),
    ];
    for (name, pick) in picks {
        let tape = Tape::new();
        let x = tape.var(Tensor::new(vec![1.5, -2.0, 0.5], &[3]).unwrap());
        let f = pick(x).powf(3.0).sum();
        let d1 = f.backward_graph().wrt(x).unwrap();
        assert_eq!(d1.value().data(), &[2.0 * 3.0 * 2.25, 0.0, 3.0 * 0.25], "{name}");
        let d2 = d1.sum().backward_graph().wrt(x).unwrap();
        assert_eq!(d2.value().data(), &[2.0 * 6.0 * 1.5, 0.0, 6.0 * 0.5], "{name}");
        let d3 = d2.sum().backward().wrt(x).unwrap().clone();
        assert_eq!(d3.data(), &[12.0, 0.0, 6.0], "{name}");
    }
}

/// `backward_graph` agrees with `backward` (and both with PyTorch 2.15, float64) at non-finite
/// and huge inputs: each case's fast and recorded gradients, for the output gradient `seed`.
#[test]
#[allow(clippy::type_complexity)]
fn recorded_backward_equals_fast_backward_at_infinite_and_huge_inputs() {
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let t = |v: &[f64]| Tensor::new(v.to_vec(), &[v.len()]).unwrap();
    type G = for<'t> fn(&[Var<'t>]) -> Var<'t>;
    // (name, inputs, function, seed, PyTorch's gradient per input)
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<Tensor>, G, f64, Vec<Vec<f64>>)> = vec![
        // F.huber_loss(x, zeros(3), reduction='sum'), x = [inf, -inf, 0.5]
        ("huber, infinite x - y", vec![t(&[inf, -inf, 0.5]), t(&[0.0; 3])],
         |v| v[0].huber_loss(v[1], 1.0, Reduction::Sum), 1.0,
         vec![vec![1.0, -1.0, 0.5], vec![-1.0, 1.0, -0.5]]),
        // torch.logsumexp(x, 0)
        ("logsumexp [inf, 0.5]", vec![t(&[inf, 0.5])], |v| v[0].logsumexp(0, false), 1.0, vec![vec![nan, 0.0]]),
        ("logsumexp [-1e20, -1e20]", vec![t(&[-1e20, -1e20])], |v| v[0].logsumexp(0, false), 1.0, vec![vec![1.0, 1.0]]),
        // F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor([0.5, 0.5]),
        // reduction='sum'), x = [-inf, 0], y = [0.3, 0.6]
        ("bce pos_weight, logit -inf", vec![t(&[-inf, 0.0]), t(&[0.3, 0.6])],
         |v| v[0].bce_with_logits(v[1], &BceWithLogits::new().pos_weight(Tensor::full(&[2], 0.5)).reduction(Reduction::Sum)), 1.0,
         vec![vec![-0.15, 0.050000000000000044], vec![inf, -0.34657359027997264]]),
        // F.nll_loss(x, [0, 1, 2]).backward(torch.tensor(nan)): NaN at the targets only
        ("nll_loss, NaN upstream", vec![randn(&[3, 4], 58)], |v| v[0].nll_loss(&[0, 1, 2]), nan,
         vec![vec![nan, 0.0, 0.0, 0.0, 0.0, nan, 0.0, 0.0, 0.0, 0.0, nan, 0.0]]),
    ];
    for (name, inputs, f, seed, expected) in cases {
        let tape = Tape::new();
        let vars = tape.vars(&inputs);
        let y = f(&vars);
        let fast = y.backward_with(Tensor::full(&y.shape(), seed));
        let recorded = y.backward_graph_with(tape.constant(Tensor::full(&y.shape(), seed)));
        for (k, (&x, expected)) in vars.iter().zip(&expected).enumerate() {
            let fast = fast.wrt(x).unwrap().data().to_vec();
            let recorded = recorded.wrt(x).unwrap().value().data().to_vec();
            for (how, grad) in [("backward", &fast), ("backward_graph", &recorded)] {
                let same = grad.iter().zip(expected).all(|(a, e)| a == e || (a.is_nan() && e.is_nan()));
                assert!(same, "{name}: input {k}: {how} {grad:?}, PyTorch {expected:?}");
            }
        }
    }
}

/// `x.linear(w, b)` with a 1-D `x` (one row, as PyTorch allows) has second derivatives too:
/// the recorded backward reads `x` and the output gradient as matrices, as the fast one does.
#[test]
fn linear_of_a_vector_has_second_derivatives() {
    fn f<'t>(v: &[Var<'t>]) -> Var<'t> {
        v[0].linear(v[1], Some(v[2])).tanh().sum()
    }
    fn g<'t>(v: Var<'t>) -> Var<'t> {
        v.linear(v.tape().constant(randn(&[2, 3], 60)), None).tanh().sum()
    }
    let (x, w, b) = (randn(&[3], 59), randn(&[2, 3], 60), randn(&[2], 61));
    gradgradcheck(&[x.clone(), w.clone(), b.clone()], f).unwrap();
    let tape = Tape::new();
    let vars = tape.vars(&[x.clone(), w, b]);
    let y = f(&vars);
    let fast = y.backward();
    let recorded = y.backward_graph();
    for &v in &vars {
        let (a, r) = (fast.wrt(v).unwrap().clone(), recorded.wrt(v).unwrap().value());
        assert_eq!(a.shape(), r.shape());
        for (p, q) in a.data().iter().zip(r.data()) {
            assert!((p - q).abs() < 1e-14, "{a} vs {r}");
        }
    }
    // The Hessian in x equals the one of the same row as a [1, 3] matrix.
    let row = tapegrad::hessian(g, &x);
    let matrix = tapegrad::hessian(g, &x.clone().reshape(&[1, 3]).unwrap());
    assert_eq!(row.data(), matrix.data());
    assert_eq!(tapegrad::hvp(g, &x, &Tensor::ones(&[3])).shape(), &[3]);
}

/// Layer norm over an empty feature axis is an empty result (PyTorch: `torch.Size([2, 0])`),
/// with empty gradients, recorded or not.
#[test]
fn layer_norm_over_an_empty_feature_axis_is_empty() {
    let tape = Tape::new();
    let vars = tape.vars(&[Tensor::zeros(&[2, 0]), Tensor::zeros(&[0]), Tensor::zeros(&[0])]);
    let y = vars[0].layer_norm(vars[1], vars[2], 1e-5);
    assert_eq!(y.shape(), vec![2, 0]);
    let fast = y.sum().backward();
    let recorded = y.sum().backward_graph();
    for (&v, shape) in vars.iter().zip([&[2, 0][..], &[0], &[0]]) {
        assert_eq!(fast.wrt(v).unwrap().shape(), shape);
        assert_eq!(recorded.wrt(v).unwrap().shape(), shape.to_vec());
    }
}
