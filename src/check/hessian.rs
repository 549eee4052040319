//! Second derivatives of a scalar function: the full [`hessian`], and the Hessian-vector
//! product [`hvp`] that never forms it. Both differentiate a recorded backward pass
//! ([`Var::backward_graph`]).

use crate::autograd::{Tape, Var};
use crate::check::jacobian::jacobian_named;
use crate::tensor::Tensor;

/// The gradient of `f` at `x` as a differentiable `Var` (zeros where `f` does not depend on
/// `x`). Panics, naming `op`, unless `f` returns one value.
#[track_caller]
fn gradient<'t, F>(op: &str, f: &F, x: Var<'t>) -> Var<'t>
where
    F: for<'s> Fn(Var<'s>) -> Var<'s>,
{
    let y = f(x);
    let shape = y.shape();
    assert!(shape.iter().product::<usize>() == 1, "{op}: f returned shape {shape:?}; it must return one value");
    y.backward_graph().wrt(x).unwrap_or_else(|| x.tape().constant(Tensor::zeros(&x.shape())))
}

/// The Hessian of a one-valued `f` at `x`: `H[i..., j...] = d^2 f / dx[i...] dx[j...]`, shape
/// `x.shape ++ x.shape` (as `torch.autograd.functional.hessian`).
///
/// It is the Jacobian of the recorded gradient: one [`Var::backward_graph`], then one
/// backward per element of `x`. The Hessian of the mean cross-entropy with respect to one
/// row of logits is `(diag(p) - p p^T) / rows`, the softmax Jacobian again:
///
/// ```
/// use tapegrad::{hessian, Tensor};
/// let z = Tensor::new(vec![1.0, 2.0, 0.5], &[1, 3])?;
/// let h = hessian(|v| v.cross_entropy(&[2]), &z);
/// assert_eq!(h.shape(), &[1, 3, 1, 3]);
/// let e: Vec<f64> = z.data().iter().map(|v| v.exp()).collect();
/// let p: Vec<f64> = e.iter().map(|v| v / e.iter().sum::<f64>()).collect();
/// for i in 0..3 {
///     for j in 0..3 {
///         let expected = if i == j { p[i] - p[i] * p[j] } else { -p[i] * p[j] };
///         assert!((h.get(&[0, i, 0, j]) - expected).abs() < 1e-15);
///     }
/// }
/// # Ok::<(), tapegrad::Error>(())
/// ```
///
/// Panics, before allocating it, when the Hessian would have more than
/// [`MAX_JACOBIAN_ENTRIES`](crate::MAX_JACOBIAN_ENTRIES) entries: `x` of more than
/// 16,384 elements.
#[track_caller]
pub fn hessian<F>(f: F, x: &Tensor) -> Tensor
where
    F: for<'t> Fn(Var<'t>) -> Var<'t>,
{
    jacobian_named("hessian", |v| gradient("hessian", &f, v), x)
}

/// The Hessian-vector product `H v` of a one-valued `f` at `x`, shape of `x`, without forming
/// the Hessian: one recorded backward gives the gradient `g(x)` as a `Var`, and one plain
/// backward of `sum(g(x) * v)` gives `d/dx (g . v) = H v` (Pearlmutter's trick, PyTorch's
/// `torch.autograd.functional.hvp`). About the cost of two gradients.
///
/// Panics when `v`'s shape differs from `x`'s.
///
/// ```
/// use tapegrad::{hvp, Tensor};
/// // f(x) = x0^2 x1 + x1^3: H = [[2 x1, 2 x0], [2 x0, 6 x1]].
/// let x = Tensor::new(vec![1.0, 2.0], &[2])?;
/// let v = Tensor::new(vec![1.0, -1.0], &[2])?;
/// let hv = hvp(|x| (x.narrow(0, 0, 1).powf(2.0) * x.narrow(0, 1, 1) + x.narrow(0, 1, 1).powf(3.0)).sum(), &x, &v);
/// assert_eq!(hv.data(), &[4.0 - 2.0, 2.0 - 12.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[track_caller]
pub fn hvp<F>(f: F, x: &Tensor, v: &Tensor) -> Tensor
where
    F: for<'t> Fn(Var<'t>) -> Var<'t>,
{
    assert!(
        x.shape() == v.shape(),
        "hvp: vector of shape {:?} does not match input of shape {:?}",
        v.shape(),
        x.shape()
    );
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let g = gradient("hvp", &f, xv);
    let directional = (g * tape.constant(v.clone())).sum();
    directional.backward().take(xv).unwrap_or_else(|| Tensor::zeros(x.shape()))
}
