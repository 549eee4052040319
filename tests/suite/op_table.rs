//! The op table: one row per case, read by every suite that iterates over ops (PyTorch's
//! OpInfo is the model). A row is a name (its first word names the op), the inputs (with the
//! broadcasting shapes), the function applied to them (the options baked in), where it sits
//! (away from kinks, or at one on purpose), whether a NaN in its inputs must reach its output,
//! and whether its operands are large (views, whose finite differences take seconds).
//!
//! Read by: `ops::gradcheck` (finite differences), `ops::backward_graph` (recorded backward
//! against the fast one, second derivatives), `engine::hostile` (special values through every
//! row), `engine::nan_inputs` (NaN and infinities reach the output), `engine::memory` (a row
//! of constants keeps nothing for backward). Adding an op adds its rows here.

use crate::common::{randn, rng, uniform};
use tapegrad::{BceWithLogits, CrossEntropy, Indices, KlDiv, Reduction, Tensor, Var, causal_mask};

/// The function of a row: `f(inputs)`.
pub type F = Box<dyn for<'t> Fn(&[Var<'t>]) -> Var<'t>>;

/// Where a row's inputs sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// Away from kinks and ties: finite differences apply (gradcheck, gradgradcheck).
    Smooth,
    /// At a kink, a tie, a NaN, or through `detach`: the rules pick a subgradient, finite
    /// differences do not apply; the recorded backward must still pick the fast one's.
    Kink,
}

/// One case of one op.
pub struct OpCase {
    /// For failures; its first word names the op (`add`, `max_axis`, `cross_entropy_with`).
    pub name: String,
    pub inputs: Vec<Tensor>,
    pub f: F,
    pub at: At,
    /// Whether a NaN at an input's first element may fail to reach the output (a pick, a
    /// mask, a narrowing that leaves the element out), with the reason.
    pub nan_may_vanish: Option<&'static str>,
    /// Operands large enough to be views (1024 elements): finite differences take seconds, so
    /// the row is gradchecked on its own (`ops::gradcheck::views_gradcheck`, which the emulated
    /// CI run skips) and its second derivatives are left to the small rows of the same ops.
    pub large: bool,
}

impl OpCase {
    /// The op the row exercises: the first word of its name.
    pub fn op(&self) -> &str {
        self.name.split([' ', '(']).next().unwrap_or(&self.name)
    }

    fn at_kink(mut self) -> Self {
        self.at = At::Kink;
        self
    }

    fn nan_may_vanish(mut self, why: &'static str) -> Self {
        self.nan_may_vanish = Some(why);
        self
    }

    fn large(mut self) -> Self {
        self.large = true;
        self
    }
}

fn case(name: impl Into<String>, inputs: Vec<Tensor>, f: impl for<'t> Fn(&[Var<'t>]) -> Var<'t> + 'static) -> OpCase {
    OpCase { name: name.into(), inputs, f: Box::new(f), at: At::Smooth, nan_may_vanish: None, large: false }
}

/// Every row of the table.
pub fn op_cases() -> Vec<OpCase> {
    let mut cases = contract_cases();
    cases.extend(kink_cases().into_iter().map(OpCase::at_kink));
    cases
}

/// The rows away from kinks: finite differences apply.
pub fn smooth_cases() -> Vec<OpCase> {
    op_cases().into_iter().filter(|c| c.at == At::Smooth).collect()
}

/// Every op of the contract with its broadcasting cases, then the ops added later.
fn contract_cases() -> Vec<OpCase> {
    let mut cases = Vec::new();
    let (a, b) = (randn(&[2, 3], 1), uniform(&[2, 3], 0.5, 2.0, 2));
    cases.push(case("add", vec![a.clone(), b.clone()], |v| v[0] + v[1]));
    cases.push(case("sub", vec![a.clone(), b.clone()], |v| v[0] - v[1]));
    cases.push(case("mul", vec![a.clone(), b.clone()], |v| v[0] * v[1]));
    cases.push(case("div", vec![a.clone(), b.clone()], |v| v[0] / v[1]));
    cases.push(case("neg", vec![a.clone()], |v| -v[0]));
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
    cases.push(case("add x + c", vec![x.clone()], |v| v[0] + 1.5));
    cases.push(case("add c + x", vec![x.clone()], |v| 1.5 + v[0]));
    cases.push(case("sub x - c", vec![x.clone()], |v| v[0] - 1.5));
    cases.push(case("sub c - x", vec![x.clone()], |v| 1.5 - v[0]));
    cases.push(case("mul x * c", vec![x.clone()], |v| v[0] * 2.5));
    cases.push(case("mul c * x", vec![x.clone()], |v| 2.5 * v[0]));
    cases.push(case("div x / c", vec![x.clone()], |v| v[0] / 4.0));
    cases.push(case("div c / x", vec![x.clone()], |v| 10.0 / v[0]));
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
    // Away from the kink at 0; times x, so that the second derivative is not 0.
    cases.push(case("relu", vec![away_from_zero.clone()], |v| v[0].relu()));
    cases.push(case("relu times x", vec![away_from_zero.clone()], |v| v[0].relu() * v[0]));
    cases.push(case("elu(0.7)", vec![away_from_zero.clone()], |v| v[0].elu(0.7)));
    cases.push(case("abs", vec![away_from_zero.clone()], |v| v[0].abs()));
    cases.push(case("abs times x", vec![away_from_zero], |v| v[0].abs() * v[0]));
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
    cases.push(case("addmm bias [3, 1]", vec![randn(&[3, 1], 66), x, w], |v| v[0].addmm(v[1], v[2]) * v[1].sum()));
    // The bias's broadcasting cases: per feature as [out] and [1, out], full, scalar, and a
    // column [3, 1] (addmm's is the row above).
    let biases: [&[usize]; 5] = [&[2], &[1, 2], &[3, 2], &[], &[3, 1]];
    for (i, sb) in biases.into_iter().enumerate() {
        let seed = 200 + 10 * i as u64;
        let (x, w, b) = (randn(&[3, 4], seed), randn(&[2, 4], seed + 1), randn(sb, seed + 2));
        cases.push(case(format!("linear bias {sb:?}"), vec![x, w, b], |v| v[0].linear(v[1], Some(v[2]))));
    }
    for (i, sb) in biases.into_iter().take(4).enumerate() {
        let seed = 100 + 10 * i as u64;
        let inputs = vec![randn(sb, seed), randn(&[3, 4], seed + 1), randn(&[4, 2], seed + 2)];
        cases.push(case(format!("addmm bias {sb:?}"), inputs, |v| v[0].addmm(v[1], v[2])));
    }
    // A 1-D input: one row, as PyTorch allows.
    cases.push(case("linear of a vector", vec![randn(&[3], 59), randn(&[2, 3], 60), randn(&[2], 61)], |v| {
        v[0].linear(v[1], Some(v[2])).tanh()
    }));
    cases.push(case("linear 3-D without bias", vec![randn(&[2, 3, 4], 1), randn(&[2, 4], 2)], |v| {
        v[0].linear(v[1], None).powf(2.0)
    }));
    cases.push(case("linear of a vector without bias", vec![randn(&[4], 60), randn(&[3, 4], 61)], |v| {
        v[0].linear(v[1], None)
    }));
    let x = randn(&[2, 3, 4], 17);
    cases.push(case("transpose(0, 2)", vec![x.clone()], |v| v[0].transpose(0, 2)));
    cases.push(case("transpose squared", vec![x.clone()], |v| v[0].transpose(1, 2) * v[0].transpose(1, 2)));
    cases.push(case("reshape then transpose", vec![x.clone()], |v| v[0].reshape(&[6, 4]).transpose(0, 1)));
    cases.push(case("reshape", vec![x.clone()], |v| v[0].reshape(&[24])));
    cases.push(case("t then matmul", vec![randn(&[2, 3], 32)], |v| v[0].t().matmul(v[0])));
    let x = randn(&[2, 3, 4], 18);
    for axis in 0..3 {
        cases.push(case(format!("softmax({axis})"), vec![x.clone()], move |v| v[0].softmax(axis)));
        cases.push(case(format!("log_softmax({axis})"), vec![x.clone()], move |v| v[0].log_softmax(axis)));
    }
    let x = randn(&[4, 5], 19);
    const T: [usize; 4] = [0, 4, 2, 2];
    cases.push(case("cross_entropy", vec![x.clone()], |v| v[0].cross_entropy(&T)));
    cases.push(case("nll_loss", vec![x.clone()], |v| v[0].nll_loss(&T)));
    cases.push(case("log_softmax then nll_loss", vec![x.clone()], |v| v[0].log_softmax(1).nll_loss(&T)));
    cases.push(case("softmax then log, nll_loss", vec![x.clone()], |v| v[0].softmax(1).log().nll_loss(&T)));
    cases.push(case("cross_entropy upstream", vec![x.clone()], |v| v[0].cross_entropy(&T).powf(2.0) * 3.0));
    cases.push(case("cross_entropy 3-D", vec![randn(&[2, 2, 5], 20)], |v| v[0].cross_entropy(&T)));
    // The fused loss and both unfused paths on one row, a 1-D input, 3-D logits and 32 classes.
    type Path = for<'t> fn(Var<'t>, &[usize]) -> Var<'t>;
    let paths: [(&str, Path); 3] = [
        ("cross_entropy", |x, t| x.cross_entropy(t)),
        ("softmax then log, nll_loss", |x, t| x.softmax(x.shape().len() - 1).log().nll_loss(t)),
        ("log_softmax then nll_loss", |x, t| x.log_softmax(x.shape().len() - 1).nll_loss(t)),
    ];
    let logits = [
        (randn(&[1, 6], 1), vec![3]),
        (randn(&[7], 3), vec![6]),
        (randn(&[2, 3, 4], 4), vec![0, 1, 2, 3, 3, 0]),
        (randn(&[8, 32], 5) * 3.0, (0..8).map(|r| (r * 5) % 32).collect()),
    ];
    for (x, targets) in logits {
        for (name, path) in paths {
            let targets = targets.clone();
            cases.push(case(format!("{name} {:?}", x.shape()), vec![x.clone()], move |v| path(v[0], &targets)));
        }
    }
    // Targets shaped like the leading axes of the logits.
    let targets = Indices::from([[3, 0, 1], [2, 2, 0]]);
    let logits = randn(&[2, 3, 4], 8);
    let t = targets.clone();
    cases.push(case("cross_entropy Indices targets", vec![logits.clone()], move |v| v[0].cross_entropy(&t)));
    cases.push(case("log_softmax then nll_loss, Indices targets", vec![logits], move |v| {
        v[0].log_softmax(2).nll_loss(&targets)
    }));
    let x = randn(&[3], 20);
    cases.push(case("mul reached twice", vec![x.clone()], |v| v[0] * v[0] + v[0].exp() * v[0]));
    cases.push(case("add reached twice, sum", vec![x], |v| (v[0] + v[0]).sum() * v[0]));
    // The ops beyond the contract's first table.
    cases.push(case("embedding", vec![randn(&[4, 3], 21)], |v| {
        v[0].embedding(&[2, 0, 2, 3]) * v[0].embedding(&[1, 1, 0, 3])
    }));
    cases.push(case("embedding of a rank-3 table", vec![randn(&[3, 2, 2], 3)], |v| {
        v[0].embedding(&[2, 2, 0]).powf(2.0)
    }));
    // Ids of shape [B, T], and a rank-0 id (one row without the batch axes, as F.embedding).
    let ids = Indices::from([[1, 0, 1], [3, 1, 2]]);
    cases.push(case("embedding [B, T] ids", vec![randn(&[4, 2], 3)], move |v| {
        v[0].embedding(&ids) * v[0].embedding(&ids)
    }));
    let one = Indices::new(vec![2], &[]).unwrap();
    cases.push(
        case("embedding rank-0 id", vec![randn(&[4, 2], 4)], move |v| v[0].embedding(&one).exp())
            .nan_may_vanish("row 0 is not looked up"),
    );
    cases.push(case("layer_norm", vec![randn(&[3, 5], 22), uniform(&[5], 0.5, 1.5, 23), randn(&[5], 24)], |v| {
        v[0].layer_norm(v[1], v[2], 1e-5)
    }));
    cases.push(case(
        "layer_norm 3-D",
        vec![randn(&[2, 2, 4], 25), uniform(&[4], 0.5, 1.5, 26), randn(&[4], 27)],
        |v| v[0].layer_norm(v[1], v[2], 1e-5) * v[0],
    ));
    cases.push(case("layer_norm eps 1e-3", vec![randn(&[2, 2, 5], 8), randn(&[5], 5), randn(&[5], 6)], |v| {
        v[0].layer_norm(v[1], v[2], 1e-3)
    }));
    cases
        .push(case("masked_fill", vec![randn(&[2, 3, 3], 28)], |v| v[0].masked_fill(&causal_mask(3), -1e9).softmax(2)));
    cases.push(case("masked_fill causal, 0.5", vec![randn(&[2, 4, 4], 13)], |v| {
        v[0].masked_fill(&causal_mask(4), 0.5).tanh()
    }));
    // A row mask [3, 1] broadcast along the columns.
    let rows = Tensor::new(vec![0.0, 1.0, 0.0], &[3, 1]).unwrap();
    cases.push(case("masked_fill row mask [3, 1]", vec![randn(&[3, 2], 14)], move |v| {
        v[0].masked_fill(&rows, 2.0) * v[0]
    }));
    // The attention use: -inf before softmax; masked weights are exactly 0 and get no gradient.
    cases.push(case("masked_fill -inf then softmax", vec![randn(&[2, 3, 3], 15)], |v| {
        v[0].masked_fill(&causal_mask(3), f64::NEG_INFINITY).softmax(2)
    }));
    cases.push(case("concat", vec![randn(&[2, 1], 29), randn(&[2, 3], 30)], |v| {
        let c = Var::concat(&[v[0], v[1]], 1);
        c * c
    }));
    cases.push(case("concat(0)", vec![randn(&[2, 3], 18), randn(&[1, 3], 19)], |v| {
        Var::concat(&[v[0], v[1]], 0).tanh()
    }));
    cases.push(case("concat(1) of three parts", vec![randn(&[2, 3], 20), randn(&[2, 2], 21)], |v| {
        Var::concat(&[v[0], v[1], v[0]], 1).powf(2.0)
    }));
    cases.push(case("concat(2)", vec![randn(&[2, 2, 1], 22), randn(&[2, 2, 3], 23)], |v| {
        Var::concat(&[v[0], v[1]], 2).sigmoid()
    }));
    cases.push(
        case("narrow", vec![randn(&[2, 5], 31)], |v| v[0].narrow(1, 1, 3) * v[0].narrow(1, 2, 3))
            .nan_may_vanish("both narrowings leave column 0 out"),
    );
    cases.push(case("narrow at the start", vec![randn(&[4, 2], 32)], |v| v[0].narrow(0, 0, 2).exp()));
    cases.push(
        case("narrow(0, 1, 2)", vec![randn(&[4, 3], 24)], |v| v[0].narrow(0, 1, 2).tanh())
            .nan_may_vanish("the narrowing leaves row 0 out"),
    );
    cases.push(
        case("narrow 3-D", vec![randn(&[2, 5, 3], 25)], |v| v[0].narrow(1, 2, 3).powf(2.0))
            .nan_may_vanish("the narrowing leaves row 0 of axis 1 out"),
    );
    cases.push(case("narrow of a whole axis", vec![randn(&[2, 3], 26)], |v| v[0].narrow(1, 0, 3) * v[0]));
    // Narrows that tile a tensor (as attention's q, k, v of one projection) and overlap.
    cases.push(case("narrow tiles", vec![randn(&[3, 6], 27)], |v| {
        v[0].narrow(1, 0, 2).exp() * v[0].narrow(1, 2, 2) + v[0].narrow(1, 3, 2) + v[0].narrow(1, 4, 2).tanh()
    }));
    cases.push(case("broadcast_to", vec![randn(&[2, 1], 33)], |v| v[0].broadcast_to(&[3, 2, 4]).tanh()));
    let broadcasts: [(&[usize], &[usize]); 5] =
        [(&[3], &[2, 3]), (&[2, 1], &[2, 3]), (&[], &[2, 2]), (&[3, 1], &[2, 3, 4]), (&[2, 3], &[2, 3])];
    for (i, (from, to)) in broadcasts.into_iter().enumerate() {
        let x = randn(from, 80 + i as u64);
        cases.push(case(format!("broadcast_to {from:?} {to:?}"), vec![x], move |v| v[0].broadcast_to(to)));
    }
    cases.push(case("sum_to_size", vec![randn(&[3, 2, 4], 34)], |v| v[0].sum_to_size(&[2, 1]).tanh()));
    empty_cases(&mut cases);
    view_cases(&mut cases);
    loss_cases(&mut cases);
    cases.extend(new_op_cases());
    cases
}

/// Size-0 axes: empty operands broadcast, reduce and multiply to the shapes PyTorch gives,
/// and their gradients are empty (or zeros, for the inner axis of a product).
fn empty_cases(cases: &mut Vec<OpCase>) {
    let shapes: [(&[usize], &[usize]); 3] = [(&[0, 3], &[3]), (&[2, 0], &[2, 1]), (&[0], &[])];
    for (i, (sa, sb)) in shapes.into_iter().enumerate() {
        let (a, b) = (randn(sa, 90 + i as u64), uniform(sb, 0.5, 2.0, 93 + i as u64));
        let shapes = format!("{sa:?} {sb:?}");
        cases.push(case(format!("add {shapes}"), vec![a.clone(), b.clone()], |v| v[0] + v[1]));
        cases.push(case(format!("mul {shapes}"), vec![a.clone(), b.clone()], |v| v[0] * v[1]));
        cases.push(case(format!("div {shapes}"), vec![a, b], |v| v[0] / v[1]));
    }
    let x = randn(&[0, 3], 96);
    cases.push(case("exp [0, 3]", vec![x.clone()], |v| v[0].exp()));
    cases.push(case("sum_axis(0) [0, 3]", vec![x.clone()], |v| v[0].sum_axis(0, false)));
    cases.push(case("sum_axis(1) [0, 3]", vec![x.clone()], |v| v[0].sum_axis(1, true)));
    cases.push(case("softmax(1) [0, 3]", vec![x.clone()], |v| v[0].softmax(1)));
    cases.push(case("transpose [0, 3]", vec![x.clone()], |v| v[0].transpose(0, 1)));
    cases.push(case("matmul [0, 3] [3, 2]", vec![x, randn(&[3, 2], 97)], |v| v[0].matmul(v[1])));
    cases.push(case("matmul [2, 0] [0, 3]", vec![randn(&[2, 0], 98), randn(&[0, 3], 99)], |v| v[0].matmul(v[1])));
}

/// Operands large enough (1024 elements) that transposes and narrows are strided views, read
/// through their strides by `matmul` in the forward pass and, as the transposed upstream
/// gradient, in the backward pass (see `OpCase::large`).
fn view_cases(cases: &mut Vec<OpCase>) {
    let x = randn(&[2, 16, 4, 8], 9);
    let views = [
        case("matmul of transposed views", vec![x.clone(), randn(&[2, 16, 4, 8], 10)], |v| {
            v[0].transpose(1, 2).matmul(v[1].transpose(1, 2).transpose(2, 3))
        }),
        case("matmul of transposed views, moved back", vec![x.clone(), randn(&[2, 16, 8, 4], 11)], |v| {
            v[0].transpose(1, 2).matmul(v[1].transpose(1, 3)).transpose(1, 2).tanh()
        }),
        case("transpose view reshaped", vec![x], |v| v[0].transpose(0, 3).reshape(&[8, 128]).exp()),
        // Narrowed views, reshaped into heads (strides), moved forward and multiplied.
        case("narrow views into heads", vec![randn(&[32, 96], 12)], |v| {
            let split = |part: usize| v[0].narrow(1, part * 32, 32).reshape(&[2, 16, 4, 8]).transpose(1, 2);
            split(0).matmul(split(1).transpose(2, 3)).matmul(split(2)).transpose(1, 2).reshape(&[32, 32])
        }),
    ];
    cases.extend(views.into_iter().map(OpCase::large));
}

/// The ops added with issue 9.
/// Piecewise ones are multiplied by their input, so that their second derivative is not 0,
/// at points away from their kinks (and from ties, for the extrema).
fn new_op_cases() -> Vec<OpCase> {
    let mut cases = Vec::new();
    let x = randn(&[3, 4], 40);
    let away_from_zero = x.map(|e| if e.abs() < 0.1 { e + 0.3 } else { e });
    cases.push(case("log1p", vec![uniform(&[3, 4], -0.5, 2.0, 41)], |v| v[0].log1p()));
    cases.push(case("log1p near -1", vec![uniform(&[3, 4], -0.9, 3.0, 41)], |v| v[0].log1p()));
    cases.push(case("expm1", vec![x.clone()], |v| v[0].expm1()));
    cases.push(case("sin", vec![x.clone()], |v| v[0].sin()));
    cases.push(case("cos", vec![x.clone()], |v| v[0].cos()));
    // Both sides of softplus's threshold (20).
    let wide = Tensor::new(vec![-3.0, -0.5, 0.7, 2.0, 19.5, 25.0], &[6]).unwrap();
    cases.push(case("softplus", vec![wide.clone()], |v| v[0].softplus()));
    cases.push(case("softplus times x", vec![wide], |v| v[0].softplus() * v[0]));
    cases.push(case("softplus of 10 x", vec![x.clone() * 10.0], |v| v[0].softplus()));
    cases.push(case("silu", vec![x.clone()], |v| v[0].silu()));
    cases.push(case("silu of 4 x", vec![x.clone() * 4.0], |v| v[0].silu()));
    cases.push(case("leaky_relu", vec![away_from_zero.clone()], |v| v[0].leaky_relu(0.1) * v[0]));
    cases.push(case("elu", vec![away_from_zero.clone()], |v| v[0].elu(1.5)));
    cases.push(case("elu times x", vec![away_from_zero.clone()], |v| v[0].elu(0.7) * v[0]));
    // Below, inside and above [-0.5, 0.8], away from the bounds.
    let spread = Tensor::new(vec![-1.3, -0.7, -0.2, 0.1, 0.6, 1.0, 2.2], &[7]).unwrap();
    cases.push(case("clamp", vec![spread], |v| v[0].clamp(-0.5, 0.8) * v[0]));
    // Symmetric bounds, on an input moved off them.
    let off_bounds = x.map(|e| if (e + 0.5).abs() < 0.05 || (e - 0.5).abs() < 0.05 { e + 0.13 } else { e });
    cases.push(case("clamp(-0.5, 0.5)", vec![off_bounds], |v| v[0].clamp(-0.5, 0.5)));
    let shapes: [(&[usize], &[usize]); 5] =
        [(&[2, 3], &[2, 3]), (&[2, 3], &[3]), (&[2, 1, 4], &[3, 1]), (&[], &[2, 3]), (&[2, 3], &[2, 1])];
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
    cases
        .push(case("unsqueeze into matmul", vec![randn(&[2, 3], 75)], |v| v[0].unsqueeze(1).matmul(v[0].unsqueeze(2))));
    let x = randn(&[2, 3, 4], 53);
    let axes: [&[usize]; 8] = [&[], &[1], &[0, 2], &[2, 0], &[0, 1, 2], &[0], &[2], &[0, 1]];
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
    cases.push(
        case("gather(1)", vec![x.clone()], move |v| v[0].gather(1, &index).exp())
            .nan_may_vanish("no pick reads element [0, 0]"),
    );
    // Integer indices (`Indices`) as well as f64 ones.
    let index = Indices::from([[3, 0, 3], [1, 1, 2]]);
    cases.push(case("gather(1) Indices", vec![x.clone()], move |v| v[0].gather(1, &index).exp()));
    let index = Indices::from([[2, 0, 1, 2]]);
    cases.push(
        case("gather(0) Indices", vec![x.clone()], move |v| v[0].gather(0, &index))
            .nan_may_vanish("no pick reads element [0, 0]"),
    );
    let ids = Indices::from([2, 0, 2]);
    cases.push(case("index_select Indices", vec![x.clone()], move |v| v[0].index_select(0, &ids).sin()));
    // Three axes: gather along the middle and the first, select along each.
    let x3 = randn(&[3, 4, 2], 111);
    let index = Tensor::from_fn(&[2, 3, 2], |ix| ((ix[0] + 2 * ix[1] + ix[2]) % 4) as f64);
    cases.push(case("gather(1) 3-D", vec![x3.clone()], move |v| v[0].gather(1, &index)));
    let index = Tensor::from_fn(&[3, 1, 2], |ix| ((ix[0] + ix[2]) % 3) as f64);
    cases.push(case("gather(0) 3-D", vec![x3.clone()], move |v| v[0].gather(0, &index)));
    cases.push(case("index_select(1) 3-D", vec![x3.clone()], |v| v[0].index_select(1, &[3, 0, 3, 2])));
    cases.push(
        case("index_select(0) 3-D", vec![x3.clone()], |v| v[0].index_select(0, &[2, 2]))
            .nan_may_vanish("row 0 is not selected"),
    );
    cases.push(
        case("index_select(2) 3-D", vec![x3], |v| v[0].index_select(2, &[1]))
            .nan_may_vanish("column 0 of the last axis is not selected"),
    );
    for axis in 0..2 {
        cases.push(case(format!("index_select({axis})"), vec![x.clone()], move |v| {
            let s = v[0].index_select(axis, &[2, 0, 2]);
            s * s
        }));
    }
    let conds: [(&[usize], &[usize], &[usize]); 7] = [
        (&[2, 3], &[2, 3], &[2, 3]),
        (&[3], &[2, 3], &[2, 1]),
        (&[2, 1, 1], &[3], &[]),
        (&[2, 3], &[], &[3]),
        (&[3], &[2, 3], &[]),
        (&[2, 1], &[3], &[2, 3]),
        (&[2, 1, 1], &[3, 1], &[4]),
    ];
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
fn kink_cases() -> Vec<OpCase> {
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
fn loss_cases(cases: &mut Vec<OpCase>) {
    const REDUCTIONS: [Reduction; 3] = [Reduction::Mean, Reduction::Sum, Reduction::None];
    let x = randn(&[4, 5], 40);
    let weight = uniform(&[5], 0.5, 2.0, 41);
    for r in REDUCTIONS {
        // (The ignored class may lie outside 0..classes; the last option ignores row 1.)
        let options: [(&str, [usize; 4], CrossEntropy); 7] = [
            ("plain", [0, 4, 1, 2], CrossEntropy::new()),
            ("weight", [0, 4, 1, 2], CrossEntropy::new().weight(weight.clone())),
            ("smoothing", [0, 4, 1, 2], CrossEntropy::new().label_smoothing(0.3)),
            ("ignore_index", [0, 4, 7, 2], CrossEntropy::new().ignore_index(7)),
            ("all", [0, 4, 1, 2], CrossEntropy::new().weight(weight.clone()).ignore_index(4).label_smoothing(0.2)),
            ("ignore_index in range", [0, 4, 1, 2], CrossEntropy::new().ignore_index(4)),
            (
                "smoothing 1",
                [0, 4, 1, 2],
                CrossEntropy::new().weight(weight.clone()).ignore_index(10).label_smoothing(1.0),
            ),
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
        let options: [(&str, CrossEntropy); 4] = [
            ("plain", CrossEntropy::new()),
            ("weight", CrossEntropy::new().weight(weight.clone())),
            ("weight smoothing", CrossEntropy::new().weight(weight.clone()).label_smoothing(0.1)),
            ("smoothing", CrossEntropy::new().label_smoothing(0.2)),
        ];
        for (name, opts) in options {
            let opts = opts.reduction(r);
            let o = opts.clone();
            let inputs = vec![randn(&[2, 2, 5], 42), uniform(&[2, 2, 5], 0.0, 1.0, 43)];
            cases.push(case(format!("cross_entropy_probs {name} {r:?} 3-D"), inputs, move |v| {
                v[0].cross_entropy_probs(v[1], &o)
            }));
            cases.push(case(format!("cross_entropy_probs {name} {r:?}"), vec![x.clone(), soft.clone()], move |v| {
                v[0].cross_entropy_probs(v[1], &opts)
            }));
        }
        let (logits, targets) = (randn(&[2, 3], 44), uniform(&[2, 3], 0.0, 1.0, 45));
        let options: [(&str, BceWithLogits); 5] = [
            ("plain", BceWithLogits::new()),
            ("weight", BceWithLogits::new().weight(uniform(&[2, 1], 0.5, 2.0, 46))),
            (
                "weight pos_weight",
                BceWithLogits::new().weight(uniform(&[3], 0.5, 2.0, 47)).pos_weight(uniform(&[3], 0.5, 3.0, 48)),
            ),
            ("pos_weight", BceWithLogits::new().pos_weight(uniform(&[3], 0.5, 3.0, 48))),
            (
                "full weight pos_weight",
                BceWithLogits::new().weight(uniform(&[2, 3], 0.5, 2.0, 9)).pos_weight(uniform(&[3], 0.5, 3.0, 48)),
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
        // Other deltas, with residuals on both sides of each.
        for delta in [0.5, 2.5] {
            let inputs = vec![randn(&[3, 4], 22) * 2.0, randn(&[3, 4], 23)];
            cases.push(case(format!("huber_loss delta {delta} {r:?}"), inputs, move |v| {
                v[0].huber_loss(v[1], delta, r)
            }));
        }
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
    cases.push(case("kl_div batchmean log_target", vec![randn(&[2, 3], 56), randn(&[2, 3], 57)], |v| {
        v[0].kl_div(v[1], &KlDiv::new().batchmean().log_target(true))
    }));
    let x = randn(&[2, 3, 4], 56);
    for axis in 0..3 {
        for keep in [false, true] {
            cases
                .push(case(format!("logsumexp({axis}, {keep})"), vec![x.clone()], move |v| v[0].logsumexp(axis, keep)));
        }
    }
    cases.push(case("logsumexp squared", vec![x], |v| v[0].logsumexp(2, false).powf(2.0)));
}

/// Every op has a row away from kinks, so finite differences check it (`detach` is the one
/// op whose gradient is not its derivative, by design).
#[test]
fn every_op_of_the_table_is_checked_by_finite_differences() {
    let smooth: std::collections::BTreeSet<String> = smooth_cases().iter().map(|c| c.op().to_string()).collect();
    let only_at_kinks: Vec<String> =
        op_cases().iter().map(|c| c.op().to_string()).filter(|op| !smooth.contains(op) && op != "detach").collect();
    assert!(only_at_kinks.is_empty(), "ops with no smooth row: {only_at_kinks:?}");
}
