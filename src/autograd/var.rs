//! [`Var`]: a `Copy` handle to one node of a [`Tape`].

use std::cell::Ref;
use std::fmt;

use crate::autograd::Tape;
use crate::autograd::release::check_not_released;
use crate::tensor::Tensor;

/// A handle to one node of a [`Tape`]: `Copy`, so `a * b + c` reads like math.
///
/// The lifetime ties it to its tape: a `Var` cannot outlive the tape that recorded it.
///
/// The type is `#[must_use]`, so every op (every function returning a `Var`) is: an op never
/// changes its input in place, and `h.relu();` whose result is dropped is a bug the compiler
/// warns about.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let tape = tapegrad::Tape::new();
/// let h = tape.var(tapegrad::Tensor::zeros(&[2]));
/// h.relu(); // error: unused `Var` that must be used
/// ```
///
/// ```
/// #![deny(unused_must_use)]
/// let tape = tapegrad::Tape::new();
/// let h = tape.var(tapegrad::Tensor::zeros(&[2]));
/// let _y = h.relu(); // the same code, with the result used, compiles
/// ```
#[derive(Clone, Copy)]
#[must_use = "an op returns a new Var and leaves its inputs unchanged; use the result"]
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
    #[track_caller]
    pub fn value(self) -> Tensor {
        self.value_ref().clone()
    }

    /// The shape of the forward value.
    pub fn shape(self) -> Vec<usize> {
        self.tape.nodes.borrow()[self.id].value.shape().to_vec()
    }

    /// The value of a one-element variable. Panics otherwise.
    #[track_caller]
    pub fn item(self) -> f64 {
        self.value_ref().item()
    }

    /// Borrows the forward value without copying it. Panics, naming the node, when
    /// [`Var::backward_wrt_releasing`] has released it.
    #[track_caller]
    pub(crate) fn value_ref(self) -> Ref<'t, Tensor> {
        let nodes = self.tape.nodes.borrow();
        check_not_released(self, &nodes[self.id]);
        Ref::map(nodes, |nodes| &nodes[self.id].value)
    }

    /// This node's value with another shape of the same size, sharing its buffer (no copy)
    /// when it is large: for ops that only relabel elements (`reshape`). Both tensors stay
    /// values: a write to either copies first (see `tensor::storage`).
    #[track_caller]
    pub(crate) fn value_shared_as(self, shape: &[usize]) -> Tensor {
        self.value_ref().share_as(shape)
    }
}

impl fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Var#{}{:?}", self.id, self.shape())
    }
}
