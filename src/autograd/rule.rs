//! The contract every op fulfils: [`Rule`]. An op is one struct holding what its node must
//! remember (its parameters and whatever its forward saved); implementing [`Rule`] for it gives
//! the tape everything else it needs to know, in one place:
//!
//! - [`Rule::name`]: how the op is displayed (`"softmax(1)"`);
//! - [`Rule::saved`]: what its backward reads, declared once; the memory accounting
//!   ([`Tape::memory`](crate::Tape::memory), the dump, the DOT picture) derives from this, and
//!   in debug builds [`BackwardCx`] refuses to hand a rule a value it did not declare, so the
//!   declaration and the rule cannot drift apart;
//! - [`Rule::backward`]: the chain rule, with the derivation beside it;
//! - [`Rule::backward_graph`]: the same chain rule written with ordinary `Var` ops, so that
//!   [`Var::backward_graph`](crate::Var::backward_graph) records the backward pass on the tape
//!   and it can be differentiated again. Beside the fast form, in the same home; the test
//!   `tests/suite/ops/backward_graph.rs` runs both on every op and requires equal gradients, so the two
//!   cannot drift apart.
//!
//! The node's inputs are not part of the op: the tape records them with the node, in the order
//! the op's forward passed them, and a rule refers to them by position (`0`, `1`, ...).

use smallvec::SmallVec;

use crate::autograd::slip::{OpSlip, SlipCx};
use crate::autograd::tape::Node;
use crate::autograd::{Tape, Var};
use crate::ops::Op;
use crate::tensor::Tensor;

/// One op's backward rule and what it needs. See the [module docs](self).
pub(crate) trait Rule {
    /// The op as users write it, with its parameters: `"sum_axis(1)"`, `"mul(0.5)"`.
    fn name(&self) -> String;

    /// What [`Rule::backward`] reads besides the upstream gradient, given which inputs want a
    /// gradient (a rule computes, and so reads for, only those).
    fn saved(&self, wants: Wants<'_>) -> Saved;

    /// What [`Rule::backward`] touches: what it reads ([`Rule::saved`]) and any operand whose
    /// buffer its loops stream without using the values (binary ops stream both operands).
    /// [`Var::backward_wrt_releasing`](crate::Var::backward_wrt_releasing) keeps these alive
    /// until the rule has run.
    fn touched(&self, wants: Wants<'_>) -> Saved {
        self.saved(wants)
    }

    /// Adds the gradients of the inputs that want one, from the upstream gradient.
    fn backward(&self, cx: &mut BackwardCx<'_>);

    /// [`Rule::backward`] as a differentiable computation: adds the gradients of the inputs
    /// that want one as `Var`s recorded on the tape, built from the inputs, the output and the
    /// upstream gradient as `Var`s. Whatever the fast rule reads from saved state (an arg-max,
    /// a target) enters as a constant; whatever depends on the inputs (a softmax, a layer
    /// norm's `1/std`) is recomputed with ops, so that its own derivative is right.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>);

    /// Whether element `i` of this op's forward value may be non-finite by the user's request
    /// (`masked_fill(mask, -inf)`): anomaly mode then lets it pass, as it does leaves.
    fn requested_non_finite(&self, _i: usize) -> bool {
        false
    }

    /// The slips a hand derivation of this op's backward typically makes, each as the
    /// gradient it would hand to one input instead of the right one (see
    /// [`slip`](super::slip)): for [`Derivation`](crate::Derivation)'s search. None by
    /// default; the generic slips (a sign, a constant factor, a path left out) need no
    /// declaration.
    fn slips(&self, _cx: &SlipCx<'_>) -> Vec<OpSlip> {
        Vec::new()
    }
}

/// Which inputs of a node want a gradient, by position.
#[derive(Clone, Copy)]
pub(crate) struct Wants<'a> {
    nodes: &'a [Node],
    inputs: &'a [usize],
}

impl<'a> Wants<'a> {
    pub(crate) fn new(nodes: &'a [Node], inputs: &'a [usize]) -> Wants<'a> {
        Wants { nodes, inputs }
    }

    /// Whether input `k` (by position) wants a gradient.
    pub(crate) fn input(self, k: usize) -> bool {
        self.nodes[self.inputs[k]].needs_grad
    }

    /// The number of inputs.
    pub(crate) fn arity(self) -> usize {
        self.inputs.len()
    }
}

/// What node `id`'s rule declares with `declare` ([`Rule::saved`] or [`Rule::touched`]), its
/// inputs as node ids: nothing when the node needs no gradient (its rule never runs).
pub(crate) fn declared_by(nodes: &[Node], id: usize, declare: impl FnOnce(&Op, Wants<'_>) -> Saved) -> Saved {
    let node = &nodes[id];
    if !node.needs_grad {
        return Saved::default();
    }
    let mut declared = declare(&node.op, Wants::new(nodes, &node.inputs));
    declared.inputs.iter_mut().for_each(|k| *k = node.inputs[*k]);
    declared
}

/// What one node's backward rule reads besides the upstream gradient: built with
/// `Saved::nothing().output().input(0).extra("lse", bytes)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Saved {
    /// The node's own forward value.
    pub(crate) output: bool,
    /// The inputs whose values it reads, by position.
    pub(crate) inputs: SmallVec<[usize; 3]>,
    /// Data saved by the op beyond values: `(name, bytes)`.
    pub(crate) extras: SmallVec<[(&'static str, usize); 2]>,
}

impl Saved {
    /// Reads nothing but the upstream gradient.
    pub(crate) fn nothing() -> Saved {
        Saved::default()
    }

    /// Reads the node's own forward value.
    pub(crate) fn output(mut self) -> Saved {
        self.output = true;
        self
    }

    /// Reads the value of input `k`.
    pub(crate) fn input(self, k: usize) -> Saved {
        self.input_if(true, k)
    }

    /// Reads the value of input `k` when `cond` holds (usually: when some other input wants a
    /// gradient).
    pub(crate) fn input_if(mut self, cond: bool, k: usize) -> Saved {
        if cond && !self.inputs.contains(&k) {
            self.inputs.push(k);
        }
        self
    }

    /// Keeps data of the op's own (targets, arg-max, ...) of `bytes` bytes.
    pub(crate) fn extra(mut self, name: &'static str, bytes: usize) -> Saved {
        self.extras.push((name, bytes));
        self
    }

    /// The nodes whose values this declaration of node `id` reads, its inputs given as node
    /// ids (see [`declared_by`]): `id` itself for its output, then the inputs.
    pub(crate) fn values(&self, id: usize) -> impl Iterator<Item = usize> + '_ {
        self.output.then_some(id).into_iter().chain(self.inputs.iter().copied())
    }
}

/// The bytes of a saved slice, for [`Saved::extra`].
pub(crate) fn bytes_of<T>(v: &[T]) -> usize {
    std::mem::size_of_val(v)
}

/// What a backward rule works with: the values it declared in [`Rule::saved`], the upstream
/// gradient, and [`BackwardCx::add`] to hand a gradient to an input (dropped when that input
/// wants none).
pub(crate) struct BackwardCx<'a> {
    pub(crate) nodes: &'a [Node],
    pub(crate) inputs: &'a [usize],
    pub(crate) output: &'a Tensor,
    pub(crate) upstream: &'a Tensor,
    pub(crate) grads: &'a mut [Option<Tensor>],
    /// What the rule declared it reads; checked in debug builds.
    #[cfg(debug_assertions)]
    pub(crate) declared: Saved,
}

impl BackwardCx<'_> {
    /// Whether input `k` wants a gradient; rules skip computing what nobody wants.
    pub(crate) fn wants(&self, k: usize) -> bool {
        self.nodes[self.inputs[k]].needs_grad
    }

    /// The forward value of input `k` (declared in [`Rule::saved`]).
    pub(crate) fn input(&self, k: usize) -> &Tensor {
        #[cfg(debug_assertions)]
        assert!(
            self.declared.inputs.contains(&k),
            "a backward rule read input {k}, which its `saved` does not declare"
        );
        &self.nodes[self.inputs[k]].value
    }

    /// The value of input `k` without the declaration check: for loops that stream an operand
    /// whose values the arithmetic may not use (binary ops). Their declarations are proven by
    /// the memory tests, which overwrite every undeclared value with NaN.
    pub(crate) fn operand(&self, k: usize) -> &Tensor {
        &self.nodes[self.inputs[k]].value
    }

    /// The shape of input `k` (metadata: always available).
    pub(crate) fn input_shape(&self, k: usize) -> &[usize] {
        self.nodes[self.inputs[k]].value.shape()
    }

    /// The node's own forward value (declared in [`Rule::saved`]).
    pub(crate) fn output(&self) -> &Tensor {
        #[cfg(debug_assertions)]
        assert!(self.declared.output, "a backward rule read its output, which its `saved` does not declare");
        self.output
    }

    /// The gradient of the final output with respect to this node's value.
    pub(crate) fn upstream(&self) -> &Tensor {
        self.upstream
    }

    /// The upstream gradient with `shape` (same size), sharing its buffer when it is large
    /// (copy-on-write; see `tensor::storage`): for rules that pass the gradient on unchanged
    /// (`reshape`, `+`).
    pub(crate) fn upstream_as(&self, shape: &[usize]) -> Tensor {
        self.upstream.share_as(shape)
    }

    /// The number of inputs.
    pub(crate) fn arity(&self) -> usize {
        self.inputs.len()
    }

    /// Adds `grad` (shaped like input `k`) to input `k`'s gradient, when it wants one. Sums
    /// gradients that reach a node along several paths.
    pub(crate) fn add(&mut self, k: usize, grad: Tensor) {
        if !self.wants(k) {
            return;
        }
        let id = self.inputs[k];
        debug_assert_eq!(grad.shape(), self.nodes[id].value.shape(), "gradient shape of node {id}");
        match &mut self.grads[id] {
            Some(sum) => crate::tensor::parallel::add_assign(sum.data_mut(), grad.data()),
            empty => *empty = Some(grad),
        }
    }

    /// Adds to input `k`'s gradient in place, when it wants one: on the first path to reach
    /// `k`, `first(upstream)` builds its gradient; on later ones `into(upstream, sum)` adds
    /// this node's contribution to the gradient summed so far. For rules whose gradient is zero
    /// outside a part of the input (narrow): they add their part where it belongs instead of
    /// building a whole tensor of zeros around it and adding that.
    pub(crate) fn add_in_place(
        &mut self,
        k: usize,
        first: impl FnOnce(&Tensor) -> Tensor,
        into: impl FnOnce(&Tensor, &mut Tensor),
    ) {
        if !self.wants(k) {
            return;
        }
        let id = self.inputs[k];
        match &mut self.grads[id] {
            Some(sum) => into(self.upstream, sum),
            empty => *empty = Some(first(self.upstream)),
        }
    }

    /// Computes input `k`'s gradient with `grad` and adds it, only when `k` wants one: the
    /// usual form of a rule with one formula per input.
    pub(crate) fn add_with(&mut self, k: usize, grad: impl FnOnce(&Self) -> Tensor) {
        if self.wants(k) {
            let g = grad(self);
            self.add(k, g);
        }
    }
}

/// What [`Rule::backward_graph`] works with: the node's inputs, its output and the upstream
/// gradient as `Var`s on the same tape, and [`GraphCx::add`] to hand a gradient `Var` to an
/// input (dropped when that input wants none; summed with `+`, recorded, when it reaches an
/// input along several paths).
pub(crate) struct GraphCx<'a, 't> {
    pub(crate) tape: &'t Tape,
    pub(crate) inputs: &'a [usize],
    pub(crate) output: usize,
    pub(crate) upstream: Var<'t>,
    pub(crate) grads: &'a mut [Option<Var<'t>>],
}

impl<'t> GraphCx<'_, 't> {
    /// Whether input `k` wants a gradient.
    pub(crate) fn wants(&self, k: usize) -> bool {
        self.tape.nodes.borrow()[self.inputs[k]].needs_grad
    }

    /// Input `k` as a `Var`.
    pub(crate) fn input(&self, k: usize) -> Var<'t> {
        Var { tape: self.tape, id: self.inputs[k] }
    }

    /// The shape of input `k`.
    pub(crate) fn input_shape(&self, k: usize) -> Vec<usize> {
        self.tape.nodes.borrow()[self.inputs[k]].value.shape().to_vec()
    }

    /// The number of inputs.
    pub(crate) fn arity(&self) -> usize {
        self.inputs.len()
    }

    /// The node itself (its output) as a `Var`.
    pub(crate) fn output(&self) -> Var<'t> {
        Var { tape: self.tape, id: self.output }
    }

    /// The gradient of the final output with respect to this node's value, as a `Var`.
    pub(crate) fn upstream(&self) -> Var<'t> {
        self.upstream
    }

    /// A constant on this tape (a mask, a one-hot of targets): it gets no gradient.
    #[track_caller]
    pub(crate) fn constant(&self, value: Tensor) -> Var<'t> {
        self.tape.constant(value)
    }

    /// Adds `grad` (shaped like input `k`) to input `k`'s gradient, when it wants one.
    #[track_caller]
    pub(crate) fn add(&mut self, k: usize, grad: Var<'t>) {
        if !self.wants(k) {
            return;
        }
        let id = self.inputs[k];
        debug_assert_eq!(grad.shape(), self.input_shape(k), "gradient shape of node {id}");
        self.grads[id] = Some(match self.grads[id] {
            Some(sum) => sum + grad,
            None => grad,
        });
    }

    /// Builds input `k`'s gradient with `grad` and adds it, only when `k` wants one.
    #[track_caller]
    pub(crate) fn add_with(&mut self, k: usize, grad: impl FnOnce(&Self) -> Var<'t>) {
        if self.wants(k) {
            let g = grad(self);
            self.add(k, g);
        }
    }
}

/// A constant with at most 6 significant digits, for the labels of rules and slips: `0.5`,
/// `2.82843`, `1e-10`.
pub(crate) fn short(c: f64) -> String {
    let exact = c.to_string();
    if exact.len() <= 8 {
        return exact;
    }
    let rounded: f64 = format!("{c:.5e}").parse().unwrap_or(c);
    let plain = rounded.to_string();
    if plain.len() <= 10 { plain } else { format!("{rounded:e}") }
}
