//! `gradgradcheck`: checks second derivatives as PyTorch's `torch.autograd.gradgradcheck`
//! does, by running [`gradcheck`](crate::gradcheck) on the recorded backward pass itself.
//!
//! The function checked is `(inputs, u) -> u^T J_f(inputs)`, the vector-Jacobian product
//! recorded by [`Var::backward_graph_with`] with a random output gradient `u` that is an input
//! too: its finite differences test the derivatives of every op's differentiable backward
//! with respect to the inputs and to `u`. Nothing here computes a difference of its own.

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::autograd::{Tape, Var};
use crate::check::gradcheck::{Gradcheck, GradcheckError};
use crate::tensor::Tensor;

/// Checks the second derivatives of `f` at `inputs` with PyTorch's gradcheck tolerances
/// (eps 1e-6, atol 1e-5, rtol 1e-3): the gradients of its recorded backward pass, with
/// respect to the inputs and to a random output gradient, against central finite
/// differences. In an `Err`, input `inputs.len()` is that output gradient.
///
/// ```
/// use tapegrad::{gradgradcheck, Tensor};
/// let x = Tensor::new(vec![0.5, -1.0, 2.0], &[3])?;
/// gradgradcheck(&[x.clone()], |v| v[0].tanh() * v[0]).unwrap();
/// gradgradcheck(&[x], |v| v[0].softmax(0).log()).unwrap();
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn gradgradcheck<F>(inputs: &[Tensor], f: F) -> Result<(), GradcheckError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    Gradcheck::new().run_gradgrad(inputs, f)
}

impl Gradcheck {
    /// [`gradgradcheck`] with this check's tolerances.
    ///
    /// ```
    /// use tapegrad::{Gradcheck, Tensor};
    /// let x = Tensor::new(vec![0.3, 1.2], &[2])?;
    /// Gradcheck::new().atol(1e-6).run_gradgrad(&[x], |v| (v[0] * v[0]).exp().sum()).unwrap();
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn run_gradgrad<F>(&self, inputs: &[Tensor], f: F) -> Result<(), GradcheckError>
    where
        F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
    {
        let out_shape = {
            let tape = Tape::new();
            f(&tape.vars(inputs)).shape()
        };
        // A fixed random output gradient (PyTorch draws `randn_like` each call; a seed makes
        // a failure reproducible).
        let seed = Tensor::randn(&out_shape, &mut StdRng::seed_from_u64(0x5eed));
        let mut all = inputs.to_vec();
        all.push(seed);
        let n = inputs.len();
        self.run_named("gradgradcheck", &all, |v| vector_jacobian_product(&v[..n], v[n], &f))
    }
}

/// `u^T J_f(xs)` recorded on the tape: every input's gradient, flattened and joined.
fn vector_jacobian_product<'t, F>(xs: &[Var<'t>], u: Var<'t>, f: &F) -> Var<'t>
where
    F: for<'s> Fn(&[Var<'s>]) -> Var<'s>,
{
    let grads = f(xs).backward_graph_with(u);
    let parts: Vec<Var<'t>> = xs
        .iter()
        .map(|&x| {
            let numel = x.shape().iter().product::<usize>();
            let g = grads.wrt(x).unwrap_or_else(|| x.tape().constant(Tensor::zeros(&x.shape())));
            g.reshape(&[numel])
        })
        .collect();
    Var::concat(&parts, 0)
}
