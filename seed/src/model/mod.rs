//! The seed's tiny transformer, built only from tapegrad ops: every gradient comes from the
//! tape, none is written by hand.
//!
//! One layer, post-norm, one residual: token + position embeddings, two causal attention heads
//! of 8, an output projection, a GELU feed-forward of 64, `mh + ffn`, layer norm, LM head.
//! [`SeedVars::forward`] reads top to bottom like llm.c's `gpt2_forward`; each step it takes is
//! a method of [`Blocks`], whose default bodies are the model. The hand-derivation slips of
//! [`crate::slips`] override one block each.
//!
//! ```
//! use tapegrad::Tape;
//! use tapegrad_seed::chapter::{TARGETS, TOKENS};
//! use tapegrad_seed::model::SeedParams;
//! let params = SeedParams::init(); // Python's random.seed(42) / gauss(0, 0.1), as the series
//! let tape = Tape::new();
//! let vars = params.vars(&tape);
//! let logits = vars.forward(&TOKENS).logits;
//! let loss = vars.mean_loss(logits, &TARGETS);
//! assert!((loss.item() - 1.8649829237127533).abs() < 1e-12);
//! ```

mod params;
mod step;

pub use params::SeedParams;
pub use step::Step;

use tapegrad::{Tensor, Var, causal_mask};

use crate::chapter::TOKEN_NAMES;

/// The vocabulary size.
pub const VOCAB: usize = TOKEN_NAMES.len();
/// The width of the residual stream.
pub const D_MODEL: usize = 16;
/// The number of attention heads.
pub const N_HEADS: usize = 2;
/// The width of one head.
pub const D_K: usize = D_MODEL / N_HEADS;
/// The hidden width of the feed-forward block.
pub const D_FF: usize = 64;
/// The longest sequence (the number of learned positions).
pub const MAX_LEN: usize = 5;
/// Layer norm's epsilon.
pub const LN_EPS: f64 = 1e-5;

/// The number of parameter tensors.
pub const N_PARAMS: usize = 13;

/// The parameter tensors' names, in the order of [`SeedParams::tensors`] and [`SeedVars::all`].
pub const PARAM_NAMES: [&str; N_PARAMS] =
    ["E_tok", "E_pos", "W_Q", "W_K", "W_V", "W_O", "W1", "b1", "W2", "b2", "gamma", "beta", "W_lm"];

/// The parameters on one tape.
#[derive(Clone, Copy, Debug)]
pub struct SeedVars<'t> {
    /// The parameter variables, in the order of [`PARAM_NAMES`].
    pub all: [Var<'t>; N_PARAMS],
}

/// The intermediate values of one forward pass, for inspection (`grads.wrt(acts.logits)`).
#[derive(Clone, Copy, Debug)]
pub struct Activations<'t> {
    /// `E_tok[tokens] + E_pos[..T]`, `[T, 16]`.
    pub x: Var<'t>,
    /// The attention weights after the causal softmax, `[2, T, T]`.
    pub weights: Var<'t>,
    /// The heads' outputs joined, `[T, 16]`.
    pub concat: Var<'t>,
    /// The multi-head output `concat W_O^T`, `[T, 16]`.
    pub mh: Var<'t>,
    /// `mh + ffn(mh)`, `[T, 16]`.
    pub res: Var<'t>,
    /// The layer norm's output, `[T, 16]`.
    pub ln: Var<'t>,
    /// The logits, `[T, 6]`.
    pub logits: Var<'t>,
}

/// The steps of the forward pass that a hand derivation can get wrong, one method each. The
/// default bodies ARE the model ([`Exact`] uses them all); a slip ([`crate::slips::Mistake`])
/// overrides one, keeping its value and changing its gradient.
///
/// Shapes: `T` positions, heads stacked on the first axis.
pub trait Blocks {
    /// Per head, `Q = X W_Q[h]`, `K = X W_K[h]`, `V = X W_V[h]`, batched over the stacked
    /// heads: `[T, 16] x [2, 16, 8] -> [2, T, 8]` each.
    fn qkv<'t>(&self, x: Var<'t>, w_q: Var<'t>, w_k: Var<'t>, w_v: Var<'t>) -> [Var<'t>; 3] {
        [x.matmul(w_q), x.matmul(w_k), x.matmul(w_v)]
    }

    /// The attention scores `Q K^T / sqrt(d_k)`, `[2, T, T]`.
    fn scores<'t>(&self, q: Var<'t>, k: Var<'t>) -> Var<'t> {
        q.matmul(k.transpose(1, 2)) / (D_K as f64).sqrt()
    }

    /// The causal softmax over each row of scores (`mask` is true where a position would see
    /// a later one).
    fn attention_weights<'t>(&self, scores: Var<'t>, mask: &Tensor) -> Var<'t> {
        scores.masked_fill(mask, f64::NEG_INFINITY).softmax(2)
    }

    /// Each head's output `weights V`, `[2, T, 8]`.
    fn attend<'t>(&self, weights: Var<'t>, v: Var<'t>) -> Var<'t> {
        weights.matmul(v)
    }

    /// The output projection `mh = concat W_O^T`, `[T, 16]`.
    fn output_projection<'t>(&self, concat: Var<'t>, w_o: Var<'t>) -> Var<'t> {
        concat.matmul(w_o.transpose(0, 1))
    }

    /// The feed-forward block's activation (GELU, tanh approximation).
    fn gelu<'t>(&self, hid: Var<'t>) -> Var<'t> {
        hid.gelu()
    }

    /// The only residual: `mh + ffn`.
    fn residual<'t>(&self, mh: Var<'t>, ffn: Var<'t>) -> Var<'t> {
        mh + ffn
    }

    /// Layer norm over the 16 features (biased variance, eps [`LN_EPS`]).
    fn layer_norm<'t>(&self, res: Var<'t>, gamma: Var<'t>, beta: Var<'t>) -> Var<'t> {
        res.layer_norm(gamma, beta, LN_EPS)
    }

    /// The LM head `logits = ln W_lm^T`, `[T, 6]`. The head is not tied to the token
    /// embeddings; `e_tok` is passed for the slip that treats it as tied.
    fn lm_head<'t>(&self, ln: Var<'t>, w_lm: Var<'t>, e_tok: Var<'t>) -> Var<'t> {
        let _ = e_tok;
        ln.matmul(w_lm.transpose(0, 1))
    }

    /// The SUM of the cross-entropy losses of the first `targets.len()` positions (the loss the
    /// chapter's `P - onehot` is the gradient of), through the fused node.
    fn sum_loss<'t>(&self, logits: Var<'t>, targets: &[usize]) -> Var<'t> {
        let n = targets.len();
        logits.narrow(0, 0, n).cross_entropy(targets) * n as f64
    }
}

/// The model itself: every block as [`Blocks`] defines it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exact;

impl Blocks for Exact {}

impl<'t> SeedVars<'t> {
    /// The forward pass on `tokens` (1 to [`MAX_LEN`] of them), all positions.
    ///
    /// ```
    /// use tapegrad::Tape;
    /// use tapegrad_seed::chapter::TOKENS;
    /// use tapegrad_seed::model::SeedParams;
    /// let tape = Tape::new();
    /// let acts = SeedParams::init().vars(&tape).forward(&TOKENS);
    /// assert_eq!(acts.logits.shape(), [5, 6]);
    /// ```
    #[track_caller]
    pub fn forward(&self, tokens: &[usize]) -> Activations<'t> {
        self.forward_with(tokens, Exact)
    }

    /// The forward pass built from `blocks`: [`Exact`] for the model, a
    /// [`Mistake`](crate::slips::Mistake) for the same values with a slip's gradients.
    ///
    /// ```
    /// use tapegrad::Tape;
    /// use tapegrad_seed::chapter::TOKENS;
    /// use tapegrad_seed::model::SeedParams;
    /// use tapegrad_seed::slips::Mistake;
    /// let tape = Tape::new();
    /// let vars = SeedParams::init().vars(&tape);
    /// let slipped = vars.forward_with(&TOKENS, Mistake::WoNotTransposed).logits;
    /// assert_eq!(slipped.value(), vars.forward(&TOKENS).logits.value());
    /// ```
    #[track_caller]
    pub fn forward_with(&self, tokens: &[usize], blocks: impl Blocks) -> Activations<'t> {
        let [e_tok, e_pos, w_q, w_k, w_v, w_o, w1, b1, w2, b2, gamma, beta, w_lm] = self.all;
        let t = tokens.len();
        assert!((1..=MAX_LEN).contains(&t), "seed model: {t} tokens, it takes 1..={MAX_LEN}");
        // 1. Embeddings: X[i] = E_tok[tokens[i]] + E_pos[i].
        let x = e_tok.embedding(tokens) + e_pos.narrow(0, 0, t);
        // 2. Causal scaled dot-product attention, both heads at once.
        let [q, k, v] = blocks.qkv(x, w_q, w_k, w_v);
        let scores = blocks.scores(q, k);
        let weights = blocks.attention_weights(scores, &causal_mask(t));
        let heads = blocks.attend(weights, v);
        // 3. Join the heads: [2, T, 8] -> [T, 2, 8] -> [T, 16] = [head0 | head1]; project.
        let concat = heads.transpose(0, 1).reshape(&[t, D_MODEL]);
        let mh = blocks.output_projection(concat, w_o);
        // 4. Feed-forward on mh (no norm before it).
        let hid = mh.matmul(w1.transpose(0, 1)) + b1;
        let ffn = blocks.gelu(hid).matmul(w2.transpose(0, 1)) + b2;
        // 5. The only residual, then layer norm (post-norm).
        let res = blocks.residual(mh, ffn);
        let ln = blocks.layer_norm(res, gamma, beta);
        // 6. LM head.
        let logits = blocks.lm_head(ln, w_lm, e_tok);
        Activations { x, weights, concat, mh, res, ln, logits }
    }

    /// The SUM of the cross-entropy losses of the first `targets.len()` positions (the loss the
    /// chapter's `P - onehot` is the gradient of), through the fused node.
    ///
    /// ```
    /// use tapegrad::Tape;
    /// use tapegrad_seed::chapter::{TARGETS, TOKENS};
    /// use tapegrad_seed::model::SeedParams;
    /// let tape = Tape::new();
    /// let vars = SeedParams::init().vars(&tape);
    /// let logits = vars.forward(&TOKENS).logits;
    /// let (sum, mean) = (vars.sum_loss(logits, &TARGETS), vars.mean_loss(logits, &TARGETS));
    /// assert!((sum.item() - 4.0 * mean.item()).abs() < 1e-12);
    /// ```
    #[track_caller]
    pub fn sum_loss(&self, logits: Var<'t>, targets: &[usize]) -> Var<'t> {
        Exact.sum_loss(logits, targets)
    }

    /// The MEAN of the per-position losses (the number the series prints).
    #[track_caller]
    pub fn mean_loss(&self, logits: Var<'t>, targets: &[usize]) -> Var<'t> {
        logits.narrow(0, 0, targets.len()).cross_entropy(targets)
    }

    /// The sum loss as `blocks` differentiate it: the true sum loss for the model and most
    /// slips; for the loss-level slips, a function whose gradient with respect to the logits is
    /// the slip's `dL/dlogits` (its value is then not the loss).
    #[track_caller]
    pub fn sum_loss_with(&self, logits: Var<'t>, targets: &[usize], blocks: impl Blocks) -> Var<'t> {
        blocks.sum_loss(logits, targets)
    }
}
