//! Reverse-mode differentiation: [`Var::backward`] walks the tape once, from the output down
//! to the first node, and returns [`Grads`].

use std::time::Instant;

use crate::autograd::release::{ReleasePlan, check_values_present};
#[cfg(debug_assertions)]
use crate::autograd::rule::Wants;
use crate::autograd::rule::{BackwardCx, Rule};
use crate::autograd::tape::{Node, TapeId};
use crate::autograd::{Tape, Var};
use crate::tensor::Tensor;

impl<'t> Var<'t> {
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
        self.run_backward_or_panic(seed, None, None)
    }

    /// [`Var::backward`] keeping only the gradients of the nodes in `wrt` (parameters, say), as
    /// PyTorch's `torch.autograd.grad(loss, inputs)`: every other node's gradient is freed as
    /// soon as its backward rule has used it, so a training step holds the gradients of the
    /// frontier of the backward pass instead of one per node. [`Grads::wrt`] gives `None` for
    /// nodes not listed. The pass itself is the one `backward` runs.
    ///
    /// Panics as [`Var::backward`] does, and when a `Var` of `wrt` belongs to another tape.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let w = tape.var(Tensor::new(vec![1.0, 2.0], &[2])?);
    /// let hidden = w.tanh();
    /// let loss = (hidden * hidden).sum();
    /// let grads = loss.backward_wrt(&[w]);
    /// assert_eq!(grads.wrt(w).unwrap(), loss.backward().wrt(w).unwrap());
    /// assert!(grads.wrt(hidden).is_none()); // freed during the pass
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn backward_wrt(self, wrt: &[Var<'t>]) -> Grads {
        let keep = self.keep_mask("backward_wrt", wrt);
        self.run_backward_or_panic(self.scalar_seed("backward_wrt"), Some(&keep), None)
    }

    /// [`Var::backward_wrt`] that also releases every value of the graph as soon as no backward
    /// rule still to run reads it, except the values of `wrt` and of this output: the backward
    /// of a training step, which frees the graph as it goes, as PyTorch's `backward()` frees
    /// the tensors it saved. A value no rule reads (the product under a `+`, say) goes before
    /// the pass starts, so the gradients are built in the memory those values held.
    ///
    /// The tape can still record ops on the values kept. Reading a released value
    /// ([`Var::value`], an op on it) panics, naming its node, and so does a second backward
    /// through the released graph.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let w = tape.var(Tensor::new(vec![1.0, 2.0], &[2])?);
    /// let hidden = w.tanh();
    /// let loss = (hidden * hidden).sum();
    /// let kept = loss.backward_wrt(&[w]); // keeps every value: may run again
    /// let grads = loss.backward_wrt_releasing(&[w]);
    /// assert_eq!(grads.wrt(w), kept.wrt(w));
    /// assert!((loss.item() - (1f64.tanh().powi(2) + 2f64.tanh().powi(2))).abs() < 1e-15); // the output stays
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    ///
    /// After it, `hidden`'s value is gone:
    ///
    /// ```should_panic
    /// # use tapegrad::{Tape, Tensor};
    /// # let tape = Tape::new();
    /// # let w = tape.var(Tensor::new(vec![1.0, 2.0], &[2])?);
    /// # let hidden = w.tanh();
    /// # let loss = (hidden * hidden).sum();
    /// let grads = loss.backward_wrt_releasing(&[w]);
    /// let _ = hidden.value(); // panics: released by backward_wrt_releasing
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn backward_wrt_releasing(self, wrt: &[Var<'t>]) -> Grads {
        let keep = self.keep_mask("backward_wrt_releasing", wrt);
        let seed = self.scalar_seed("backward_wrt_releasing");
        let plan = ReleasePlan::new(&self.tape.nodes.borrow(), self.id, &keep);
        self.run_backward_or_panic(seed, Some(&keep), Some(&plan))
    }

    /// Which nodes up to this output are in `wrt`; panics, naming `op`, for a `Var` of another
    /// tape.
    #[track_caller]
    fn keep_mask(self, op: &str, wrt: &[Var<'t>]) -> Vec<bool> {
        let mut keep = vec![false; self.id + 1];
        for v in wrt {
            assert!(
                std::ptr::eq(v.tape, self.tape),
                "{op}: Var #{} belongs to another tape than the output #{}",
                v.id,
                self.id
            );
            if let Some(k) = keep.get_mut(v.id) {
                *k = true;
            }
        }
        keep
    }

    /// [`Var::backward`] that checks every gradient as it is made, in any mode: `Err` names
    /// the first op whose backward rule produced a NaN or ±inf, its node id and the line that
    /// recorded it (see [`Anomaly`](crate::Anomaly)).
    #[track_caller]
    pub fn try_backward(self) -> Result<Grads, crate::Anomaly> {
        self.run_backward(self.scalar_seed("try_backward"), true, None, None)
    }

    /// [`Var::run_backward`] checking gradients only in anomaly mode, where the first bad one
    /// panics (the panicking entry points: `backward`, `backward_wrt`, ...).
    #[track_caller]
    fn run_backward_or_panic(self, seed: Tensor, keep: Option<&[bool]>, release: Option<&ReleasePlan>) -> Grads {
        match self.run_backward(seed, self.tape.anomaly_detection(), keep, release) {
            Ok(grads) => grads,
            Err(anomaly) => panic!("{anomaly}"),
        }
    }

    /// The backward loop; with `check`, each rule's input gradients are checked for NaN/inf;
    /// with `keep`, only the gradients of the nodes it marks outlive their rule; with
    /// `release`, values are released as it says.
    #[track_caller]
    fn run_backward(
        self,
        seed: Tensor,
        check: bool,
        keep: Option<&[bool]>,
        release: Option<&ReleasePlan>,
    ) -> Result<Grads, crate::Anomaly> {
        assert!(
            !self.tape.forward_only(),
            "backward: this tape was made by Tape::no_grad() and records no gradients; \
             build the graph on a Tape::new() to differentiate it"
        );
        // Borrowed mutably for the whole pass, to release values between rules (no rule
        // reaches the tape: they see only the nodes they are handed).
        let mut nodes = self.tape.nodes.borrow_mut();
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
            crate::autograd::anomaly::check_backward(&nodes, self.id, &grads, true)?;
        }
        // One loop from the output down to the first node: every node's gradient is complete
        // before it is visited, because all its consumers have larger ids.
        let mut timings = self.tape.profile.as_ref().map(|t| {
            let mut backward = t.backward.borrow_mut();
            backward.clear();
            backward.resize(nodes.len(), None);
            backward
        });
        // A graph an earlier pass released values of: each rule checks that it has its values.
        let released_before = self.tape.released.get();
        if let Some(plan) = release {
            plan.release_unread(&mut nodes);
            self.tape.released.set(true);
        }
        for id in (0..=self.id).rev() {
            if let Some(upstream) = grads[id].take() {
                if released_before {
                    check_values_present(&nodes, id);
                }
                match timings.as_mut() {
                    None => run_rule(&nodes, id, &upstream, &mut grads),
                    Some(backward) => {
                        let start = Instant::now();
                        run_rule(&nodes, id, &upstream, &mut grads);
                        backward[id] = Some(start.elapsed());
                    }
                }
                if keep.is_none_or(|keep| keep[id]) {
                    grads[id] = Some(upstream);
                }
                if check {
                    crate::autograd::anomaly::check_backward(&nodes, id, &grads, false)?;
                }
            }
            if let Some(plan) = release {
                plan.release_after(id, &mut nodes);
            }
        }
        Ok(Grads { grads, tape: self.tape.id() })
    }
}

/// Runs node `id`'s backward rule with `upstream`, accumulating into `grads`.
pub(crate) fn run_rule(nodes: &[Node], id: usize, upstream: &Tensor, grads: &mut [Option<Tensor>]) {
    let node = &nodes[id];
    let mut cx = BackwardCx {
        nodes,
        inputs: &node.inputs,
        output: &node.value,
        upstream,
        grads,
        #[cfg(debug_assertions)]
        declared: node.op.saved(Wants::new(nodes, &node.inputs)),
    };
    node.op.backward(&mut cx);
}

/// The gradients computed by one backward pass, one per node of the tape that leads to the
/// output.
#[derive(Clone, Debug)]
pub struct Grads {
    grads: Vec<Option<Tensor>>,
    /// The tape that ran backward, to refuse `Var`s of any other tape.
    tape: TapeId,
}

impl Grads {
    /// The gradient of the output with respect to `v` (leaf or intermediate): `None` where `v`
    /// does not influence the output, and for constants.
    ///
    /// Panics when `v` belongs to another tape (even one allocated where this one's tape was).
    #[track_caller]
    pub fn wrt(&self, v: Var<'_>) -> Option<&Tensor> {
        self.check_tape(v.tape, "Grads::wrt");
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

    /// Panics, naming `op`, unless these gradients were computed on `tape`.
    #[track_caller]
    pub(crate) fn check_tape(&self, tape: &Tape, op: &str) {
        assert!(
            tape.id() == self.tape,
            "{op}: these gradients were computed on another tape than the one asked about \
             (a Grads answers only for the tape that ran its backward)"
        );
    }
}
