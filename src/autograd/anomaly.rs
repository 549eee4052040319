//! Anomaly mode: the first NaN or infinity, named by op, node id and the line that made it.
//!
//! Off by default. When off, recording an op costs one predictable branch on a `bool` and
//! backward one per node; nothing is allocated.

use std::fmt;
use std::panic::Location;

use crate::autograd::{Node, Rule};
use crate::ops::Op;
use crate::tensor::Tensor;
use crate::tensor::shape::unravel;

/// Where an [`Anomaly`] appeared.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// In an op's forward output.
    Forward,
    /// In a gradient computed by an op's backward rule.
    Backward,
    /// In the seed handed to `backward_with`.
    Seed,
}

/// The first NaN or infinity found by anomaly mode (see
/// [`Tape::with_anomaly_detection`](crate::Tape::with_anomaly_detection)): which op made it,
/// its node id and the line of user code that recorded that node.
///
/// ```
/// use tapegrad::{Phase, Tape, Tensor};
/// let tape = Tape::new();
/// let x = tape.var(Tensor::scalar(0.0));
/// let y = x.sqrt(); // forward: sqrt(0) = 0, fine; backward: 1 / (2 sqrt(0)) = inf
/// let anomaly = y.try_backward().unwrap_err();
/// assert_eq!((anomaly.phase, anomaly.op.as_str(), anomaly.node), (Phase::Backward, "sqrt", 1));
/// assert_eq!(anomaly.location.line(), line!() - 3);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// Forward output, backward gradient, or the seed.
    pub phase: Phase,
    /// The op, as users write it (`"log"`, `"softmax(1)"`, ...).
    pub op: String,
    /// Its node id on the tape.
    pub node: usize,
    /// The line of user code that recorded the node.
    pub location: &'static Location<'static>,
    /// For [`Phase::Backward`]: the input whose gradient went bad (the op's own node for the
    /// other phases).
    pub tensor_of: usize,
    /// The multi-index of the first bad element.
    pub element: Vec<usize>,
    /// Its value: NaN, inf or -inf.
    pub value: f64,
    /// For [`Phase::Forward`]: inputs that already held NaN/inf (leaves: anomaly mode does not
    /// check data you bring in).
    pub bad_inputs: Vec<usize>,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Anomaly { op, node, location, element, value, .. } = self;
        match self.phase {
            Phase::Forward => {
                write!(
                    f,
                    "anomaly: {op} (node {node}, recorded at {location}) produced {value} in its forward output \
                     at {element:?}"
                )?;
                if !self.bad_inputs.is_empty() {
                    write!(f, "; its input node(s) {:?} already held NaN or inf", self.bad_inputs)?;
                }
                Ok(())
            }
            Phase::Backward => write!(
                f,
                "anomaly: the backward of {op} (node {node}, recorded at {location}) produced {value} in the \
                 gradient of node {} at {element:?}",
                self.tensor_of
            ),
            Phase::Seed => write!(
                f,
                "anomaly: the seed of backward from {op} (node {node}, recorded at {location}) holds {value} at \
                 {element:?}"
            ),
        }
    }
}

impl std::error::Error for Anomaly {}

/// The first non-finite element of `t` that `skip` does not exclude, as (flat index, value).
fn first_non_finite(t: &Tensor, skip: impl Fn(usize) -> bool) -> Option<(usize, f64)> {
    t.data().iter().enumerate().find(|&(i, v)| !v.is_finite() && !skip(i)).map(|(i, &v)| (i, v))
}

/// Anomaly mode's forward check of an op about to become node `node`: panics, at the user's
/// line, when its output holds NaN or ±inf. Elements an op was asked to set to a non-finite
/// constant (`masked_fill(mask, -inf)`) are the user's data, like leaves, and pass.
#[track_caller]
pub(crate) fn check_forward(nodes: &[Node], node: usize, op: &Op, inputs: &[usize], value: &Tensor) {
    let Some((at, bad)) = first_non_finite(value, |i| op.requested_non_finite(i)) else { return };
    let bad_inputs = inputs.iter().copied().filter(|&i| nodes[i].value.data().iter().any(|v| !v.is_finite())).collect();
    let anomaly = Anomaly {
        phase: Phase::Forward,
        op: op.name(),
        node,
        location: Location::caller(),
        tensor_of: node,
        element: unravel(at, value.shape()),
        value: bad,
        bad_inputs,
    };
    panic!("{anomaly}");
}

/// Anomaly mode's backward check, run right after node `node`'s rule: the first non-finite
/// element among the gradients of its inputs, or of the seed when `node` is the output and no
/// rule has run yet (`seed_only`).
pub(crate) fn check_backward(
    nodes: &[Node],
    node: usize,
    grads: &[Option<Tensor>],
    seed_only: bool,
) -> Result<(), Anomaly> {
    let anomaly = |phase, tensor_of: usize, (at, value): (usize, f64)| Anomaly {
        phase,
        op: nodes[node].label(),
        node,
        location: nodes[node].location,
        tensor_of,
        element: unravel(at, nodes[tensor_of].value.shape()),
        value,
        bad_inputs: Vec::new(),
    };
    if seed_only {
        return match grads[node].as_ref().and_then(|g| first_non_finite(g, |_| false)) {
            Some(bad) => Err(anomaly(Phase::Seed, node, bad)),
            None => Ok(()),
        };
    }
    for &input in &nodes[node].inputs {
        if let Some(bad) = grads[input].as_ref().and_then(|g| first_non_finite(g, |_| false)) {
            return Err(anomaly(Phase::Backward, input, bad));
        }
    }
    Ok(())
}
