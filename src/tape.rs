//! The tape: `Tape` owns the recorded nodes, `Var<'t>` is a `Copy` handle to one of them, and
//! `backward` walks the tape once in reverse and returns [`Grads`].
//!
//! Nodes are appended in execution order, so an input always has a smaller id than the node
//! that uses it: reverse id order is already a topological order, and backward is one loop.

use std::cell::{Ref, RefCell};
use std::fmt;
use std::panic::Location;

use crate::ops::Op;
use crate::tensor::Tensor;

/// Records every operation on [`Var`]s so that [`Var::backward`] can differentiate it.
///
/// A tape is cheap: make a fresh one per training step and drop it afterwards.
///
/// ```
/// use tapegrad::{Tape, Tensor};
/// let tape = Tape::new();
/// let x = tape.var(Tensor::scalar(3.0));
/// let y = x * x + 2.0 * x; // dy/dx = 2x + 2 = 8
/// let grads = y.backward();
/// assert_eq!(grads.wrt(x).unwrap().item(), 8.0);
/// ```
#[derive(Default)]
pub struct Tape {
    pub(crate) nodes: RefCell<Vec<Node>>,
    /// Anomaly mode: see [`Tape::with_anomaly_detection`].
    anomaly: bool,
}

/// One recorded operation: what it was, its forward value, and whether any gradient flows
/// through it.
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) value: Tensor,
    /// True when some input (transitively) is a [`Tape::var`] leaf. Nodes computed only from
    /// constants get no gradient and cost nothing in backward.
    pub(crate) needs_grad: bool,
    /// The line of user code that recorded the node (from `#[track_caller]`).
    pub(crate) location: &'static Location<'static>,
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Tape {
        Tape::default()
    }

    /// An empty tape in anomaly mode: the first op whose forward output holds NaN or ±inf
    /// panics at once, and so does the first backward rule that produces a NaN or ±inf
    /// gradient. The message names the op, its node id and the line of your code that recorded
    /// it (see [`Anomaly`](crate::Anomaly); [`Var::try_backward`] returns it instead of
    /// panicking). Leaves are your data and are not checked, nor are the elements
    /// `masked_fill` was asked to set to `-inf`. Without it, checks cost one branch per op.
    ///
    /// ```should_panic
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::with_anomaly_detection();
    /// let x = tape.var(Tensor::scalar(-1.0));
    /// let y = x.log(); // panics: "anomaly: log (node 1, recorded at src/main.rs:5:11) produced NaN ..."
    /// ```
    pub fn with_anomaly_detection() -> Tape {
        Tape { anomaly: true, ..Tape::default() }
    }

    /// Whether this tape is in anomaly mode.
    pub fn anomaly_detection(&self) -> bool {
        self.anomaly
    }

    /// Records a differentiable leaf: backward computes its gradient.
    #[track_caller]
    pub fn var(&self, value: Tensor) -> Var<'_> {
        self.push(Op::Leaf, value, true)
    }

    /// Records one differentiable leaf per tensor (copies of them), in order.
    #[track_caller]
    pub fn vars(&self, values: &[Tensor]) -> Vec<Var<'_>> {
        values.iter().map(|value| self.var(value.clone())).collect()
    }

    /// Records a leaf that needs no gradient (inputs, targets, masks).
    #[track_caller]
    pub fn constant(&self, value: Tensor) -> Var<'_> {
        self.push(Op::Leaf, value, false)
    }

    /// The number of recorded nodes.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// True when nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records the result of an op. The node needs a gradient when any of its inputs does.
    #[track_caller]
    pub(crate) fn record(&self, op: Op, value: Tensor) -> Var<'_> {
        let needs_grad = {
            let nodes = self.nodes.borrow();
            if self.anomaly {
                crate::inspect::check_forward(&nodes, nodes.len(), &op, &value);
            }
            op.inputs().iter().any(|&input| nodes[input].needs_grad)
        };
        self.push(op, value, needs_grad)
    }

    #[track_caller]
    fn push(&self, op: Op, value: Tensor, needs_grad: bool) -> Var<'_> {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { op, value, needs_grad, location: Location::caller() });
        Var { tape: self, id: nodes.len() - 1 }
    }
}

impl fmt::Debug for Tape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tape").field("nodes", &self.len()).finish()
    }
}

/// A handle to one node of a [`Tape`]: `Copy`, so `a * b + c` reads like math.
///
/// The lifetime ties it to its tape: a `Var` cannot outlive the tape that recorded it.
#[derive(Clone, Copy)]
pub struct Var<'t> {
    pub(crate) tape: &'t Tape,
    pub(crate) id: usize,
}

impl<'t> Var<'t> {
    /// The tape this variable lives on.
    pub fn tape(self) -> &'t Tape {
        self.tape
    }

    /// The node's index on its tape (its position in execution order).
    pub fn id(self) -> usize {
        self.id
    }

    /// A copy of the forward value.
    pub fn value(self) -> Tensor {
        self.value_ref().clone()
    }

    /// The shape of the forward value.
    pub fn shape(self) -> Vec<usize> {
        self.value_ref().shape().to_vec()
    }

    /// The value of a one-element variable. Panics otherwise.
    #[track_caller]
    pub fn item(self) -> f64 {
        self.value_ref().item()
    }

    /// Borrows the forward value without copying it.
    pub(crate) fn value_ref(self) -> Ref<'t, Tensor> {
        Ref::map(self.tape.nodes.borrow(), |nodes| &nodes[self.id].value)
    }

    /// Panics unless `other` is on the same tape: the ids of two tapes mean nothing to each
    /// other.
    #[track_caller]
    pub(crate) fn same_tape(self, other: Var<'_>, op: &str) {
        assert!(
            std::ptr::eq(self.tape, other.tape),
            "{op}: the two operands were recorded on different tapes; build the whole graph on one Tape"
        );
    }

    /// Reverse-mode differentiation of a one-element output: the gradient of this value with
    /// respect to every node that leads to it.
    ///
    /// Panics when the value has more than one element (use [`Var::backward_with`] for a
    /// vector-Jacobian product).
    #[track_caller]
    pub fn backward(self) -> Grads {
        self.backward_with(self.scalar_seed("backward"))
    }

    /// The seed `1` of a one-element output; panics, naming `op`, for a larger one.
    #[track_caller]
    fn scalar_seed(self, op: &str) -> Tensor {
        let shape = self.shape();
        assert!(
            shape.iter().product::<usize>() == 1,
            "{op}: output of shape {shape:?} is not a single value; reduce it (sum, mean, a loss) \
             or call backward_with(seed) with a seed of that shape"
        );
        Tensor::ones(&shape)
    }

    /// Backward from an arbitrary output gradient `seed` (same shape as this value): computes
    /// the vector-Jacobian product `seed^T J` for every node, as PyTorch's
    /// `y.backward(gradient=seed)`.
    ///
    /// In anomaly mode ([`Tape::with_anomaly_detection`]) it panics at the first rule that
    /// produces a NaN or ±inf gradient, naming that op, its node id and the line that recorded
    /// it.
    #[track_caller]
    pub fn backward_with(self, seed: Tensor) -> Grads {
        match self.run_backward(seed, self.tape.anomaly) {
            Ok(grads) => grads,
            Err(anomaly) => panic!("{anomaly}"),
        }
    }

    /// [`Var::backward`] that checks every gradient as it is made, in any mode: `Err` names
    /// the first op whose backward rule produced a NaN or ±inf, its node id and the line that
    /// recorded it (see [`Anomaly`](crate::Anomaly)).
    #[track_caller]
    pub fn try_backward(self) -> Result<Grads, crate::Anomaly> {
        self.run_backward(self.scalar_seed("try_backward"), true)
    }

    /// The backward loop; with `check`, each rule's input gradients are checked for NaN/inf.
    #[track_caller]
    fn run_backward(self, seed: Tensor, check: bool) -> Result<Grads, crate::Anomaly> {
        let nodes = self.tape.nodes.borrow();
        let out_shape = nodes[self.id].value.shape();
        assert!(
            seed.shape() == out_shape,
            "backward_with: seed of shape {:?} does not match output of shape {out_shape:?}",
            seed.shape()
        );
        let mut grads: Vec<Option<Tensor>> = vec![None; self.id + 1];
        if nodes[self.id].needs_grad {
            grads[self.id] = Some(seed);
        }
        if check {
            crate::inspect::check_backward(&nodes, self.id, &grads, true)?;
        }
        // One loop from the output down to the first node: every node's gradient is complete
        // before it is visited, because all its consumers have larger ids.
        for id in (0..=self.id).rev() {
            let Some(upstream) = grads[id].take() else { continue };
            let node = &nodes[id];
            let mut sink = GradSink { nodes: &nodes, grads: &mut grads };
            crate::ops::backward(&node.op, &node.value, &upstream, &nodes, &mut sink);
            grads[id] = Some(upstream);
            if check {
                crate::inspect::check_backward(&nodes, id, &grads, false)?;
            }
        }
        Ok(Grads { grads, tape: self.tape as *const Tape as usize })
    }
}

impl fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Var#{}{:?}", self.id, self.value_ref().shape())
    }
}

/// Where the backward rules deliver the gradients of their inputs. It drops gradients of
/// inputs that need none, and sums gradients that reach a node along several paths.
pub(crate) struct GradSink<'a> {
    nodes: &'a [Node],
    grads: &'a mut [Option<Tensor>],
}

impl GradSink<'_> {
    /// Whether `input` needs a gradient; rules skip computing what nobody wants.
    pub(crate) fn wants(&self, input: usize) -> bool {
        self.nodes[input].needs_grad
    }

    /// Adds `grad` (shaped like `input`'s value) to the gradient of `input`.
    pub(crate) fn add(&mut self, input: usize, grad: Tensor) {
        if !self.wants(input) {
            return;
        }
        debug_assert_eq!(grad.shape(), self.nodes[input].value.shape(), "gradient shape of node {input}");
        match &mut self.grads[input] {
            Some(sum) => sum.add_assign_same_shape(&grad),
            empty => *empty = Some(grad),
        }
    }
}

/// The gradients computed by one backward pass, one per node of the tape that leads to the
/// output.
#[derive(Clone, Debug)]
pub struct Grads {
    grads: Vec<Option<Tensor>>,
    /// The address of the tape, to refuse `Var`s from another tape.
    tape: usize,
}

impl Grads {
    /// The gradient of the output with respect to `v` (leaf or intermediate): `None` where `v`
    /// does not influence the output, and for constants.
    ///
    /// Panics when `v` belongs to another tape.
    #[track_caller]
    pub fn wrt(&self, v: Var<'_>) -> Option<&Tensor> {
        assert!(
            v.tape as *const Tape as usize == self.tape,
            "Grads::wrt: Var#{} belongs to another tape than the one that ran backward",
            v.id
        );
        self.grads.get(v.id).and_then(Option::as_ref)
    }

    /// Takes the gradient of `v` out, leaving `None` (saves a copy in optimizers).
    #[track_caller]
    pub fn take(&mut self, v: Var<'_>) -> Option<Tensor> {
        self.wrt(v)?;
        self.grads[v.id].take()
    }

    /// The gradient of the node with id `id`, if any.
    pub fn by_id(&self, id: usize) -> Option<&Tensor> {
        self.grads.get(id).and_then(Option::as_ref)
    }
}
