//! One training step's numbers on a fresh tape, finite differences, and greedy decoding.

use tapegrad::{Tape, Tensor, Var};

use super::{Blocks, MAX_LEN, N_PARAMS, SeedParams, VOCAB};
use crate::chapter::{EOS, TARGETS, TOKENS};

/// The loss and gradients of one step, from a fresh tape.
#[derive(Clone, Debug)]
pub struct Step {
    /// The mean of the per-position losses.
    pub mean_loss: f64,
    /// `dL/dlogits` of the sum loss (`P - onehot` on the target rows), `[T, 6]`.
    pub dlogits: Tensor,
    /// The gradient of the sum loss for every parameter tensor, in the order of
    /// [`PARAM_NAMES`](super::PARAM_NAMES).
    pub grads: [Tensor; N_PARAMS],
}

impl SeedParams {
    /// The mean loss on [`TOKENS`] / [`TARGETS`] (forward only).
    ///
    /// ```
    /// use tapegrad_seed::model::SeedParams;
    /// assert!((SeedParams::init().mean_loss() - 1.8649829237127533).abs() < 1e-12);
    /// ```
    pub fn mean_loss(&self) -> f64 {
        let tape = Tape::new();
        let vars = self.vars(&tape);
        vars.mean_loss(vars.forward(&TOKENS).logits, &TARGETS).item()
    }

    /// The sum loss on [`TOKENS`] / [`TARGETS`] (forward only): what finite differences
    /// perturb.
    pub fn sum_loss(&self) -> f64 {
        let tape = Tape::new();
        let vars = self.vars(&tape);
        vars.sum_loss(vars.forward(&TOKENS).logits, &TARGETS).item()
    }

    /// One forward and backward on a fresh tape: the mean loss and the gradients of the SUM
    /// loss, as the model built from `blocks` computes them
    /// ([`Exact`](super::Exact) or [`Mistake::None`](crate::slips::Mistake::None) for the true
    /// ones).
    ///
    /// ```
    /// use tapegrad_seed::model::{Exact, SeedParams};
    /// let step = SeedParams::init().step(Exact);
    /// assert_eq!(step.grads[0].shape(), &[6, 16]);
    /// ```
    pub fn step(&self, blocks: impl Blocks + Copy) -> Step {
        let tape = Tape::new();
        let vars = self.vars(&tape);
        let f = vars.forward_with(&TOKENS, blocks);
        let mean_loss = vars.mean_loss(f.logits, &TARGETS).item();
        let grads = vars.sum_loss_with(f.logits, &TARGETS, blocks).backward();
        let of = |v: Var<'_>| grads.wrt(v).cloned().unwrap_or_else(|| Tensor::zeros(&v.shape()));
        Step { mean_loss, dlogits: of(f.logits), grads: vars.all.map(of) }
    }

    /// The central difference `(L(p + eps) - L(p - eps)) / (2 eps)` of the sum loss for element
    /// `at` (row-major) of parameter tensor `param` (index into
    /// [`PARAM_NAMES`](super::PARAM_NAMES)).
    ///
    /// ```
    /// use tapegrad_seed::model::{Exact, SeedParams};
    /// let p = SeedParams::init();
    /// let fd = p.finite_difference(5, 0, 1e-6); // W_O[0][0]
    /// assert!((fd - p.step(Exact).grads[5].data()[0]).abs() < 1e-8);
    /// ```
    pub fn finite_difference(&self, param: usize, at: usize, eps: f64) -> f64 {
        let mut p = self.clone();
        let x = p.tensors()[param].data()[at];
        p.tensors_mut()[param].data_mut()[at] = x + eps;
        let plus = p.sum_loss();
        p.tensors_mut()[param].data_mut()[at] = x - eps;
        let minus = p.sum_loss();
        (plus - minus) / (2.0 * eps)
    }

    /// Greedy decoding from `prompt`: appends the most probable next token until `<EOS>` or
    /// [`MAX_LEN`] tokens.
    ///
    /// ```
    /// use tapegrad_seed::chapter::BOS;
    /// use tapegrad_seed::model::SeedParams;
    /// let tokens = SeedParams::init().greedy(&[BOS]);
    /// assert_eq!(tokens[0], BOS);
    /// ```
    pub fn greedy(&self, prompt: &[usize]) -> Vec<usize> {
        let mut tokens = prompt.to_vec();
        while tokens.len() < MAX_LEN && tokens.last() != Some(&EOS) {
            let tape = Tape::new();
            let logits = self.vars(&tape).forward(&tokens).logits.value();
            let row = &logits.data()[(tokens.len() - 1) * VOCAB..tokens.len() * VOCAB];
            let next = (0..VOCAB).fold(0, |best, j| if row[j] > row[best] { j } else { best });
            tokens.push(next);
        }
        tokens
    }
}
