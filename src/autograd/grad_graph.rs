//! Differentiating the backward pass itself: [`Var::backward_graph`] walks the tape like
//! [`Var::backward`], but each node's rule runs in its differentiable form
//! ([`Rule::backward_graph`]) and records its gradients as ordinary nodes on the same tape.
//! The gradients come back as `Var`s ([`GradGraph`]), which can be used in further
//! computation and differentiated again: Hessians, Hessian-vector products, gradient
//! penalties, third derivatives.
//!
//! The plain [`Var::backward`] does not go through here and pays nothing for it.

use crate::autograd::Var;
use crate::autograd::rule::{GraphCx, Rule};
use crate::autograd::tape::TapeId;
use crate::tensor::Tensor;

impl<'t> Var<'t> {
    /// The backward pass of a one-element output, recorded on the same tape as differentiable
    /// nodes (PyTorch's `backward(create_graph=True)`, JAX's `grad` under `grad`). Each
    /// gradient is a [`Var`] ([`GradGraph::wrt`]) that can be computed with and differentiated
    /// again, as often as you like.
    ///
    /// Panics when the value has more than one element (use [`Var::backward_graph_with`]).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::scalar(0.5));
    /// let t = x.tanh();
    /// let d1 = t.backward_graph().wrt(x).unwrap(); // 1 - t^2
    /// let d2 = d1.backward_graph().wrt(x).unwrap(); // -2 t (1 - t^2)
    /// let d3 = d2.backward().wrt(x).unwrap().item(); // -2 (1 - t^2)(1 - 3 t^2)
    /// let th = 0.5f64.tanh();
    /// assert!((d1.item() - (1.0 - th * th)).abs() < 1e-15);
    /// assert!((d2.item() + 2.0 * th * (1.0 - th * th)).abs() < 1e-15);
    /// assert!((d3 + 2.0 * (1.0 - th * th) * (1.0 - 3.0 * th * th)).abs() < 1e-15);
    /// ```
    #[track_caller]
    #[must_use]
    pub fn backward_graph(self) -> GradGraph<'t> {
        let shape = self.shape();
        assert!(
            shape.iter().product::<usize>() == 1,
            "backward_graph: output of shape {shape:?} is not a single value; reduce it (sum, mean, a loss) \
             or call backward_graph_with(seed) with a seed of that shape"
        );
        let seed = {
            let _marked = self.tape.recording_backward();
            self.tape.constant(Tensor::ones(&shape))
        };
        self.backward_graph_with(seed)
    }

    /// [`Var::backward_graph`] from an output gradient `seed` of this value's shape, itself a
    /// `Var`: the recorded vector-Jacobian product `seed^T J`, differentiable with respect to
    /// the seed too (as PyTorch's `grad(y, x, grad_outputs=seed, create_graph=True)`).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![1.0, 2.0], &[2])?);
    /// let seed = tape.var(Tensor::new(vec![3.0, -1.0], &[2])?);
    /// let dx = (x * x).backward_graph_with(seed).wrt(x).unwrap(); // 2 x seed
    /// assert_eq!(dx.value().data(), &[6.0, -4.0]);
    /// let grads = dx.sum().backward();
    /// assert_eq!(grads.wrt(seed).unwrap().data(), &[2.0, 4.0]); // d/dseed = 2 x
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    #[must_use]
    pub fn backward_graph_with(self, seed: Var<'t>) -> GradGraph<'t> {
        assert!(
            seed.tape.id() == self.tape.id(),
            "backward_graph_with: the seed was recorded on another tape; build the whole graph on one Tape"
        );
        let (out_shape, seed_shape) = (self.shape(), seed.shape());
        assert!(
            seed_shape == out_shape,
            "backward_graph_with: seed of shape {seed_shape:?} does not match output of shape {out_shape:?}"
        );
        let tape = self.tape;
        let _marked = tape.recording_backward();
        let mut grads: Vec<Option<Var<'t>>> = vec![None; self.id + 1];
        if tape.nodes.borrow()[self.id].needs_grad {
            grads[self.id] = Some(seed);
        }
        // The same loop as `run_backward`: every node's gradient is complete before it is
        // visited. The rule records new nodes (ids above `self.id`), so the tape is not
        // borrowed while it runs: the op is cloned out first.
        for id in (0..=self.id).rev() {
            let Some(upstream) = grads[id] else { continue };
            let (op, inputs) = {
                let nodes = tape.nodes.borrow();
                if nodes[id].inputs.is_empty() {
                    continue;
                }
                (nodes[id].op.clone(), nodes[id].inputs.clone())
            };
            let mut cx = GraphCx { tape, inputs: &inputs, output: id, upstream, grads: &mut grads };
            op.backward_graph(&mut cx);
        }
        GradGraph { grads, tape: tape.id() }
    }
}

/// The gradients of one recorded backward pass ([`Var::backward_graph`]), as `Var`s on the
/// tape they were recorded on.
///
/// ```
/// use tapegrad::{Tape, Tensor};
/// let tape = Tape::new();
/// let x = tape.var(Tensor::scalar(3.0));
/// let c = tape.constant(Tensor::scalar(2.0));
/// let gg = (x * x * c).backward_graph();
/// assert_eq!(gg.wrt(x).unwrap().item(), 12.0); // 2 c x
/// assert!(gg.wrt(c).is_none());
/// ```
#[derive(Clone, Debug)]
pub struct GradGraph<'t> {
    grads: Vec<Option<Var<'t>>>,
    tape: TapeId,
}

impl<'t> GradGraph<'t> {
    /// The gradient of the output with respect to `v` (leaf or intermediate) as a
    /// differentiable `Var`: `None` where `v` does not influence the output, and for
    /// constants.
    ///
    /// Panics when `v` belongs to another tape.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::scalar(2.0));
    /// let y = x.powf(3.0);
    /// let dy = y.backward_graph().wrt(x).unwrap(); // 3 x^2, a Var
    /// assert_eq!(dy.item(), 12.0);
    /// assert_eq!(dy.backward().wrt(x).unwrap().item(), 12.0); // 6 x
    /// ```
    #[track_caller]
    pub fn wrt(&self, v: Var<'t>) -> Option<Var<'t>> {
        assert!(
            v.tape.id() == self.tape,
            "GradGraph::wrt: these gradients were recorded on another tape than the one asked about"
        );
        self.grads.get(v.id).copied().flatten()
    }
}
