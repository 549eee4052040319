//! The reductions added for small graphs: `sum_axes` / `mean_axes`, `var_axis` / `std_axis`,
//! `min_axis` (`Tensor::argmax_axis` / `argmin_axis`, which share its search, are tested in
//! `tensor_arith.rs`). PyTorch's values pinned as
//! literals (float64; the line that printed them in a comment: `y = f(x)`, then
//! `(y * w).sum().backward()` with `w = arange(1, y.numel() + 1)` shaped like `y`, so that
//! every output gets its own weight), and panics naming op and shapes. Their gradchecks are
//! rows of the op table.

use crate::common::panic_message;
use tapegrad::{Tape, Tensor, Var};

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// `f(x)` for `x` of `shape`, and the gradient of `sum(f(x) * w)` with `w = 1, 2, 3, ...`.
fn weighted(x: &[f64], shape: &[usize], f: impl for<'t> Fn(Var<'t>) -> Var<'t>) -> (Vec<f64>, Vec<f64>) {
    let tape = Tape::new();
    let v = tape.var(Tensor::new(x.to_vec(), shape).unwrap());
    let y = f(v);
    let n = y.value().numel();
    let w = tape.constant(Tensor::new((1..=n).map(|i| i as f64).collect(), &y.shape()).unwrap());
    let grads = (y * w).sum().backward();
    (y.value().data().to_vec(), grads.wrt(v).unwrap().data().to_vec())
}

/// NaN equals NaN; otherwise within `rel` relative (exact for 0 and infinities).
fn assert_close(got: &[f64], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (w.is_finite() && ((g - w) / w).abs() <= rel);
        assert!(ok, "{what}[{i}]: got {g:e}, PyTorch {w:e} (all: {got:?} vs {want:?})");
    }
}

#[test]
fn sum_axes_agree_with_sum_axis_and_pytorch() {
    let tape = Tape::new();
    let x = tape.var(Tensor::from_fn(&[2, 3, 4], |ix| (ix[0] * 12 + ix[1] * 4 + ix[2]) as f64));
    let one_at_a_time = x.sum_axis(2, false).sum_axis(0, false);
    assert_eq!(x.sum_axes(&[0, 2], false).value(), one_at_a_time.value());
    assert_eq!(x.sum_axes(&[2, 0], true).shape(), [1, 3, 1]);
    // torch.arange(24.).reshape(2, 3, 4).sum(dim=[]) == 276. and .mean(dim=[]) == 11.5: an
    // empty list reduces every axis
    let every: &[usize] = &[];
    assert_eq!(x.sum_axes(every, false).item(), 276.0);
    assert_eq!(x.mean_axes(every, false).item(), 11.5);
    assert_eq!(x.sum_axes(every, true).shape(), [1, 1, 1]);
    // torch.arange(24.).reshape(2, 3, 4).mean(dim=(0, 2)) == [7.5, 11.5, 15.5]
    assert_eq!(x.mean_axes(&[0, 2], false).value().data(), &[7.5, 11.5, 15.5]);
    // d mean / dx = 1/8 for each of the 8 elements of a group
    let g = x.mean_axes(&[0, 2], false).sum().backward();
    assert!(g.wrt(x).unwrap().data().iter().all(|&d| d == 0.125));
}

#[test]
fn sum_axes_panics_name_op_axes_and_shape() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[2, 3]));
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = x.sum_axes(&[1, 1], false);
    }));
    // PyTorch: "dim 1 appears multiple times in the list of dims"
    assert_eq!(msg, "sum_axes: axis 1 appears twice in [1, 1] (input shape [2, 3])");
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = x.mean_axes(&[0, 2], false);
    }));
    assert_eq!(msg, "mean_axes: axis 2 is out of range for shape [2, 3] (2 axes)");
}

const V: [f64; 6] = [1.0, 2.0, 4.0, 0.5, -3.0, 2.5];

#[test]
fn var_and_std_with_correction_as_pytorch() {
    // torch.var(x, dim=1, correction=1), x = tensor([[1., 2., 4.], [0.5, -3., 2.5]])
    let (y, dx) = weighted(&V, &[2, 3], |x| x.var_axis(1, 1, false));
    assert_close(&y, &[2.333333333333333, 7.75], 1e-15, "var c=1");
    assert_close(
        &dx,
        &[-1.3333333333333335, -0.3333333333333335, 1.6666666666666665, 1.0, -6.0, 5.0],
        1e-14,
        "var c=1 grad",
    );
    // torch.var(x, dim=1, correction=0, keepdim=True)
    let (y, dx) = weighted(&V, &[2, 3], |x| x.var_axis(1, 0, true));
    assert_close(&y, &[1.5555555555555554, 5.166666666666667], 1e-15, "var c=0");
    let want =
        [-0.888888888888889, -0.22222222222222232, 1.111111111111111, 0.6666666666666666, -4.0, 3.333333333333333];
    assert_close(&dx, &want, 1e-14, "var c=0 grad");
    // torch.var(x, dim=0, correction=2): n - correction = 0, so inf, and ±inf gradients
    let (y, dx) = weighted(&V, &[2, 3], |x| x.var_axis(0, 2, false));
    assert_close(&y, &[INF, INF, INF], 0.0, "var n = correction");
    assert_close(&dx, &[INF, INF, INF, -INF, -INF, -INF], 0.0, "var n = correction grad");
    // torch.var(x, dim=1, correction=3): n - correction < 0 is clamped to 0
    let (y, _) = weighted(&V, &[2, 3], |x| x.var_axis(1, 3, false));
    assert_close(&y, &[INF, INF], 0.0, "var n < correction");
    // torch.var(tensor([[1.], [2.]]), dim=1): one element, correction 1: 0/0
    let (y, dx) = weighted(&[1.0, 2.0], &[2, 1], |x| x.var_axis(1, 1, false));
    assert_close(&y, &[NAN, NAN], 0.0, "var of one");
    assert_close(&dx, &[NAN, NAN], 0.0, "var of one grad");
    // torch.std(x, dim=1, correction=1)
    let (y, dx) = weighted(&V, &[2, 3], |x| x.std_axis(1, 1, false));
    assert_close(&y, &[1.5275252316519465, 2.7838821814150108], 1e-15, "std c=1");
    let want = [
        -0.43643578047198484,
        -0.10910894511799625,
        0.5455447255899809,
        0.1796053020267749,
        -1.0776318121606494,
        0.8980265101338746,
    ];
    assert_close(&dx, &want, 1e-14, "std c=1 grad");
    // torch.std(x, dim=0, correction=0)
    let (y, dx) = weighted(&V, &[2, 3], |x| x.std_axis(0, 0, false));
    assert_close(&y, &[0.25, 2.5, 0.75], 1e-15, "std c=0");
    assert_close(&dx, &[0.5, 1.0, 1.5, -0.5, -1.0, -1.5], 1e-15, "std c=0 grad");
    // torch.std(tensor([[2., 2., 2.], [1., 2., 3.]]), dim=1): a constant row has std 0 and
    // gradient 0 (not 0/0)
    let (y, dx) = weighted(&[2.0, 2.0, 2.0, 1.0, 2.0, 3.0], &[2, 3], |x| x.std_axis(1, 1, false));
    assert_close(&y, &[0.0, 1.0], 0.0, "std constant row");
    assert_close(&dx, &[0.0, 0.0, 0.0, -1.0, 0.0, 1.0], 0.0, "std constant row grad");
}

#[test]
fn std_axis_panics_naming_the_axis_and_shape() {
    let msg = panic_message(|| {
        let _ = Tape::new().var(Tensor::zeros(&[2])).std_axis(1, 1, false);
    });
    assert_eq!(msg, "std_axis: axis 1 is out of range for shape [2] (1 axes)");
}

#[test]
fn min_axis_gradient_goes_to_the_first_min_or_nan_as_pytorch() {
    // torch.min(x, dim=1).values, x = tensor([[1., nan, 0.], [nan, nan, -1.]]): NaN wins, the
    // first NaN gets the gradient
    let (y, dx) = weighted(&[1.0, NAN, 0.0, NAN, NAN, -1.0], &[2, 3], |x| x.min_axis(1, false));
    assert_close(&y, &[NAN, NAN], 0.0, "min NaN");
    assert_close(&dx, &[0.0, 1.0, 0.0, 2.0, 0.0, 0.0], 0.0, "min NaN grad");
    // torch.min(tensor([[1., 0., 0.], [2., 2., 2.]]), dim=1).values: ties go to the first
    let (y, dx) = weighted(&[1.0, 0.0, 0.0, 2.0, 2.0, 2.0], &[2, 3], |x| x.min_axis(1, false));
    assert_close(&y, &[0.0, 2.0], 0.0, "min ties");
    assert_close(&dx, &[0.0, 1.0, 0.0, 2.0, 0.0, 0.0], 0.0, "min ties grad");
    assert!(Tape::new().var(Tensor::zeros(&[2])).min_axis(0, true).shape() == [1]);
    let msg = panic_message(|| {
        let _ = Tape::new().var(Tensor::zeros(&[2, 0])).min_axis(1, false);
    });
    assert_eq!(msg, "min_axis: axis 1 of shape [2, 0] is empty");
}

#[test]
fn var_of_lanes_far_from_zero_is_exact_not_pytorchs_welford() {
    // One lane near -1e9. The exact variance (rationals) is 1.8457332763036096; PyTorch
    // 2.15's per-lane var, `x.var(1)` of this as a [1, 3, 3] tensor, uses Welford's running
    // update and gives 1.8457333909432094. Two passes keep the digits (docs/reliability.md).
    let lane = [-999999998.83, -1000000001.25, -1000000001.11];
    let x = Tensor::new(lane.iter().flat_map(|&v| [v; 3]).collect(), &[1, 3, 3]).unwrap();
    for v in x.var_axis(1, 1, false).data() {
        approx::assert_relative_eq!(*v, 1.8457332763036096, max_relative = 1e-14);
    }
}
