//! The loss family against PyTorch (2.x, float64): numbers printed by real `F.cross_entropy`,
//! `F.binary_cross_entropy_with_logits`, `F.mse_loss`, `F.huber_loss`, `F.kl_div` and
//! `torch.logsumexp`, pinned as literals with the Python that produced them (run with
//! `torch.set_default_dtype(torch.float64)`; `show(t)` prints `t.flatten().tolist()`), and
//! PyTorch's edge cases, each named.

use crate::common::{panic_message, randn};
use tapegrad::{BceWithLogits, CrossEntropy, KlDiv, Reduction, Tape, Tensor, Var};

/// `|a - b| <= 1e-13 max(1, |b|)` elementwise; NaN only where PyTorch has NaN.
#[track_caller]
fn assert_close(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (i, (&a, &b)) in actual.iter().zip(expected).enumerate() {
        let ok = if b.is_nan() { a.is_nan() } else { (a - b).abs() <= 1e-13 * b.abs().max(1.0) };
        assert!(ok, "element {i}: {a:e} vs PyTorch {b:e}\n{actual:?}\n{expected:?}");
    }
}

fn t(data: &[f64], shape: &[usize]) -> Tensor {
    Tensor::new(data.to_vec(), shape).unwrap()
}

// X = [[0.5,-1.0,2.0,0.25],[0.0,1.5,-0.5,1.0],[2.0,0.0,0.75,-1.25]]; W = [1.0,2.0,0.5,3.0]
const X: [f64; 12] = [0.5, -1.0, 2.0, 0.25, 0.0, 1.5, -0.5, 1.0, 2.0, 0.0, 0.75, -1.25];
const W: [f64; 4] = [1.0, 2.0, 0.5, 3.0];
// Y = [[0.7,0.1,0.2,0.0],[0.25,0.25,0.25,0.25],[0.0,0.0,1.0,0.0]]
const Y: [f64; 12] = [0.7, 0.1, 0.2, 0.0, 0.25, 0.25, 0.25, 0.25, 0.0, 0.0, 1.0, 0.0];

fn ce_opts(reduction: Reduction) -> CrossEntropy {
    CrossEntropy::new().weight(t(&W, &[4])).ignore_index(1).label_smoothing(0.1).reduction(reduction)
}

/// Runs `f` on logits `X` (shape [3, 4]) and returns the value and the gradient for `seed`.
fn value_and_grad(f: impl for<'t> Fn(Var<'t>) -> Var<'t>, seed: Option<Tensor>) -> (Vec<f64>, Vec<f64>) {
    let tape = Tape::new();
    let x = tape.var(t(&X, &[3, 4]));
    let y = f(x);
    let grads = match seed {
        Some(s) => y.backward_with(s),
        None => y.backward(),
    };
    (y.value().data().to_vec(), grads.wrt(x).unwrap().data().to_vec())
}

#[test]
fn cross_entropy_with_weight_ignore_and_smoothing_matches_pytorch() {
    // l = F.cross_entropy(x, torch.tensor([0,3,1]), weight=torch.tensor(W), ignore_index=1,
    //                     label_smoothing=0.1, reduction=red); l.backward(g); show(l); show(x.grad)
    let (v, g) = value_and_grad(|x| x.cross_entropy_with(&[0, 3, 1], &ce_opts(Reduction::Mean)), None);
    assert_close(&v, &[1.3611749528231134]);
    #[rustfmt::skip]
    assert_close(&g, &[-0.19028137453389443, -0.003358664038686821, 0.18048364097821912, 0.013156397594362126, 0.07501098601646072, 0.35168647287486643, 0.046162279457463005, -0.4728597383487903, 0.0, 0.0, 0.0, 0.0]);
    let (v, g) = value_and_grad(|x| x.cross_entropy_with(&[0, 3, 1], &ce_opts(Reduction::Sum)), None);
    assert_close(&v, &[5.444699811292454]);
    #[rustfmt::skip]
    assert_close(&g, &[-0.7611254981355777, -0.013434656154747284, 0.7219345639128765, 0.0526255903774485, 0.3000439440658429, 1.4067458914994657, 0.18464911782985202, -1.8914389533951612, 0.0, 0.0, 0.0, 0.0]);
    // red='none', g = torch.tensor([0.5,-1.0,2.0])
    let seed = t(&[0.5, -1.0, 2.0], &[3]);
    let (v, g) = value_and_grad(|x| x.cross_entropy_with(&[0, 3, 1], &ce_opts(Reduction::None)), Some(seed));
    assert_close(&v, &[2.0611089358512693, 3.3835908754411848, 0.0]);
    #[rustfmt::skip]
    assert_close(&g, &[-0.38056274906778886, -0.006717328077373642, 0.36096728195643824, 0.02631279518872425, -0.3000439440658429, -1.4067458914994657, -0.18464911782985202, 1.8914389533951612, 0.0, 0.0, 0.0, 0.0]);
}

/// Edge case: an `ignore_index` inside `0..C` still takes part in every row's softmax
/// denominator (only the rows whose TARGET is it are dropped).
#[test]
fn ignored_class_inside_range_stays_in_the_denominator() {
    // l = F.cross_entropy(x, torch.tensor([0,2,2]), ignore_index=2); l.backward()
    let (v, g) = value_and_grad(|x| x.cross_entropy_with(&[0, 2, 2], &CrossEntropy::new().ignore_index(2)), None);
    assert_close(&v, &[1.8692789984482534]);
    #[rustfmt::skip]
    assert_close(&g, &[-0.8457651747158378, 0.034414441266120206, 0.6912325307415308, 0.12011820270818684, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    // By hand: row 0's loss is lse over all four logits, class 2 (the ignored one) included.
    let lse = X[..4].iter().map(|x| x.exp()).sum::<f64>().ln();
    assert!((v[0] - (lse - X[0])).abs() < 1e-15);
}

#[test]
fn leading_axes_with_smoothing_match_pytorch() {
    // XL = [[[0.1,0.2,-0.3],[1.0,-2.0,0.5]],[[0.0,0.0,3.0],[-1.0,2.0,0.25]]]
    // l = F.cross_entropy(x.permute(0,2,1), torch.tensor([[0,2],[1,1]]), label_smoothing=0.2)
    let tape = Tape::new();
    let x = tape.var(t(&[0.1, 0.2, -0.3, 1.0, -2.0, 0.5, 0.0, 0.0, 3.0, -1.0, 2.0, 0.25], &[2, 2, 3]));
    let loss = x.cross_entropy_with(&[0, 2, 1, 1], &CrossEntropy::new().label_smoothing(0.2));
    assert_close(&[loss.item()], &[1.398028245900234]);
    #[rustfmt::skip]
    assert_close(loss.backward().wrt(x).unwrap().data(), &[-0.12659251285653167, 0.08288066859456734, 0.0437118442619643, 0.1342705573704898, -0.009151944774273162, -0.1251186125962166, -0.005347041480759401, -0.2053470414807594, 0.2106940829615188, -0.00649409090481798, -0.012345020598130918, 0.018839111502948935]);
}

#[test]
fn soft_targets_match_pytorch_with_gradient_to_the_targets() {
    // l = F.cross_entropy(x, y, weight=torch.tensor(W), label_smoothing=0.1, reduction=red)
    // l.backward(); show(l); show(x.grad); show(y.grad)
    let run = |reduction| {
        let tape = Tape::new();
        let (x, y) = (tape.var(t(&X, &[3, 4])), tape.var(t(&Y, &[3, 4])));
        let opts = CrossEntropy::new().weight(t(&W, &[4])).label_smoothing(0.1).reduction(reduction);
        let loss = x.cross_entropy_probs(y, &opts);
        let grads = loss.backward();
        (loss.item(), grads.wrt(x).unwrap().data().to_vec(), grads.wrt(y).unwrap().data().to_vec())
    };
    // Edge case: soft targets' mean divides by the number of rows (3), weighted or not.
    let (v, gx, gy) = run(Reduction::Mean);
    assert_close(&[v], &[1.8159018603179258]);
    #[rustfmt::skip]
    assert_close(&gx, &[-0.16370849937852586, -0.0644782187182491, 0.2106448546376255, 0.017541863459149504, -0.021825745664396528, 0.10899121673206777, -0.004360428940493791, -0.08280504212717746, 0.13144803698053667, 0.0022506846759627725, -0.11411863356005235, -0.01958008809644711]);
    #[rustfmt::skip]
    assert_close(&gy, &[0.560783699534476, 2.0215673990689518, 0.055391849767238, 1.907351098603428, 0.6526470786488577, 0.40529415729771556, 0.4013235393244289, 1.0579412359465734, 0.11365712771650362, 1.4273142554330074, 0.24432856385825183, 3.2659713831495107]);
    let (v, gx, gy) = run(Reduction::Sum);
    assert_close(&[v], &[5.4477055809537775]);
    #[rustfmt::skip]
    assert_close(&gx, &[-0.49112549813557765, -0.1934346561547473, 0.6319345639128765, 0.0526255903774485, -0.06547723699318962, 0.32697365019620317, -0.013081286821481396, -0.24841512638153243, 0.39434411094161004, 0.006752054027888319, -0.34235590068015703, -0.05874026428934133]);
    #[rustfmt::skip]
    assert_close(&gy, &[1.682351098603428, 6.064702197206857, 0.16617554930171402, 5.7220532958102845, 1.9579412359465735, 1.2158824718931467, 1.2039706179732867, 3.1738237078397202, 0.34097138314951086, 4.2819427662990215, 0.7329856915747555, 9.797914149448532]);
}

/// Edge case: hard targets + smoothing + weight under the mean divide by the sum of the
/// targets' weights (1 + 3 + 2 = 6); the same targets written as one-hot probabilities divide by
/// the number of rows (3). Same numerator, so PyTorch's two answers differ by exactly 6 / 3.
#[test]
fn hard_targets_and_one_hot_probabilities_differ_under_a_weighted_mean() {
    // F.cross_entropy(x, torch.tensor([0,3,1]), weight=W, label_smoothing=0.1).item()
    // F.cross_entropy(x, F.one_hot(torch.tensor([0,3,1]),4).double(), weight=W, label_smoothing=0.1).item()
    let tape = Tape::new();
    let x = tape.var(t(&X, &[3, 4]));
    let opts = CrossEntropy::new().weight(t(&W, &[4])).label_smoothing(0.1);
    let hard = x.cross_entropy_with(&[0, 3, 1], &opts);
    let one_hot = tape.constant(Tensor::from_fn(&[3, 4], |i| if [0, 3, 1][i[0]] == i[1] { 1.0 } else { 0.0 }));
    let soft = x.cross_entropy_probs(one_hot, &opts);
    assert_close(&[hard.item(), soft.item()], &[1.69126364251743, 3.382527285034861]);
}

/// Edge case: a weighted mean is not `reduction=None` followed by `.mean()`: it divides by the
/// sum of the targets' weights, so with one row the weights cancel.
#[test]
fn weighted_mean_divides_by_the_targets_weights() {
    let tape = Tape::new();
    let x = tape.var(t(&X, &[3, 4]));
    let weighted = CrossEntropy::new().weight(t(&W, &[4]));
    let mean = x.cross_entropy_with(&[0, 3, 1], &weighted).item();
    let rows = x.cross_entropy_with(&[0, 3, 1], &weighted.clone().reduction(Reduction::None)).value();
    let per_row: f64 = rows.data().iter().sum();
    assert!((mean - per_row / (1.0 + 3.0 + 2.0)).abs() < 1e-15);
    assert!((mean - per_row / 3.0).abs() > 0.1, "not the mean of the rows");
    let one_row = tape.var(t(&X[..4], &[1, 4]));
    let with = one_row.cross_entropy_with(&[3], &weighted).item();
    assert_eq!(with, one_row.cross_entropy(&[3]).item());
}

/// Edge case: with every target ignored the mean is 0 / 0 = NaN, and the gradient is zero, as
/// in PyTorch (`F.cross_entropy(x, torch.tensor([2,2]), ignore_index=2)` gives `nan` and a
/// zero `x.grad`, also with weight and label_smoothing).
#[test]
fn all_targets_ignored_gives_nan_mean_and_zero_gradient() {
    for opts in [
        CrossEntropy::new().ignore_index(2),
        CrossEntropy::new().ignore_index(2).weight(t(&[1.0, 2.0, 3.0], &[3])).label_smoothing(0.1),
    ] {
        let tape = Tape::new();
        let x = tape.var(t(&[0.5, -1.0, 2.0, 0.0, 1.0, 3.0], &[2, 3]));
        let loss = x.cross_entropy_with(&[2, 2], &opts);
        assert!(loss.item().is_nan());
        assert_eq!(loss.backward().wrt(x).unwrap().data(), &[0.0; 6]);
        // The sum is 0, not NaN.
        assert_eq!(x.cross_entropy_with(&[2, 2], &opts.reduction(Reduction::Sum)).item(), 0.0);
    }
}

/// Edge case: a weighted mean whose kept targets all weigh 0, with smoothing. PyTorch adds
/// `(1 - eps)` times the nll part, `0 / 0 = NaN`, to the smoothing part (finite over 0, inf), so
/// `F.cross_entropy(x, [1, 0, 0], weight=[0, 0.5], ignore_index=1, label_smoothing=0.5)` at
/// `x = [[2.55, -1.64], [0.21, -2.16], [1.25, 0.45]]` is NaN with `x.grad`
/// `[[0, 0], [nan, nan], [nan, nan]]` (the ignored row 0), not inf (program 1-321).
#[test]
fn weighted_mean_of_zero_weight_targets_with_smoothing_is_nan() {
    let opts = CrossEntropy::new().weight(t(&[0.0, 0.5], &[2])).ignore_index(1).label_smoothing(0.5);
    let tape = Tape::new();
    let x = tape.var(t(&[2.55, -1.64, 0.21, -2.16, 1.25, 0.45], &[3, 2]));
    let loss = x.cross_entropy_with(&[1, 0, 0], &opts);
    assert!(loss.item().is_nan(), "{}", loss.item());
    let fast = loss.backward().wrt(x).unwrap().data().to_vec();
    let recorded = loss.backward_graph().wrt(x).unwrap().value().data().to_vec();
    for grad in [fast, recorded] {
        assert_eq!(&grad[..2], &[0.0, 0.0]);
        assert!(grad[2..].iter().all(|g| g.is_nan()), "{grad:?}");
    }
}

/// Huber's second derivative is PyTorch's double backward, `[|d| < delta]`: 0 at the kink
/// `|d| = delta` and where `d` is NaN (`inf - inf`), 1 only strictly inside.
/// `torch.autograd.functional.hvp(lambda x: F.huber_loss(x, y, delta=1.0, reduction='sum'),
/// x, v)` at `x = [0.5, 1, -1, 3, inf]`, `y = [0, 0, 0, 0, inf]`, `v = [2, 3, 5, 7, 11]` is
/// `[2, 0, 0, 0, 0]` (program 1-3435).
#[test]
fn huber_second_derivative_is_zero_at_the_kink_and_at_nan_as_pytorch() {
    let y = t(&[0.0, 0.0, 0.0, 0.0, f64::INFINITY], &[5]);
    let x = t(&[0.5, 1.0, -1.0, 3.0, f64::INFINITY], &[5]);
    let v = t(&[2.0, 3.0, 5.0, 7.0, 11.0], &[5]);
    let hv = tapegrad::hvp(
        |x| {
            let y = x.tape().constant(y.clone());
            x.huber_loss(y, 1.0, Reduction::Sum)
        },
        &x,
        &v,
    );
    assert_eq!(hv.data(), &[2.0, 0.0, 0.0, 0.0, 0.0]);
}

/// Edge case: label smoothing spreads `eps / C` over all C classes (the target gets
/// `1 - eps + eps / C`), and ignored rows contribute nothing to the smoothing term (PyTorch bug
/// #73205, since fixed, counted them).
#[test]
fn smoothing_spreads_over_all_classes_and_skips_ignored_rows() {
    let (eps, classes) = (0.3, 4.0);
    // Equal logits: P = 1/C, so the summed gradient is P - q, which shows q.
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[1, 4]));
    let opts = CrossEntropy::new().label_smoothing(eps).reduction(Reduction::Sum);
    let g = x.cross_entropy_with(&[2], &opts).backward().wrt(x).unwrap().clone();
    let q_target = 1.0 - eps + eps / classes;
    let q_other = eps / classes;
    assert_close(g.data(), &[0.25 - q_other, 0.25 - q_other, 0.25 - q_target, 0.25 - q_other]);
    // An ignored row changes nothing: the loss equals the loss over the kept rows alone.
    let x = randn(&[3, 4], 1);
    let kept = Tensor::new(x.data()[..8].to_vec(), &[2, 4]).unwrap();
    let opts = CrossEntropy::new().label_smoothing(0.2).ignore_index(0).weight(t(&W, &[4]));
    let tape = Tape::new();
    let with_ignored = tape.var(x).cross_entropy_with(&[1, 3, 0], &opts).item();
    let without = tape.var(kept).cross_entropy_with(&[1, 3], &opts).item();
    assert!((with_ignored - without).abs() < 1e-15, "{with_ignored} vs {without}");
}

/// Edge case: a `-inf` logit that is not the target gives a finite loss and gradient (its
/// probability is 0); PyTorch: `F.cross_entropy(torch.tensor([[0., -inf, 1.]]), [0])` is
/// 1.3132616875182228 with gradient [-0.7311, 0, 0.7311].
#[test]
fn minus_infinity_logit_off_target_is_finite() {
    for opts in [CrossEntropy::new(), CrossEntropy::new().weight(t(&[1.0, 2.0, 3.0], &[3])).reduction(Reduction::Sum)] {
        let tape = Tape::new();
        let x = tape.var(t(&[0.0, f64::NEG_INFINITY, 1.0], &[1, 3]));
        let loss = x.cross_entropy_with(&[0], &opts);
        assert_close(&[loss.item()], &[1.3132616875182228]);
        let g = loss.backward().wrt(x).unwrap().clone();
        assert!(g.data().iter().all(|v| v.is_finite()), "{g}");
        assert_eq!(g.data()[1], 0.0);
    }
}

/// Edge case: PyTorch's `nll_loss` sums `0 - x[r, t_r]` from +0, so picked zeros of either sign
/// give +0.0, never -0.0: `F.nll_loss(torch.tensor([[0., 1.], [-0., 2.]]), torch.tensor([0, 0]))`
/// is `0.0`, and `2 / loss` is `inf` (program 1-1304 of `tests/pytorch_diff/`).
#[test]
fn nll_loss_of_picked_zeros_is_plus_zero() {
    for picked in [[0.0, 0.0], [-0.0, -0.0], [0.0, -0.0]] {
        let tape = Tape::new();
        let x = tape.var(t(&[picked[0], 1.0, picked[1], 2.0], &[2, 2]));
        let loss = x.nll_loss(&[0, 0]);
        assert!(loss.item() == 0.0 && loss.item().is_sign_positive(), "{picked:?}: {:e}", loss.item());
        assert_eq!((2.0 / loss).item(), f64::INFINITY, "{picked:?}");
    }
}

/// The option checks: each panic names the op and the shapes.
#[test]
fn bad_options_panic_naming_op_and_shapes() {
    // label_smoothing outside [0, 1] (PyTorch accepts negative values; tapegrad refuses them).
    for eps in [-0.1, 1.5, f64::NAN] {
        let msg = panic_message(move || drop(CrossEntropy::new().label_smoothing(eps)));
        assert!(msg.starts_with("cross_entropy: label_smoothing") && msg.contains("[0, 1]"), "{msg}");
    }
    // Soft targets with ignore_index (PyTorch: "ignore_index is not supported for floating point target").
    let msg = panic_message(|| {
        let tape = Tape::new();
        let (x, y) = (tape.var(Tensor::zeros(&[2, 3])), tape.var(Tensor::zeros(&[2, 3])));
        let _ = x.cross_entropy_probs(y, &CrossEntropy::new().ignore_index(0));
    });
    assert!(msg.starts_with("cross_entropy_probs: ignore_index") && msg.contains("[2, 3]"), "{msg}");
    // A weight of the wrong length.
    let msg = panic_message(|| {
        let tape = Tape::new();
        let _ = tape
            .var(Tensor::zeros(&[2, 3]))
            .cross_entropy_with(&[0, 1], &CrossEntropy::new().weight(Tensor::ones(&[4])));
    });
    assert_eq!(
        msg,
        "cross_entropy_with: weight of shape [4] for input of shape [2, 3]: it needs one weight per class, shape [3]"
    );
    // A target outside the classes that is not the ignored one.
    let msg = panic_message(|| {
        let tape = Tape::new();
        let _ = tape.var(Tensor::zeros(&[2, 3])).cross_entropy_with(&[0, 7], &CrossEntropy::new().ignore_index(5));
    });
    assert_eq!(msg, "cross_entropy_with: target 7 at row 1 is outside 0..3 for input of shape [2, 3]");
    // Soft targets of another shape.
    let msg = panic_message(|| {
        let tape = Tape::new();
        let (x, y) = (tape.var(Tensor::zeros(&[2, 3])), tape.var(Tensor::zeros(&[2, 4])));
        let _ = x.cross_entropy_probs(y, &CrossEntropy::new());
    });
    assert!(msg.contains("targets of shape [2, 4] for input of shape [2, 3]"), "{msg}");
    // BCE: targets of another shape; a weight that does not broadcast.
    let msg = panic_message(|| {
        let tape = Tape::new();
        let (x, y) = (tape.var(Tensor::zeros(&[2, 3])), tape.var(Tensor::zeros(&[3])));
        let _ = x.bce_with_logits(y, &BceWithLogits::new());
    });
    assert!(msg.starts_with("bce_with_logits: targets of shape [3] for input of shape [2, 3]"), "{msg}");
    let msg = panic_message(|| {
        let tape = Tape::new();
        let (x, y) = (tape.var(Tensor::zeros(&[2, 3])), tape.var(Tensor::zeros(&[2, 3])));
        let _ = x.bce_with_logits(y, &BceWithLogits::new().pos_weight(Tensor::ones(&[2])));
    });
    assert_eq!(msg, "bce_with_logits: pos_weight of shape [2] does not broadcast to the input's shape [2, 3]");
    let msg = panic_message(|| {
        let tape = Tape::new();
        let (x, y) = (tape.var(Tensor::zeros(&[2, 3])), tape.var(Tensor::zeros(&[2, 3])));
        let _ = x.huber_loss(y, 0.0, Reduction::Mean);
    });
    assert_eq!(msg, "huber_loss: delta 0 is not positive (input shape [2, 3])");
}

const BX: [f64; 6] = [0.5, -2.0, 3.0, -0.25, 1.0, 0.0];
const BY: [f64; 6] = [1.0, 0.0, 0.3, 0.0, 1.0, 0.5];

fn bce_run(opts: &BceWithLogits) -> (f64, Vec<f64>, Vec<f64>) {
    let tape = Tape::new();
    let (x, y) = (tape.var(t(&BX, &[2, 3])), tape.var(t(&BY, &[2, 3])));
    let loss = x.bce_with_logits(y, opts);
    let grads = loss.backward();
    (loss.item(), grads.wrt(x).unwrap().data().to_vec(), grads.wrt(y).unwrap().data().to_vec())
}

#[test]
fn bce_with_logits_matches_pytorch() {
    // BX = [[0.5,-2.0,3.0],[-0.25,1.0,0.0]]; BY = [[1.0,0.0,0.3],[0.0,1.0,0.5]]
    // l = F.binary_cross_entropy_with_logits(x, y); l.backward(); show(l); show(x.grad); show(y.grad)
    let (v, gx, gy) = bce_run(&BceWithLogits::new());
    assert_close(&[v], &[0.7219901057923055]);
    #[rustfmt::skip]
    assert_close(&gx, &[-0.0629234447996909, 0.019867153670352924, 0.10876235447040557, 0.07297058318570032, -0.04482357022833252, 0.0]);
    #[rustfmt::skip]
    assert_close(&gy, &[-0.08333333333333333, 0.3333333333333333, -0.5, 0.041666666666666664, -0.16666666666666666, -0.0]);
    // ... weight=torch.tensor([[2.0],[0.5]]), pos_weight=torch.tensor([3.0,1.0,0.5]), reduction=red
    let opts = BceWithLogits::new().weight(t(&[2.0, 0.5], &[2, 1])).pos_weight(t(&[3.0, 1.0, 0.5], &[3]));
    let (v, gx, gy) = bce_run(&opts);
    assert_close(&[v], &[1.3475745285417433]);
    #[rustfmt::skip]
    assert_close(&gx, &[-0.37754066879814535, 0.03973430734070585, 0.21989600259968942, 0.03648529159285016, -0.02241178511416626, 0.010416666666666666]);
    #[rustfmt::skip]
    assert_close(&gy, &[0.14938465612007112, 0.6666666666666666, -1.008097891928957, 0.15848990331314058, -0.08333333333333333, -0.028881132523331052]);
    let (v, gx, gy) = bce_run(&opts.reduction(Reduction::Sum));
    assert_close(&[v], &[8.08544717125046]);
    #[rustfmt::skip]
    assert_close(&gx, &[-2.265244012788872, 0.2384058440442351, 1.3193760155981364, 0.21891174955710097, -0.13447071068499755, 0.0625]);
    #[rustfmt::skip]
    assert_close(&gy, &[0.8963079367204267, 4.0, -6.048587351573742, 0.9509394198788435, -0.5, -0.17328679513998632]);
}

/// Edge case: BCE's weighted mean divides by the number of elements (cross-entropy's by the
/// targets' weights): a weight of 2 everywhere doubles the mean.
#[test]
fn bce_weighted_mean_divides_by_the_element_count() {
    let (plain, ..) = bce_run(&BceWithLogits::new());
    let (doubled, ..) = bce_run(&BceWithLogits::new().weight(Tensor::scalar(2.0)));
    assert_eq!(doubled, 2.0 * plain);
}

/// Edge case: BCE at `x = +-1e4` is finite and exact (`log1p(exp(-|x|))`, never `exp(1e4)`).
#[test]
fn bce_at_ten_thousand_is_finite_and_exact() {
    // l = F.binary_cross_entropy_with_logits(torch.tensor([1e4,-1e4,1e4,-1e4]), torch.tensor([1.,1.,0.,0.]),
    //     reduction='none', pos_weight=torch.tensor([2.0])); l.sum().backward()
    let tape = Tape::new();
    let x = tape.var(t(&[1e4, -1e4, 1e4, -1e4], &[4]));
    let y = tape.constant(t(&[1.0, 1.0, 0.0, 0.0], &[4]));
    let opts = BceWithLogits::new().pos_weight(t(&[2.0], &[1])).reduction(Reduction::None);
    let loss = x.bce_with_logits(y, &opts);
    assert_eq!(loss.value().data(), &[0.0, 20000.0, 10000.0, 0.0]);
    assert_eq!(loss.sum().backward().wrt(x).unwrap().data(), &[0.0, -2.0, 1.0, 0.0]);
}

const A: [f64; 6] = [0.5, -2.0, 3.0, -0.25, 1.0, 0.0];
const B: [f64; 6] = [0.0, 1.0, 0.5, 0.5, 0.75, -2.0];

fn pair_run(f: impl for<'t> Fn(Var<'t>, Var<'t>) -> Var<'t>, a: &[f64], b: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let tape = Tape::new();
    let (x, y) = (tape.var(t(a, &[2, 3])), tape.var(t(b, &[2, 3])));
    let loss = f(x, y);
    let grads = loss.backward();
    (loss.item(), grads.wrt(x).unwrap().data().to_vec(), grads.wrt(y).unwrap().data().to_vec())
}

#[test]
fn mse_and_huber_match_pytorch() {
    // A = [[0.5,-2.0,3.0],[-0.25,1.0,0.0]]; B = [[0.0,1.0,0.5],[0.5,0.75,-2.0]]
    // l = F.mse_loss(x, y); l.backward(); show(l); show(x.grad)
    let (v, gx, gy) = pair_run(|x, y| x.mse_loss(y, Reduction::Mean), &A, &B);
    assert_close(&[v], &[3.3541666666666665]);
    #[rustfmt::skip]
    assert_close(&gx, &[0.16666666666666666, -1.0, 0.8333333333333333, -0.25, 0.08333333333333333, 0.6666666666666666]);
    assert_close(&gy, &gx.iter().map(|g| -g).collect::<Vec<_>>());
    // l = F.huber_loss(x, y, delta=0.8); l.backward(); show(l); show(x.grad); show(y.grad)
    let (v, gx, gy) = pair_run(|x, y| x.huber_loss(y, 0.8, Reduction::Mean), &A, &B);
    assert_close(&[v], &[0.9129166666666668]);
    #[rustfmt::skip]
    assert_close(&gx, &[0.08333333333333333, -0.13333333333333333, 0.13333333333333333, -0.125, 0.041666666666666664, 0.13333333333333333]);
    #[rustfmt::skip]
    assert_close(&gy, &[-0.08333333333333333, 0.13333333333333333, -0.13333333333333333, 0.125, -0.041666666666666664, -0.13333333333333333]);
    // F.huber_loss(x, y, delta=2.0, reduction='sum')
    let (v, ..) = pair_run(|x, y| x.huber_loss(y, 2.0, Reduction::Sum), &A, &B);
    assert_close(&[v], &[9.4375]);
}

// LP = torch.log_softmax(torch.tensor(A), 1); T = [[0.2,0.3,0.5],[0.6,0.4,0.0]]
const LP: [f64; 6] = [
    -2.58509724636431,
    -5.0850972463643105,
    -0.08509724636431015,
    -1.753428877984625,
    -0.503428877984625,
    -1.503428877984625,
];
const KT: [f64; 6] = [0.2, 0.3, 0.5, 0.6, 0.4, 0.0];

#[test]
fn kl_div_matches_pytorch() {
    // l = F.kl_div(x, t, reduction=red); l.backward(); show(l); show(x.grad); show(t.grad)
    // Edge case: a zero target adds 0 to the loss (xlogy) and has a NaN gradient, as PyTorch's.
    let cases: [(KlDiv, f64, [f64; 6], [f64; 6]); 3] = [
        (
            KlDiv::new().batchmean(),
            0.8179307216375526,
            [-0.1, -0.15, -0.25, -0.3, -0.2, -0.0],
            [
                0.9878296669651049,
                2.4405622210191873,
                0.19597503290218243,
                1.1213016271093172,
                0.293569073055235,
                f64::NAN,
            ],
        ),
        (
            KlDiv::new(),
            0.2726435738791842,
            [
                -0.03333333333333333,
                -0.049999999999999996,
                -0.08333333333333333,
                -0.09999999999999999,
                -0.06666666666666667,
                -0.0,
            ],
            [
                0.329276555655035,
                0.813520740339729,
                0.06532501096739414,
                0.373767209036439,
                0.09785635768507833,
                f64::NAN,
            ],
        ),
        (
            KlDiv::new().reduction(Reduction::Sum),
            1.6358614432751053,
            [-0.2, -0.3, -0.5, -0.6, -0.4, -0.0],
            [
                1.9756593339302098,
                4.881124442038375,
                0.39195006580436487,
                2.2426032542186345,
                0.58713814611047,
                f64::NAN,
            ],
        ),
    ];
    for (opts, value, gx_torch, gt_torch) in cases {
        let (v, gx, gt) = pair_run(|x, t| x.kl_div(t, &opts), &LP, &KT);
        assert_close(&[v], &[value]);
        assert_close(&gx, &gx_torch);
        assert_close(&gt, &gt_torch);
    }
    // LT = torch.log_softmax(torch.tensor(B), 1)
    // l = F.kl_div(x, t, reduction='batchmean', log_target=True)
    let lt = [
        -1.6802696706417346,
        -0.6802696706417346,
        -1.1802696706417346,
        -0.8612474319701076,
        -0.6112474319701076,
        -3.3612474319701073,
    ];
    let (v, gx, gt) = pair_run(|x, t| x.kl_div(t, &KlDiv::new().batchmean().log_target(true)), &LP, &lt);
    assert_close(&[v], &[1.1586111206763576]);
    #[rustfmt::skip]
    assert_close(&gx, &[-0.09316186161292378, -0.253240195527827, -0.1535979428592492, -0.21131727275463813, -0.27133674920209133, -0.01734597804327052]);
    #[rustfmt::skip]
    assert_close(&gt, &[0.17745728300594765, 1.3687195920701765, -0.014618288585940081, 0.39985062272871535, 0.2420816132600003, -0.014879701802542247]);
}

#[test]
fn logsumexp_matches_pytorch() {
    // l = torch.logsumexp(x, 1, keepdim=True) on XL ([2, 2, 3]);
    // (l * torch.tensor([[[1.0,-2.0,0.5]],[[3.0,0.25,-1.0]]])).sum().backward()
    let tape = Tape::new();
    let x = tape.var(t(&[0.1, 0.2, -0.3, 1.0, -2.0, 0.5, 0.0, 0.0, 3.0, -1.0, 2.0, 0.25], &[2, 2, 3]));
    let l = x.logsumexp(1, true);
    assert_eq!(l.shape(), vec![2, 1, 3]);
    #[rustfmt::skip]
    assert_close(l.value().data(), &[1.341153874732088, 0.30508331976869596, 0.8711006659477777, 0.31326168751822286, 2.1269280110429727, 3.0619675890031988]);
    let g = l.backward_with(t(&[1.0, -2.0, 0.5, 3.0, 0.25, -1.0], &[2, 1, 3]));
    #[rustfmt::skip]
    assert_close(g.wrt(x).unwrap().data(), &[0.28905049737499605, -1.8004990217606296, 0.1550127594361938, 0.7109495026250039, -0.19950097823937032, 0.34498724056380625, 2.193175735890015, 0.029800730505529383, -0.9399133498259923, 0.8068242641099853, 0.22019926949447058, -0.06008665017400761]);
}

/// Edge case: `torch.logsumexp` of a lane of `-inf` is `-inf` (not NaN), of a lane holding
/// `+inf` is `+inf`; its gradient there is PyTorch's `exp(x - lse)`: NaN where `x - lse` is
/// `inf - inf` or `-inf - -inf`, 0 elsewhere (`a.grad` = [[nan, nan], [0., nan]]).
#[test]
fn logsumexp_of_infinite_lanes_as_pytorch() {
    let (inf, ninf) = (f64::INFINITY, f64::NEG_INFINITY);
    let tape = Tape::new();
    let x = tape.var(t(&[ninf, ninf, 1.0, inf], &[2, 2]));
    let l = x.logsumexp(1, false);
    assert_eq!(l.value().data(), &[ninf, inf]);
    let g = l.sum().backward().wrt(x).unwrap().clone();
    assert!(g.data()[0].is_nan() && g.data()[1].is_nan() && g.data()[3].is_nan(), "{g}");
    assert_eq!(g.data()[2], 0.0);
}

// Logits far from 0, where `x - (max + ln(sum))` loses every digit of `ln(sum)` below the ulp
// of the max: `[c, c+1, c+2]` at c = 1e6, 1e9, 1e16, equal rows at 1e20 and 1e308, and a row of
// four -1e9. PyTorch (float64) is exact on each, computing `(x - max) - ln(sum(exp(x - max)))`:
//   S = [[c, c+1, c+2] for c in (1e6, 1e9, 1e16)]
const SHIFTS: [f64; 9] = [1e6, 1e6 + 1.0, 1e6 + 2.0, 1e9, 1e9 + 1.0, 1e9 + 2.0, 1e16, 1e16 + 1.0, 1e16 + 2.0];

/// `(value, gradient)` of `f` at `x` (shape `shape`), with output gradient `seed` (ones when
/// `None`); also the gradient to a second input `y` when given (soft targets).
#[allow(clippy::type_complexity)]
fn at_large_logits(
    x: &[f64],
    shape: &[usize],
    y: Option<&[f64]>,
    seed: Option<&[f64]>,
    f: impl for<'t> Fn(Var<'t>, Option<Var<'t>>) -> Var<'t>,
) -> (Vec<f64>, Vec<f64>, Option<Vec<f64>>) {
    let tape = Tape::new();
    let xv = tape.var(t(x, shape));
    let yv = y.map(|y| tape.var(t(y, shape)));
    let out = f(xv, yv);
    let grads = match seed {
        Some(s) => out.backward_with(t(s, &out.shape())),
        None => out.backward_with(Tensor::ones(&out.shape())),
    };
    let dy = yv.map(|yv| grads.wrt(yv).unwrap().data().to_vec());
    (out.value().data().to_vec(), grads.wrt(xv).unwrap().data().to_vec(), dy)
}

#[test]
fn cross_entropy_is_exact_at_large_logits_as_pytorch() {
    // l = F.cross_entropy(torch.tensor(x, requires_grad=True), torch.tensor(t)); l.backward()
    let (v, g, _) = at_large_logits(&SHIFTS, &[3, 3], None, None, |x, _| x.cross_entropy(&[0, 0, 0]));
    assert_close(&v, &[2.3515855650368818]);
    #[rustfmt::skip]
    assert_close(&g, &[-0.30332314227653984, 0.08157615701826587, 0.2217469852582739, -0.30332314227653984, 0.08157615701826587, 0.2217469852582739, -0.29783100702693305, 0.035502326306400246, 0.26232868072053284]);
    let ln = |n: f64| n.ln();
    // [[1e20, 1e20]] target 0: ln 2 and [-0.5, 0.5]; [[1e308] * 3]: ln 3, and the
    // probabilities (the gradient plus the one-hot) sum to 1; [[-1e9] * 4]: ln 4.
    #[rustfmt::skip]
    let rows: [(&[f64], f64, &[f64]); 3] = [
        (&[1e20, 1e20], ln(2.0), &[-0.5, 0.5]),
        (&[1e308; 3], 1.0986122886681098, &[-0.6666666666666667, 0.3333333333333333, 0.3333333333333333]),
        (&[-1e9; 4], 1.3862943611198906, &[-0.75, 0.25, 0.25, 0.25]),
    ];
    for (x, loss, grad) in rows {
        let n = x.len();
        let (v, g, _) = at_large_logits(x, &[1, n], None, None, |x, _| x.cross_entropy(&[0]));
        assert_close(&v, &[loss]);
        assert_close(&g, grad);
        let total = g.iter().sum::<f64>() + 1.0;
        assert!((total - 1.0).abs() <= 2.0 * f64::EPSILON, "{x:?}: probabilities sum to {total}");
    }
}

#[test]
fn cross_entropy_options_are_exact_at_large_logits_as_pytorch() {
    // l = F.cross_entropy(S, torch.tensor([0, 2, 1]), weight=torch.tensor([1.0, 2.0, 0.5]),
    //     ignore_index=2, label_smoothing=0.1, reduction=red); l.backward(g), g = 1 or, for
    //     'none', torch.tensor([0.5, -1.0, 2.0])
    let opts =
        |r| CrossEntropy::new().weight(t(&[1.0, 2.0, 0.5], &[3])).ignore_index(2).label_smoothing(0.1).reduction(r);
    #[rustfmt::skip]
    let expected: [(Reduction, &[f64], &[f64]); 3] = [
        (Reduction::Mean, &[2.2022867330367997], &[-0.2806007502033711, 0.060713537413014745, 0.21988721279035625, 0.0, 0.0, 0.0, 0.05693501430948936, -0.5541760968016217, 0.49724108249213234]),
        (Reduction::Sum, &[6.6068601991103995], &[-0.8418022506101133, 0.18214061223904426, 0.6596616383710687, 0.0, 0.0, 0.0, 0.1708050429284681, -1.6625282904048653, 1.4917232474763973]),
        (Reduction::None, &[2.3477327305184534, 0.0, 4.259127468591946], &[-0.42090112530505663, 0.09107030611952213, 0.32983081918553436, 0.0, 0.0, 0.0, 0.3416100858569362, -3.3250565808097305, 2.9834464949527946]),
    ];
    for (r, value, grad) in expected {
        let seed = (r == Reduction::None).then_some(&[0.5, -1.0, 2.0][..]);
        let (v, g, _) =
            at_large_logits(&SHIFTS, &[3, 3], None, seed, |x, _| x.cross_entropy_with(&[0, 2, 1], &opts(r)));
        assert_close(&v, value);
        assert_close(&g, grad);
    }
    // The single rows with weight [2, 1, ...], label_smoothing=0.2, reduction='sum', target 0.
    #[rustfmt::skip]
    let rows: [(&[f64], f64, &[f64]); 3] = [
        (&[1e20, 1e20], 1.316979643063896, &[-0.85, 0.8500000000000001]),
        (&[1e308; 3], 2.0507429388471383, &[-1.1111111111111112, 0.5555555555555556, 0.5555555555555556]),
        (&[-1e9; 4], 2.5646445680717975, &[-1.2375, 0.4125000000000001, 0.4125000000000001, 0.4125000000000001]),
    ];
    for (x, loss, grad) in rows {
        let n = x.len();
        let mut w = vec![1.0; n];
        w[0] = 2.0;
        let o = CrossEntropy::new().weight(t(&w, &[n])).label_smoothing(0.2).reduction(Reduction::Sum);
        let (v, g, _) = at_large_logits(x, &[1, n], None, None, |x, _| x.cross_entropy_with(&[0], &o));
        assert_close(&v, &[loss]);
        assert_close(&g, grad);
    }
}

#[test]
#[allow(clippy::type_complexity)]
fn cross_entropy_probs_is_exact_at_large_logits_as_pytorch() {
    // Y = [[0.7,0.2,0.1],[0.0,0.5,0.5],[0.25,0.25,0.5]] (requires_grad);
    // l = F.cross_entropy(S, Y, weight=torch.tensor([1.0, 2.0, 0.5]), label_smoothing=0.1,
    //     reduction=red); l.backward(g); show(l); show(S.grad); show(Y.grad)
    const Y: [f64; 9] = [0.7, 0.2, 0.1, 0.0, 0.5, 0.5, 0.25, 0.25, 0.5];
    let opts = |r| CrossEntropy::new().weight(t(&[1.0, 2.0, 0.5], &[3])).label_smoothing(0.1).reduction(r);
    #[rustfmt::skip]
    let expected: [(Reduction, &[f64], &[f64], &[f64]); 3] = [
        (Reduction::Mean, &[1.8519135957430446],
         &[-0.18654937441070393, -0.04827368138951936, 0.23482305580022322, 0.026151542784407455, -0.22093182725787539, 0.1947802844734679, -0.05001707936627086, -0.13612819047738198, 0.18614526984365282],
         &[0.7222817893333141, 0.8445635786666281, 0.06114089466665706, 0.7222817893333141, 0.8445635786666281, 0.06114089466665706, 0.6718634298665654, 1.3437268597331309, 0.035931714933282684]),
        (Reduction::Sum, &[5.555740787229134],
         &[-0.5596481232321119, -0.14482104416855804, 0.7044691674006699, 0.07845462835322238, -0.6627954817736262, 0.5843408534204038, -0.15005123809881257, -0.40838457143214596, 0.5584358095309586],
         &[2.1668453679999424, 2.5336907359998846, 0.1834226839999712, 2.1668453679999424, 2.5336907359998846, 0.1834226839999712, 2.015590289599696, 4.031180579199392, 0.10779514479984804]),
        (Reduction::None, &[2.2227595357184446, 1.539444072518439, 1.7935371789922496],
         &[-0.27982406161605594, -0.07241052208427902, 0.35223458370033495, -0.07845462835322238, 0.6627954817736262, -0.5843408534204038, -0.30010247619762515, -0.8167691428642919, 1.1168716190619172],
         &[1.0834226839999712, 1.2668453679999423, 0.0917113419999856, -2.1668453679999424, -2.5336907359998846, -0.1834226839999712, 4.031180579199392, 8.062361158398785, 0.2155902895996961]),
    ];
    for (r, value, grad, grad_y) in expected {
        let seed = (r == Reduction::None).then_some(&[0.5, -1.0, 2.0][..]);
        let (v, g, gy) =
            at_large_logits(&SHIFTS, &[3, 3], Some(&Y), seed, |x, y| x.cross_entropy_probs(y.unwrap(), &opts(r)));
        assert_close(&v, value);
        assert_close(&g, grad);
        assert_close(&gy.unwrap(), grad_y);
    }
    // Uniform targets on the single rows, label_smoothing=0.2, reduction='sum': the loss is
    // ln(n), the gradient to the logits 0, to the targets -0.8 log(1/n).
    #[rustfmt::skip]
    let rows: [(&[f64], f64, f64); 3] = [
        (&[1e20, 1e20], std::f64::consts::LN_2, 0.5545177444479562),
        (&[1e308; 3], 1.0986122886681096, 0.8788898309344879),
        (&[-1e9; 4], 1.3862943611198906, 1.1090354888959124),
    ];
    for (x, loss, grad_y) in rows {
        let n = x.len();
        let uniform = vec![1.0 / n as f64; n];
        let o = CrossEntropy::new().label_smoothing(0.2).reduction(Reduction::Sum);
        let (v, g, gy) =
            at_large_logits(x, &[1, n], Some(&uniform), None, |x, y| x.cross_entropy_probs(y.unwrap(), &o));
        assert_close(&v, &[loss]);
        assert_close(&g, &vec![0.0; n]);
        assert_close(&gy.unwrap(), &vec![grad_y; n]);
    }
}

/// Edge case: zero rows. PyTorch gives 0 for 'sum', an empty tensor for 'none' and NaN (0 / 0)
/// for 'mean', with every option and with class probabilities; the gradients are empty.
#[test]
fn cross_entropy_of_zero_rows_as_pytorch() {
    let all = |r| CrossEntropy::new().weight(t(&[1.0, 2.0, 0.5], &[3])).label_smoothing(0.1).reduction(r);
    for r in [Reduction::Sum, Reduction::None, Reduction::Mean] {
        // (Class probabilities refuse `ignore_index`, as PyTorch.)
        for (opts, soft) in [(all(r), true), (all(r).ignore_index(1), false), (CrossEntropy::new().reduction(r), true)]
        {
            let tape = Tape::new();
            let x = tape.var(Tensor::zeros(&[0, 3]));
            let y = tape.var(Tensor::zeros(&[0, 3]));
            let mut losses = vec![x.cross_entropy_with(&[], &opts)];
            if soft {
                losses.push(x.cross_entropy_probs(y, &opts));
            }
            for loss in losses {
                match r {
                    Reduction::Sum => assert_eq!(loss.item(), 0.0),
                    Reduction::None => assert_eq!(loss.shape(), vec![0]),
                    Reduction::Mean => assert!(loss.item().is_nan()),
                }
                let grads = loss.backward_with(Tensor::ones(&loss.shape()));
                assert_eq!(grads.wrt(x).unwrap().shape(), &[0, 3]);
                let recorded = loss.backward_graph_with(tape.constant(Tensor::ones(&loss.shape())));
                assert_eq!(recorded.wrt(x).unwrap().shape(), vec![0, 3]);
            }
        }
    }
}

/// Edge case: `F.binary_cross_entropy_with_logits` of an empty input with reduction='sum' is
/// +0.0 (`tensor(0.)`), not -0.0.
#[test]
fn bce_with_logits_sum_of_nothing_is_positive_zero() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[0]));
    let y = tape.constant(Tensor::zeros(&[0]));
    let loss = x.bce_with_logits(y, &BceWithLogits::new().reduction(Reduction::Sum));
    assert!(loss.item() == 0.0 && loss.item().is_sign_positive(), "{:?}", loss.item());
}

/// Overflow PyTorch survives: `F.mse_loss(x, zeros)` at x = [1e308, -1e308, 5e307] has the
/// gradient `(2 / 3) x` = [6.666666666666666e+307, -6.666666666666666e+307,
/// 3.333333333333333e+307] (`2 x` alone would overflow), in `backward` and `backward_graph`.
#[test]
fn mse_loss_mean_gradient_divides_before_doubling_as_pytorch() {
    let tape = Tape::new();
    let x = tape.var(t(&[1e308, -1e308, 5e307], &[3]));
    let y = tape.constant(Tensor::zeros(&[3]));
    let loss = x.mse_loss(y, Reduction::Mean);
    let expected = [6.666666666666666e+307, -6.666666666666666e+307, 3.333333333333333e+307];
    assert_close(loss.backward().wrt(x).unwrap().data(), &expected);
    assert_close(loss.backward_graph().wrt(x).unwrap().value().data(), &expected);
}
