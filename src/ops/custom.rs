//! Ops users write themselves, without touching tapegrad's op list: implement [`CustomOp`]
//! (a forward and a backward over plain tensors) and record it with [`Var::custom`]. The node
//! shows up in dumps, DOT pictures and anomaly reports under the name you give it, and
//! `gradcheck` checks it like any built-in op.

use std::fmt;
use std::sync::Arc;

use crate::autograd::{BackwardCx, Rule, Saved, Var, Wants};
use crate::tensor::Tensor;

/// A user-defined op: a forward over the input values and its backward rule.
///
/// The backward reads the input values and the output, so a custom node keeps both alive
/// for backward (the memory accounting says so).
///
/// ```
/// use tapegrad::{CustomOp, Tape, Tensor, Var, gradcheck};
///
/// /// `x^3`, written as a custom op.
/// struct Cube;
///
/// impl CustomOp for Cube {
///     fn name(&self) -> String {
///         "cube".into()
///     }
///     fn forward(&self, inputs: &[&Tensor]) -> Tensor {
///         inputs[0].map(|x| x * x * x)
///     }
///     // d(x^3)/dx = 3 x^2, times the upstream gradient.
///     fn backward(&self, inputs: &[&Tensor], _output: &Tensor, upstream: &Tensor) -> Vec<Option<Tensor>> {
///         let dx = Tensor::from_fn(inputs[0].shape(), |ix| {
///             let x = inputs[0].get(ix);
///             3.0 * x * x * upstream.get(ix)
///         });
///         vec![Some(dx)]
///     }
/// }
///
/// let tape = Tape::new();
/// let x = tape.var(Tensor::new(vec![1.0, -2.0], &[2])?);
/// let y = Var::custom(&[x], Cube).sum();
/// assert_eq!(y.backward().wrt(x).unwrap().data(), &[3.0, 12.0]);
/// gradcheck(&[Tensor::new(vec![0.5, -1.5], &[2])?], |v| Var::custom(&[v[0]], Cube))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait CustomOp: Send + Sync + 'static {
    /// The op's name in dumps, graphs and messages.
    fn name(&self) -> String;

    /// The output value, from the inputs' values (in the order given to [`Var::custom`]).
    fn forward(&self, inputs: &[&Tensor]) -> Tensor;

    /// One entry per input: its gradient (shaped like that input), or `None` for no gradient
    /// (treated as zero). `upstream` is the gradient of the final output with respect to this
    /// op's output.
    fn backward(&self, inputs: &[&Tensor], output: &Tensor, upstream: &Tensor) -> Vec<Option<Tensor>>;
}

impl<'t> Var<'t> {
    /// Records a user-defined op applied to `inputs` (see [`CustomOp`]).
    ///
    /// Panics when `inputs` is empty or the inputs are on different tapes.
    #[track_caller]
    pub fn custom(inputs: &[Var<'t>], op: impl CustomOp) -> Var<'t> {
        let Some(first) = inputs.first() else { panic!("custom op {}: no inputs", op.name()) };
        let y = {
            let values: Vec<_> = inputs.iter().map(|v| v.value_ref()).collect();
            let refs: Vec<&Tensor> = values.iter().map(|v| &**v).collect();
            op.forward(&refs)
        };
        first.tape.record(Custom(Arc::new(op)), inputs, y)
    }
}

/// The recorded state of a custom op: the user's op itself.
#[derive(Clone)]
pub(crate) struct Custom(Arc<dyn CustomOp>);

impl fmt::Debug for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Custom({})", self.0.name())
    }
}

impl Rule for Custom {
    fn name(&self) -> String {
        self.0.name()
    }

    /// A custom backward may read anything: every input and the output are kept.
    fn saved(&self, wants: Wants<'_>) -> Saved {
        (0..wants.arity()).fold(Saved::nothing().output(), Saved::input)
    }

    /// Whatever the user's [`CustomOp::backward`] returns, checked for shape.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let arity = cx.arity();
        let inputs: Vec<&Tensor> = (0..arity).map(|k| cx.operand(k)).collect();
        let grads = self.0.backward(&inputs, cx.output(), cx.upstream());
        let name = self.0.name();
        assert!(
            grads.len() == arity,
            "custom op {name}: backward returned {} gradients for {arity} inputs",
            grads.len()
        );
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        for (k, grad) in grads.into_iter().enumerate() {
            let Some(grad) = grad else { continue };
            assert!(
                grad.shape() == shapes[k].as_slice(),
                "custom op {name}: backward returned a gradient of shape {:?} for input {k} of shape {:?}",
                grad.shape(),
                shapes[k]
            );
            cx.add(k, grad);
        }
    }
}
