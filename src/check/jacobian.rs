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
pub fn jacobian<F>(f: F, x: &Tensor) -> Tensor
where
    F: for<'t> Fn(Var<'t>) -> Var<'t>,
{
    jacobians(std::slice::from_ref(x), |v| f(v[0])).pop().expect("one input")
}

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
pub fn jacobians<F>(inputs: &[Tensor], f: F) -> Vec<Tensor>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let tape = Tape::new();
    let vars = tape.vars(inputs);
    let out = f(&vars);
    let out_shape = out.shape();
    let outputs: usize = out_shape.iter().product();
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

/// The seed that picks output element `i` (zeros elsewhere): backward with it gives row `i` of
/// the Jacobian. All zeros when the output has no element `i` (an empty output).
pub(crate) fn unit_seed(shape: &[usize], i: usize) -> Tensor {
    let mut seed = Tensor::zeros(shape);
    if let Some(x) = seed.data_mut().get_mut(i) {
        *x = 1.0;
    }
    seed
}
