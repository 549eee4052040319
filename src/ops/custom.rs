//! Ops users write themselves, without touching tapegrad's op list: implement [`CustomOp`]
//! (a forward and a backward over plain tensors) and record it with [`Var::custom`]. The node
//! shows up in dumps, DOT pictures and anomaly reports under the name you give it, and
//! `gradcheck` checks it like any built-in op.

use std::fmt;
use std::sync::Arc;

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
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

    /// The backward as a differentiable computation, for second derivatives
    /// ([`Var::backward_graph`]): one entry per input, its gradient built from `inputs`,
    /// `output` and `upstream` with ordinary `Var` ops (or `None` for no gradient).
    ///
    /// The default, `None`, says the op has no such form: `backward_graph` then records the
    /// gradients [`CustomOp::backward`] computes as nodes that cannot be differentiated again
    /// (PyTorch's `once_differentiable`): first derivatives through `backward_graph` are right,
    /// and asking for a second one through this op panics, naming it.
    ///
    /// ```
    /// use tapegrad::{CustomOp, Tape, Tensor, Var};
    ///
    /// struct Square;
    /// impl CustomOp for Square {
    ///     fn name(&self) -> String {
    ///         "square".into()
    ///     }
    ///     fn forward(&self, inputs: &[&Tensor]) -> Tensor {
    ///         inputs[0].map(|x| x * x)
    ///     }
    ///     fn backward(&self, inputs: &[&Tensor], _: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
    ///         vec![Some(Tensor::from_fn(g.shape(), |ix| 2.0 * inputs[0].get(ix) * g.get(ix)))]
    ///     }
    ///     fn backward_graph<'t>(&self, inputs: &[Var<'t>], _: Var<'t>, g: Var<'t>) -> Option<Vec<Option<Var<'t>>>> {
    ///         Some(vec![Some(2.0 * inputs[0] * g)])
    ///     }
    /// }
    ///
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::scalar(3.0));
    /// let dx = Var::custom(&[x], Square).backward_graph().wrt(x).unwrap(); // 2x
    /// assert_eq!(dx.backward().wrt(x).unwrap().item(), 2.0);
    /// ```
    fn backward_graph<'t>(
        &self,
        _inputs: &[Var<'t>],
        _output: Var<'t>,
        _upstream: Var<'t>,
    ) -> Option<Vec<Option<Var<'t>>>> {
        None
    }
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
        let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
        self.check_grads("backward", &shapes, grads.iter().map(|g| g.as_ref().map(Tensor::shape)));
        for (k, grad) in grads.into_iter().enumerate() {
            if let Some(grad) = grad {
                cx.add(k, grad);
            }
        }
    }

    /// The user's [`CustomOp::backward_graph`]; without one, [`CustomOp::backward`]'s
    /// gradients recorded as [`OnceDifferentiable`] nodes.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        let inputs: Vec<Var<'t>> = (0..cx.arity()).map(|k| cx.input(k)).collect();
        let shapes: Vec<Vec<usize>> = (0..cx.arity()).map(|k| cx.input_shape(k)).collect();
        let shapes: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
        let (output, upstream) = (cx.output(), cx.upstream());
        let grads = match self.0.backward_graph(&inputs, output, upstream) {
            Some(grads) => {
                // A Var of another tape would index that tape's nodes as if they were this one's.
                if let Some(k) = grads.iter().position(|g| g.is_some_and(|g| !std::ptr::eq(g.tape(), cx.tape))) {
                    panic!(
                        "custom op {}: backward_graph returned a gradient for input {k} recorded on another tape; \
                         build it from the Vars it is given",
                        self.0.name()
                    );
                }
                let grad_shapes: Vec<Option<Vec<usize>>> = grads.iter().map(|g| g.map(Var::shape)).collect();
                self.check_grads("backward_graph", &shapes, grad_shapes.iter().map(Option::as_deref));
                grads
            }
            None => {
                let values: Vec<Tensor> = inputs.iter().map(|v| v.value()).collect();
                let refs: Vec<&Tensor> = values.iter().collect();
                let grads = self.0.backward(&refs, &output.value(), &upstream.value());
                self.check_grads("backward", &shapes, grads.iter().map(|g| g.as_ref().map(Tensor::shape)));
                let mut read = inputs.clone();
                read.extend([output, upstream]);
                let name = self.0.name();
                let record = |grad| cx.tape.record(OnceDifferentiable { name: name.clone() }, &read, grad);
                grads.into_iter().map(|g| g.map(record)).collect()
            }
        };
        for (k, grad) in grads.into_iter().enumerate() {
            if let Some(grad) = grad {
                cx.add(k, grad);
            }
        }
    }
}

impl Custom {
    /// Panics, naming the op, unless `grads` (from the user's `method`) has one entry per
    /// input, each shaped like its input.
    fn check_grads<'a>(
        &self,
        method: &str,
        shapes: &[&[usize]],
        grads: impl ExactSizeIterator<Item = Option<&'a [usize]>>,
    ) {
        let (name, arity) = (self.0.name(), shapes.len());
        assert!(
            grads.len() == arity,
            "custom op {name}: {method} returned {} gradients for {arity} inputs",
            grads.len()
        );
        for (k, grad) in grads.enumerate() {
            let Some(grad) = grad else { continue };
            assert!(
                grad == shapes[k],
                "custom op {name}: {method} returned a gradient of shape {grad:?} for input {k} of shape {:?}",
                shapes[k]
            );
        }
    }
}

/// A gradient of custom op `name` computed by its [`CustomOp::backward`] inside a recorded
/// backward pass: its value is right, but it has no derivative of its own. Its inputs are the
/// custom op's inputs, output and upstream gradient (what the value depends on), so a second
/// derivative that would need it reaches it and panics instead of silently giving zero.
#[derive(Clone, Debug)]
pub(crate) struct OnceDifferentiable {
    name: String,
}

impl OnceDifferentiable {
    fn refuse(&self) -> ! {
        panic!(
            "custom op {name}: cannot differentiate its gradient again (a second derivative): {name} has no \
             differentiable backward; implement CustomOp::backward_graph for it",
            name = self.name
        )
    }
}

impl Rule for OnceDifferentiable {
    fn name(&self) -> String {
        format!("{}_backward", self.name)
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing()
    }

    fn backward(&self, _: &mut BackwardCx<'_>) {
        self.refuse()
    }

    fn backward_graph<'t>(&self, _: &mut GraphCx<'_, 't>) {
        self.refuse()
    }
}
