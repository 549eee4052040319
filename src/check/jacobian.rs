//! `jacobian(f, x)`: the full Jacobian of a small function, one backward per output element.

use crate::autograd::{Tape, Var};
use crate::tensor::Tensor;

/// The full Jacobian of `f` at `x`: `J[i..., j...] = d f(x)[i...] / d x[j...]`, with shape
/// `f(x).shape() ++ x.shape()` (as `torch.autograd.functional.jacobian`). For a vector
/// function of a vector that is the `[m, n]` matrix.
///
/// It builds `f` once on a fresh tape and runs one backward per output element, seeded with
/// that element's one-hot: row `i` is the vector-Jacobian product `e_i^T J`. So it costs
/// `f(x).numel()` backward passes: a tool for small functions, to look at.
///
/// Panics, before allocating it, when the Jacobian would have more than
/// [`MAX_JACOBIAN_ENTRIES`] entries (2 GiB), naming its size: the Hessian of a
/// 100,000-element input would take 80 GB. The same limit holds for [`jacobians`] (all
/// inputs together), [`hessian`](crate::hessian), [`gradcheck`](crate::gradcheck) and
/// [`gradgradcheck`](crate::gradgradcheck), which build Jacobians.
///
/// Softmax's Jacobian is `diag(p) - p p^T`; that of `log(softmax(x))` is `I - 1 p^T`:
///
/// ```
/// use tapegrad::{jacobian, Tensor};
/// let x = Tensor::new(vec![1.0, 2.0, 0.5], &[3])?;
/// let p = jacobian(|v| v.softmax(0), &x);
/// let s = x.clone(); // softmax by hand
/// let e: Vec<f64> = s.data().iter().map(|v| v.exp()).collect();
/// let z: f64 = e.iter().sum();
/// for i in 0..3 {
///     for j in 0..3 {
///         let (pi, pj) = (e[i] / z, e[j] / z);
///         let expected = if i == j { pi - pi * pj } else { -pi * pj };
///         assert!((p.get(&[i, j]) - expected).abs() < 1e-15);
///     }
/// }
/// let l = jacobian(|v| v.softmax(0).log(), &x);
/// assert!((l.get(&[0, 0]) - (1.0 - e[0] / z)).abs() < 1e-15); // I - 1 p^T
/// assert!((l.get(&[2, 1]) - (0.0 - e[1] / z)).abs() < 1e-15);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[track_caller]
pub fn jacobian<F>(f: F, x: &Tensor) -> Tensor
where
    F: for<'t> Fn(Var<'t>) -> Var<'t>,
{
    jacobian_named("jacobian", f, x)
}

/// [`jacobian`], its messages naming `op` (the public function that builds it).
#[track_caller]
pub(crate) fn jacobian_named<F>(op: &str, f: F, x: &Tensor) -> Tensor
where
    F: for<'t> Fn(Var<'t>) -> Var<'t>,
{
    jacobians_named(op, std::slice::from_ref(x), |v| f(v[0])).pop().expect("one input")
}

/// The most entries [`jacobian`] and the functions built on it make: 2^28, 2 GiB of `f64`.
pub const MAX_JACOBIAN_ENTRIES: usize = 1 << 28;

/// The Jacobians of `f` with respect to each of several inputs, each of shape
/// `f(..).shape() ++ inputs[k].shape()` (see [`jacobian`]). An input that does not influence
/// the output gets zeros.
///
/// ```
/// use tapegrad::{jacobians, Tensor};
/// let a = Tensor::new(vec![1.0, 2.0], &[2])?;
/// let b = Tensor::new(vec![3.0, 4.0], &[2])?;
/// let j = jacobians(&[a, b], |v| v[0] * v[1]);
/// assert_eq!(j[0].data(), &[3.0, 0.0, 0.0, 4.0]); // d(a*b)/da = diag(b)
/// assert_eq!(j[1].data(), &[1.0, 0.0, 0.0, 2.0]); // d(a*b)/db = diag(a)
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[track_caller]
pub fn jacobians<F>(inputs: &[Tensor], f: F) -> Vec<Tensor>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    jacobians_named("jacobians", inputs, f)
}

/// [`jacobians`], its messages naming `op`.
#[track_caller]
pub(crate) fn jacobians_named<F>(op: &str, inputs: &[Tensor], f: F) -> Vec<Tensor>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let tape = Tape::new();
    let vars = tape.vars(inputs);
    let out = f(&vars);
    let out_shape = out.shape();
    let outputs: usize = out_shape.iter().product();
    check_size(op, outputs, &out_shape, inputs);
    let mut rows: Vec<Vec<f64>> = inputs.iter().map(|t| Vec::with_capacity(outputs * t.numel())).collect();
    for i in 0..outputs {
        let grads = out.backward_with(unit_seed(&out_shape, i));
        for ((var, input), row) in vars.iter().zip(inputs).zip(&mut rows) {
            match grads.wrt(*var) {
                Some(g) => row.extend_from_slice(g.data()),
                None => row.extend(std::iter::repeat_n(0.0, input.numel())),
            }
        }
    }
    rows.into_iter()
        .zip(inputs)
        .map(|(data, input)| {
            let shape: Vec<usize> = out_shape.iter().chain(input.shape()).copied().collect();
            Tensor::new(data, &shape).expect("outputs x input elements")
        })
        .collect()
}

/// Panics, naming `op`, the shapes and the entries, when the Jacobians of an output of
/// `outputs` elements with respect to `inputs` would hold more than [`MAX_JACOBIAN_ENTRIES`].
#[track_caller]
fn check_size(op: &str, outputs: usize, out_shape: &[usize], inputs: &[Tensor]) {
    let entries = inputs.iter().try_fold(0usize, |sum, t| outputs.checked_mul(t.numel())?.checked_add(sum));
    if entries.is_none_or(|n| n > MAX_JACOBIAN_ENTRIES) {
        let shapes: Vec<&[usize]> = inputs.iter().map(Tensor::shape).collect();
        let entries = inputs.iter().map(|t| outputs as u128 * t.numel() as u128).sum::<u128>();
        panic!(
            "{op}: the Jacobian of an output of shape {out_shape:?} with respect to inputs of shapes {shapes:?} has \
             {entries} entries ({} bytes), over the limit of {MAX_JACOBIAN_ENTRIES} (MAX_JACOBIAN_ENTRIES)",
            entries * 8
        );
    }
}

/// The seed that picks output element `i` (zeros elsewhere): backward with it gives row `i` of
/// the Jacobian. All zeros when the output has no element `i` (an empty output).
pub(crate) fn unit_seed(shape: &[usize], i: usize) -> Tensor {
    let mut seed = Tensor::zeros(shape);
    if let Some(x) = seed.data_mut().get_mut(i) {
        *x = 1.0;
    }
    seed
}
