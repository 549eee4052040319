//! The tape: [`Tape`] owns the recorded nodes in execution order.
//!
//! Nodes are appended in execution order, so an input always has a smaller id than the node
//! that uses it: reverse id order is already a topological order, and backward is one loop
//! (see [`backward`](super::backward)).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::Range;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smallvec::{SmallVec, smallvec};

use crate::autograd::leaf::{ForwardOnly, Leaf};
use crate::autograd::{Rule, Var};
use crate::ops::Op;
use crate::tensor::Tensor;

/// The node ids an op read, in the order its forward passed them.
pub(crate) type Inputs = SmallVec<[usize; 2]>;

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
pub struct Tape {
    pub(crate) nodes: RefCell<Vec<Node>>,
    /// Unique for the life of the process: a [`Grads`](crate::Grads) recognises its tape by
    /// it, never by address (a new tape may be allocated where a dropped one was).
    id: TapeId,
    /// Anomaly mode: see [`Tape::with_anomaly_detection`].
    anomaly: bool,
    /// Per-node timing: see [`Tape::with_profiling`].
    pub(crate) profile: Option<Timings>,
    /// False on a [`Tape::no_grad`] tape and inside [`Tape::without_grad`]: ops record values
    /// only, and no gradient flows through them.
    grad_enabled: Cell<bool>,
    /// Made by [`Tape::no_grad`]: `backward` refuses to run.
    forward_only: bool,
    /// The id ranges of the nodes recorded by [`Var::backward_graph`] (recorded backward
    /// passes), so dumps and pictures show where the forward ends. Kept here, not per node,
    /// so that recording an op costs nothing more for it.
    recorded_backward: RefCell<Vec<Range<usize>>>,
    /// Set once [`Var::backward_wrt_releasing`] has released values of this tape: later
    /// backward passes check that each rule still has the values it reads.
    pub(crate) released: Cell<bool>,
}

/// What a profiling tape measures: per node, the wall time from the previous node's recording
/// to its own (its forward, and any user code in between), and the time of its backward rule
/// in the last backward pass.
pub(crate) struct Timings {
    pub(crate) forward: RefCell<Vec<Duration>>,
    pub(crate) backward: RefCell<Vec<Option<Duration>>>,
    last: Cell<Instant>,
}

/// A tape's identity: a number no other tape of this process has had or will have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TapeId(u64);

impl TapeId {
    fn fresh() -> TapeId {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        TapeId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// One recorded operation: what it was, which nodes it read, its forward value, and whether
/// any gradient flows through it.
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) inputs: Inputs,
    pub(crate) value: Tensor,
    /// True when some input (transitively) is a [`Tape::var`] leaf. Nodes computed only from
    /// constants get no gradient and cost nothing in backward.
    pub(crate) needs_grad: bool,
    /// Set when [`Var::backward_wrt_releasing`] dropped the value's elements (its shape stays).
    pub(crate) released: bool,
    /// The line of user code that recorded the node (from `#[track_caller]`).
    pub(crate) location: &'static Location<'static>,
}

impl Node {
    /// The op's name, with leaves told apart: `var` (gets a gradient) or `constant`.
    pub(crate) fn label(&self) -> String {
        match self.op {
            Op::Leaf(_) if self.needs_grad => "var".into(),
            Op::Leaf(_) => "constant".into(),
            ref op => op.name(),
        }
    }
}

impl Default for Tape {
    fn default() -> Tape {
        Tape {
            nodes: RefCell::default(),
            id: TapeId::fresh(),
            anomaly: false,
            profile: None,
            grad_enabled: Cell::new(true),
            forward_only: false,
            recorded_backward: RefCell::default(),
            released: Cell::new(false),
        }
    }
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

    /// An empty tape that times every node: the forward time of each op (the wall time from
    /// the previous node's recording to its own, so any code you run between ops counts too)
    /// and the time of its backward rule in the last backward pass. Read them with
    /// [`Tape::profile`], or as columns of [`Tape::dump`] with `.profile()`. Without it, the
    /// check costs one branch per op.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::with_profiling();
    /// let x = tape.var(Tensor::ones(&[64, 64]));
    /// let loss = x.matmul(x).tanh().sum();
    /// loss.backward();
    /// let profile = tape.profile().unwrap();
    /// assert_eq!(profile.nodes.len(), 4);
    /// assert!(profile.by_op().iter().any(|kind| kind.op == "matmul"));
    /// print!("{}", tape.dump().profile());
    /// ```
    pub fn with_profiling() -> Tape {
        let timings =
            Timings { forward: RefCell::default(), backward: RefCell::default(), last: Cell::new(Instant::now()) };
        Tape { profile: Some(timings), ..Tape::default() }
    }

    /// A tape for evaluation: it records every op's value and nothing for backward, as a
    /// forward under PyTorch's `torch.no_grad()`. No node needs a gradient, no op keeps what
    /// its backward would read (arg-max positions, masks, ids), and [`Var::backward`] on any
    /// of its nodes panics, saying so. Use it for evaluation loops: one per batch, dropped
    /// after it (a tape frees its values when it drops; `Var`s are `Copy` handles, so the tape
    /// cannot tell earlier that a value is no longer wanted).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::no_grad();
    /// let w = tape.var(Tensor::ones(&[2, 2]));
    /// let x = tape.constant(Tensor::ones(&[3, 2]));
    /// let logits = x.matmul(w).max_axis(1, false); // values only
    /// assert_eq!(logits.value().data(), &[2.0, 2.0, 2.0]);
    /// assert!(!tape.is_grad_enabled());
    /// assert_eq!(tape.memory().kept_bytes(), 0); // nothing kept for backward
    /// ```
    ///
    /// ```should_panic
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::no_grad();
    /// let w = tape.var(Tensor::ones(&[2]));
    /// let _ = (w * w).sum().backward(); // panics: "backward: this tape was made by Tape::no_grad() ..."
    /// ```
    pub fn no_grad() -> Tape {
        Tape { grad_enabled: Cell::new(false), forward_only: true, ..Tape::default() }
    }

    /// Runs `f` with gradients off, as a block under PyTorch's `torch.no_grad()`: the ops it
    /// records keep their values but nothing for backward, and no gradient flows through them
    /// (each is a constant for what follows, as after [`Var::detach`]). Nodes recorded before
    /// and after are unaffected, and `backward` still works on them. Gradients are on again
    /// when `f` returns or panics.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::scalar(3.0));
    /// let frozen = tape.without_grad(|| x * x); // 9, a constant from here on
    /// let y = x * frozen;
    /// assert_eq!(y.backward().wrt(x).unwrap().item(), 9.0); // not 27 = d(x^3)/dx
    /// ```
    pub fn without_grad<R>(&self, f: impl FnOnce() -> R) -> R {
        /// Restores the previous setting on return and on unwind.
        struct Restore<'a>(&'a Cell<bool>, bool);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.set(self.1);
            }
        }
        let _restore = Restore(&self.grad_enabled, self.grad_enabled.replace(false));
        f()
    }

    /// Whether ops record what backward needs: false on a [`Tape::no_grad`] tape and inside
    /// [`Tape::without_grad`].
    pub fn is_grad_enabled(&self) -> bool {
        self.grad_enabled.get()
    }

    /// Whether this tape was made by [`Tape::no_grad`].
    pub(crate) fn forward_only(&self) -> bool {
        self.forward_only
    }

    /// Whether this tape is in anomaly mode.
    pub fn anomaly_detection(&self) -> bool {
        self.anomaly
    }

    pub(crate) fn id(&self) -> TapeId {
        self.id
    }

    /// Marks every node recorded until the guard drops as part of a recorded backward pass.
    pub(crate) fn recording_backward(&self) -> impl Drop + '_ {
        struct Mark<'a>(&'a Tape, usize);
        impl Drop for Mark<'_> {
            fn drop(&mut self) {
                let end = self.0.len();
                self.0.recorded_backward.borrow_mut().push(self.1..end);
            }
        }
        Mark(self, self.len())
    }

    /// Whether node `id` was recorded by [`Var::backward_graph`].
    pub(crate) fn is_recorded_backward(&self, id: usize) -> bool {
        self.recorded_backward.borrow().iter().any(|r| r.contains(&id))
    }

    /// Records a differentiable leaf: backward computes its gradient.
    #[track_caller]
    pub fn var(&self, value: Tensor) -> Var<'_> {
        self.push(Op::Leaf(Leaf), Inputs::new(), value, true)
    }

    /// Records one differentiable leaf per tensor (copies of them), in order.
    #[track_caller]
    pub fn vars(&self, values: &[Tensor]) -> Vec<Var<'_>> {
        values.iter().map(|value| self.var(value.clone())).collect()
    }

    /// Records a leaf that needs no gradient (inputs, targets, masks).
    #[track_caller]
    pub fn constant(&self, value: Tensor) -> Var<'_> {
        self.push(Op::Leaf(Leaf), Inputs::new(), value, false)
    }

    /// The number of recorded nodes.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// True when nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records the result of `op` applied to `inputs`. The node needs a gradient when any of
    /// its inputs does and gradients are enabled. Panics, naming the op, when an input is on
    /// another tape.
    #[track_caller]
    pub(crate) fn record(&self, op: impl Into<Op>, inputs: &[Var<'_>], value: Tensor) -> Var<'_> {
        self.record_with(op, inputs, value, true)
    }

    /// Records the result of `op` applied to `inputs` as a node that needs no gradient
    /// whatever its inputs: the gradient stops there ([`Var::detach`]).
    #[track_caller]
    pub(crate) fn record_constant(&self, op: impl Into<Op>, inputs: &[Var<'_>], value: Tensor) -> Var<'_> {
        self.record_with(op, inputs, value, false)
    }

    #[track_caller]
    #[inline]
    fn record_with(&self, op: impl Into<Op>, inputs: &[Var<'_>], value: Tensor, differentiable: bool) -> Var<'_> {
        // A `Var` borrows its tape, so a live tape at the same address is the same tape: the
        // address is enough here (`Grads`, which outlive tapes, compare ids).
        if inputs.iter().any(|v| !std::ptr::eq(v.tape, self)) {
            panic!(
                "{}: the {}operands were recorded on different tapes; build the whole graph on one Tape",
                op.into().name(),
                if inputs.len() == 2 { "two " } else { "" }
            );
        }
        let ids: Inputs = match inputs {
            [a] => smallvec![a.id],
            [a, b] => smallvec![a.id, b.id],
            _ => inputs.iter().map(|v| v.id).collect(),
        };
        let op = op.into();
        let needs_grad = {
            let nodes = self.nodes.borrow();
            if self.anomaly {
                crate::autograd::anomaly::check_forward(&nodes, nodes.len(), &op, &ids, &value);
            }
            differentiable && ids.iter().any(|&input| nodes[input].needs_grad)
        };
        if !self.grad_enabled.get() {
            // No backward will run through this node: keep its name, drop whatever its op
            // saved for backward.
            return self.push(Op::ForwardOnly(ForwardOnly::of(&op)), ids, value, false);
        }
        self.push(op, ids, value, needs_grad)
    }

    #[track_caller]
    fn push(&self, op: Op, inputs: Inputs, value: Tensor, needs_grad: bool) -> Var<'_> {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { op, inputs, value, needs_grad, released: false, location: Location::caller() });
        if let Some(timings) = &self.profile {
            let now = Instant::now();
            timings.forward.borrow_mut().push(now - timings.last.replace(now));
        }
        Var { tape: self, id: nodes.len() - 1 }
    }
}

impl fmt::Debug for Tape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tape").field("nodes", &self.len()).finish()
    }
}
