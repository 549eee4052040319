//! The seed's tiny transformer, exactly as `../shared/SEED_MODEL.md` pins it down, built only
//! from tapegrad ops: every gradient comes from the tape, none is written by hand.
//!
//! One layer, post-norm, one residual: token + position embeddings, two causal attention heads
//! of 8, an output projection, a GELU feed-forward of 64, `mh + ffn`, layer norm, LM head.
//!
//! ```
//! use tapegrad::seed::model::{SeedParams, TARGETS, TOKENS};
//! use tapegrad::Tape;
//! let params = SeedParams::init(); // Python's random.seed(42) / gauss(0, 0.1), as the series
//! let tape = Tape::new();
//! let vars = params.vars(&tape);
//! let logits = vars.forward(&TOKENS).logits;
//! let loss = vars.mean_loss(logits, &TARGETS);
//! assert!((loss.item() - 1.8649829237127533).abs() < 1e-12);
//! ```
//!
//! [`Mistake`] rebuilds the model with one deliberate error in its BACKWARD pass (the forward
//! values stay bit for bit the same): each is a plausible slip of a hand derivation, expressed
//! with tapegrad ops (a statistic brought in as a constant, a path cut, a gradient routed
//! through a transposed matrix), so that the tape computes what the slip would compute.

use crate::autograd::{Tape, Var};
use crate::ops::mask::causal_mask;
use crate::pyrandom::PyRandom;
use crate::tensor::Tensor;

/// The vocabulary size.
pub const VOCAB: usize = 6;
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
/// The token names, in id order.
pub const TOKEN_NAMES: [&str; VOCAB] = ["<PAD>", "<BOS>", "<EOS>", "I", "like", "transformers"];
/// The id of `<BOS>`.
pub const BOS: usize = 1;

/// The series' published hand-derived gradients of the sum loss (SEED_MODEL.md), to be
/// judged: `dE_tok[<BOS>][0..4]`, then `dW_V[head 0][row 0][0..4]`.
pub const PUBLISHED: [f64; 8] = [-0.352893, 0.074124, -0.322485, 0.126213, 0.046758, 0.109851, 0.026157, -0.226948];

/// Where the [`PUBLISHED`] values sit: (parameter index into [`PARAM_NAMES`], row-major
/// element). `E_tok` is parameter 0 (`[6, 16]`), `W_V` parameter 4 (`[2, 16, 8]`).
pub const PUBLISHED_ENTRIES: [(usize, usize); 8] = [
    (0, BOS * D_MODEL),
    (0, BOS * D_MODEL + 1),
    (0, BOS * D_MODEL + 2),
    (0, BOS * D_MODEL + 3),
    (4, 0),
    (4, 1),
    (4, 2),
    (4, 3),
];

/// The [`PUBLISHED`] entries read from a full set of parameter gradients.
pub fn published_entries(grads: &[Tensor]) -> [f64; 8] {
    PUBLISHED_ENTRIES.map(|(param, at)| grads[param].data()[at])
}
/// The id of `<EOS>`.
pub const EOS: usize = 2;
/// The training sequence: `<BOS> I like transformers <EOS>`.
pub const TOKENS: [usize; MAX_LEN] = [1, 3, 4, 5, 2];
/// The next token of positions 0..3 (position 4, `<EOS>`, predicts nothing).
pub const TARGETS: [usize; 4] = [3, 4, 5, 2];

/// The model's parameters, as plain tensors outside any tape. The heads' projections are
/// stacked: `w_q[h]` is head `h`'s `[16, 8]` matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedParams {
    /// Token embeddings `[6, 16]`.
    pub e_tok: Tensor,
    /// Position embeddings `[5, 16]`.
    pub e_pos: Tensor,
    /// Query projections `[2, 16, 8]` (`Q = X W_Q[h]`).
    pub w_q: Tensor,
    /// Key projections `[2, 16, 8]`.
    pub w_k: Tensor,
    /// Value projections `[2, 16, 8]`.
    pub w_v: Tensor,
    /// Output projection `[16, 16]` (`mh = concat W_O^T`).
    pub w_o: Tensor,
    /// First feed-forward weight `[64, 16]` (`hid = mh W1^T + b1`).
    pub w1: Tensor,
    /// First feed-forward bias `[64]`.
    pub b1: Tensor,
    /// Second feed-forward weight `[16, 64]`.
    pub w2: Tensor,
    /// Second feed-forward bias `[16]`.
    pub b2: Tensor,
    /// Layer norm scale `[16]`.
    pub gamma: Tensor,
    /// Layer norm shift `[16]`.
    pub beta: Tensor,
    /// LM head `[6, 16]` (`logits = ln W_lm^T`).
    pub w_lm: Tensor,
}

/// The number of parameter tensors.
pub const N_PARAMS: usize = 13;

/// The parameter tensors' names, in the order of [`SeedParams::tensors`].
pub const PARAM_NAMES: [&str; N_PARAMS] =
    ["E_tok", "E_pos", "W_Q", "W_K", "W_V", "W_O", "W1", "b1", "W2", "b2", "gamma", "beta", "W_lm"];

/// `rows * cols` draws of `gauss(0, 0.1)` as a `[rows, cols]` tensor, row-major as the series'
/// list comprehensions draw them.
fn gauss_matrix(rng: &mut PyRandom, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_parts(rng.gauss_vec(n, 0.0, 0.1), shape)
}

impl SeedParams {
    /// The series' initialisation: every weight `random.gauss(0, 0.1)`, each group from a fresh
    /// `random.seed(42)` (so `W_lm` starts equal to `E_tok`); `gamma = 1`, `beta = 0`.
    pub fn init() -> SeedParams {
        let mut rng = PyRandom::new(42);
        let e_tok = gauss_matrix(&mut rng, &[VOCAB, D_MODEL]);
        let e_pos = gauss_matrix(&mut rng, &[MAX_LEN, D_MODEL]);
        // Heads interleaved: W_Q[0], W_K[0], W_V[0], W_Q[1], ...
        rng.seed(42);
        let mut qkv: [Vec<f64>; 3] = Default::default();
        for _ in 0..N_HEADS {
            for w in qkv.iter_mut() {
                w.extend(rng.gauss_vec(D_MODEL * D_K, 0.0, 0.1));
            }
        }
        let [w_q, w_k, w_v] = qkv.map(|data| Tensor::from_parts(data, &[N_HEADS, D_MODEL, D_K]));
        rng.seed(42);
        let w_o = gauss_matrix(&mut rng, &[D_MODEL, D_MODEL]);
        rng.seed(42);
        let w1 = gauss_matrix(&mut rng, &[D_FF, D_MODEL]);
        let b1 = gauss_matrix(&mut rng, &[D_FF]);
        let w2 = gauss_matrix(&mut rng, &[D_MODEL, D_FF]);
        let b2 = gauss_matrix(&mut rng, &[D_MODEL]);
        rng.seed(42);
        let w_lm = gauss_matrix(&mut rng, &[VOCAB, D_MODEL]);
        let (gamma, beta) = (Tensor::ones(&[D_MODEL]), Tensor::zeros(&[D_MODEL]));
        SeedParams { e_tok, e_pos, w_q, w_k, w_v, w_o, w1, b1, w2, b2, gamma, beta, w_lm }
    }

    /// The parameter tensors, in the order of [`PARAM_NAMES`].
    pub fn tensors(&self) -> [&Tensor; N_PARAMS] {
        let p = self;
        [&p.e_tok, &p.e_pos, &p.w_q, &p.w_k, &p.w_v, &p.w_o, &p.w1, &p.b1, &p.w2, &p.b2, &p.gamma, &p.beta, &p.w_lm]
    }

    /// The parameter tensors, writable, in the order of [`PARAM_NAMES`] (for optimizers).
    pub fn tensors_mut(&mut self) -> [&mut Tensor; N_PARAMS] {
        let p = self;
        [
            &mut p.e_tok,
            &mut p.e_pos,
            &mut p.w_q,
            &mut p.w_k,
            &mut p.w_v,
            &mut p.w_o,
            &mut p.w1,
            &mut p.b1,
            &mut p.w2,
            &mut p.b2,
            &mut p.gamma,
            &mut p.beta,
            &mut p.w_lm,
        ]
    }

    /// The total number of scalars (3,456).
    pub fn numel(&self) -> usize {
        self.tensors().iter().map(|t| t.numel()).sum()
    }

    /// Brings every parameter onto `tape` as a differentiable leaf.
    pub fn vars<'t>(&self, tape: &'t Tape) -> SeedVars<'t> {
        SeedVars { all: self.tensors().map(|t| tape.var(t.clone())) }
    }

    /// Builds the parameters from tensors in the order of [`PARAM_NAMES`] (shapes unchecked
    /// here; the forward pass checks them).
    pub fn from_tensors(t: [Tensor; N_PARAMS]) -> SeedParams {
        let [e_tok, e_pos, w_q, w_k, w_v, w_o, w1, b1, w2, b2, gamma, beta, w_lm] = t;
        SeedParams { e_tok, e_pos, w_q, w_k, w_v, w_o, w1, b1, w2, b2, gamma, beta, w_lm }
    }
}

/// One deliberate error in a hand-derived backward pass. The forward values stay exactly the
/// same; only the gradients the tape computes change, to what a derivation with that slip
/// would give. Used to find which slip the series' published gradients contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mistake {
    /// No mistake: the true gradients.
    None,
    /// The loss gradient taken from the chapter's probability table, rounded to 4 decimals
    /// (`round(P, 4) - onehot`), instead of the exact probabilities.
    RoundedProbabilities,
    /// The MEAN of the four losses differentiated instead of their sum.
    MeanLoss,
    /// `<EOS>` at position 4 given a loss term too (its gradient `P - onehot(<PAD>)`).
    Position4InLoss,
    /// The LM head treated as tied to the token embeddings (`dW_lm` added into `dE_tok`,
    /// which `W_lm = E_tok` at initialisation makes tempting).
    TiedLmHead,
    /// Layer norm backward as plain scaling, `dx = gamma g / std`: the mean and variance
    /// treated as constants.
    LayerNormAsScaling,
    /// Layer norm backward without the variance term (the mean's term kept).
    LayerNormNoVarianceTerm,
    /// Layer norm backward without the mean term (the variance's term kept).
    LayerNormNoMeanTerm,
    /// Layer norm backward with `eps` left out of `1/std`.
    LayerNormNoEps,
    /// The residual path missed: `d mh` only through the feed-forward block.
    ResidualMissed,
    /// The feed-forward path missed: `d mh` only through the residual.
    FfnPathMissed,
    /// GELU's derivative taken as `(1 + tanh(u)) / 2`, its second term dropped.
    GeluDerivativeFirstTermOnly,
    /// `d concat = d mh W_O^T` instead of `d mh W_O` (W_O not transposed in backward).
    WoNotTransposed,
    /// The attention softmax's backward dropped: no gradient reaches the scores (nor Q, K).
    AttentionSoftmaxDropped,
    /// The attention softmax's Jacobian taken as the identity: `d scores = d weights`.
    AttentionSoftmaxAsIdentity,
    /// The `1/sqrt(d_k)` scale left out of the scores' backward.
    ScoreScaleMissed,
    /// `dV = weights d head` instead of `weights^T d head`.
    ValueGradNotTransposed,
    /// `dK = dS Q / sqrt(d_k)` instead of `dS^T Q / sqrt(d_k)`.
    KeyGradNotTransposed,
    /// `dX` collected only through the values (the query and key paths forgotten).
    OnlyValuePathToX,
    /// `dX` collected without the query path.
    QueryPathMissed,
    /// `dX` collected without the key path.
    KeyPathMissed,
}

impl Mistake {
    /// Every mistake variant (without [`Mistake::None`]).
    pub const ALL: [Mistake; 20] = [
        Mistake::RoundedProbabilities,
        Mistake::MeanLoss,
        Mistake::Position4InLoss,
        Mistake::TiedLmHead,
        Mistake::LayerNormAsScaling,
        Mistake::LayerNormNoVarianceTerm,
        Mistake::LayerNormNoMeanTerm,
        Mistake::LayerNormNoEps,
        Mistake::ResidualMissed,
        Mistake::FfnPathMissed,
        Mistake::GeluDerivativeFirstTermOnly,
        Mistake::WoNotTransposed,
        Mistake::AttentionSoftmaxDropped,
        Mistake::AttentionSoftmaxAsIdentity,
        Mistake::ScoreScaleMissed,
        Mistake::ValueGradNotTransposed,
        Mistake::KeyGradNotTransposed,
        Mistake::OnlyValuePathToX,
        Mistake::QueryPathMissed,
        Mistake::KeyPathMissed,
    ];
}

/// The parameters on one tape.
#[derive(Clone, Copy, Debug)]
pub struct SeedVars<'t> {
    /// The parameter variables, in the order of [`PARAM_NAMES`].
    pub all: [Var<'t>; N_PARAMS],
}

/// The intermediate values of one forward pass, for inspection (`grads.wrt(f.logits)`).
#[derive(Clone, Copy, Debug)]
pub struct Forward<'t> {
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

/// A variable with the VALUE of `value` and the GRADIENT of `grad_path`:
/// `const(value) + (grad_path - const(grad_path))`. The bracket is exactly zero, so the value
/// is bit for bit `value`'s, while backward sees only `grad_path`. This is how a mistaken
/// backward rule is expressed with ordinary ops.
fn value_of_grad_of<'t>(value: Var<'t>, grad_path: Var<'t>) -> Var<'t> {
    let tape = value.tape();
    tape.constant(value.value()) + (grad_path - tape.constant(grad_path.value()))
}

/// `v` as a constant: same value, no gradient flows back through it.
fn detach(v: Var<'_>) -> Var<'_> {
    v.tape().constant(v.value())
}

impl<'t> SeedVars<'t> {
    /// The forward pass on `tokens` (at most [`MAX_LEN`]), all positions.
    #[track_caller]
    pub fn forward(&self, tokens: &[usize]) -> Forward<'t> {
        self.forward_with(tokens, Mistake::None)
    }

    /// The forward pass with one deliberate backward [`Mistake`] (same values, other
    /// gradients).
    #[track_caller]
    pub fn forward_with(&self, tokens: &[usize], mistake: Mistake) -> Forward<'t> {
        let [e_tok, e_pos, w_q, w_k, w_v, w_o, w1, b1, w2, b2, gamma, beta, w_lm] = self.all;
        let t = tokens.len();
        assert!((1..=MAX_LEN).contains(&t), "seed model: {t} tokens, it takes 1..={MAX_LEN}");
        let tape = e_tok.tape();
        // 1. Embeddings.
        let x = e_tok.embedding(tokens) + e_pos.narrow(0, 0, t);
        // 2. Per head (batched over the stacked heads): [T, 16] x [2, 16, 8] -> [2, T, 8].
        let xq = if matches!(mistake, Mistake::OnlyValuePathToX | Mistake::QueryPathMissed) { detach(x) } else { x };
        let xk = if matches!(mistake, Mistake::OnlyValuePathToX | Mistake::KeyPathMissed) { detach(x) } else { x };
        let (q, k, v) = (xq.matmul(w_q), xk.matmul(w_k), x.matmul(w_v));
        // 3. Causal scaled dot-product attention.
        let scale = (D_K as f64).sqrt();
        let raw = q.matmul(k.transpose(1, 2));
        let scores = match mistake {
            Mistake::ScoreScaleMissed => value_of_grad_of(raw / scale, raw),
            // S' = Q K_c^T + K Q_c^T: dQ = dS K (right), dK = dS Q (the slip), scaled.
            Mistake::KeyGradNotTransposed => {
                let path = q.matmul(detach(k).transpose(1, 2)) + k.matmul(detach(q).transpose(1, 2));
                value_of_grad_of(raw / scale, path / scale)
            }
            _ => raw / scale,
        };
        let mask = causal_mask(t);
        let weights = scores.masked_fill(&mask, f64::NEG_INFINITY).softmax(2);
        let weights = match mistake {
            Mistake::AttentionSoftmaxDropped => detach(weights),
            Mistake::AttentionSoftmaxAsIdentity => value_of_grad_of(weights, scores.masked_fill(&mask, 0.0)),
            _ => weights,
        };
        let heads = match mistake {
            // head' = W_c^T V + W V_c: dV = W dhead (the slip), dW = dhead V^T (right).
            Mistake::ValueGradNotTransposed => {
                let path = detach(weights).transpose(1, 2).matmul(v) + weights.matmul(detach(v));
                value_of_grad_of(weights.matmul(v), path)
            }
            _ => weights.matmul(v),
        };
        // 4. Join the heads: [2, T, 8] -> [T, 2, 8] -> [T, 16] = [head0 | head1].
        let concat = heads.transpose(0, 1).reshape(&[t, D_MODEL]);
        let mh = concat.matmul(w_o.transpose(0, 1));
        let mh = match mistake {
            // mh' = concat W_O + concat_c W_O^T: d concat = d mh W_O^T (the slip), dW_O right.
            Mistake::WoNotTransposed => {
                value_of_grad_of(mh, concat.matmul(detach(w_o)) + detach(concat).matmul(w_o.transpose(0, 1)))
            }
            _ => mh,
        };
        // 5. Feed-forward on mh (no norm before it).
        let hid = mh.matmul(w1.transpose(0, 1)) + b1;
        let act = hid.gelu();
        let act = match mistake {
            Mistake::GeluDerivativeFirstTermOnly => {
                let half_one_plus_t =
                    hid.value().map(|h| 0.5 * (1.0 + (0.797_884_560_802_865_4 * (h + 0.044_715 * h * h * h)).tanh()));
                value_of_grad_of(act, hid * tape.constant(half_one_plus_t))
            }
            _ => act,
        };
        let ffn = act.matmul(w2.transpose(0, 1)) + b2;
        // 6. The only residual, then layer norm.
        let res = match mistake {
            Mistake::ResidualMissed => detach(mh) + ffn,
            Mistake::FfnPathMissed => mh + detach(ffn),
            _ => mh + ffn,
        };
        let ln = res.layer_norm(gamma, beta, LN_EPS);
        let ln = match mistake {
            Mistake::LayerNormAsScaling
            | Mistake::LayerNormNoVarianceTerm
            | Mistake::LayerNormNoMeanTerm
            | Mistake::LayerNormNoEps => {
                let mean = res.mean_axis(1, true);
                let centred = res - mean;
                let var = centred.powf(2.0).mean_axis(1, true);
                let eps = if mistake == Mistake::LayerNormNoEps { 0.0 } else { LN_EPS };
                let std = (var + eps).sqrt();
                let path = match mistake {
                    Mistake::LayerNormAsScaling => (res - detach(mean)) / detach(std),
                    Mistake::LayerNormNoVarianceTerm => centred / detach(std),
                    Mistake::LayerNormNoMeanTerm => {
                        (res - detach(mean)) / ((res - detach(mean)).powf(2.0).mean_axis(1, true) + eps).sqrt()
                    }
                    _ => centred / std,
                };
                value_of_grad_of(ln, path * gamma + beta)
            }
            _ => ln,
        };
        // 7. LM head.
        let head = if mistake == Mistake::TiedLmHead { e_tok } else { w_lm };
        let logits = ln.matmul(head.transpose(0, 1));
        Forward { x, weights, concat, mh, res, ln, logits }
    }

    /// The SUM of the cross-entropy losses of the first `targets.len()` positions (the loss the
    /// chapter's `P - onehot` is the gradient of), through the fused node.
    #[track_caller]
    pub fn sum_loss(&self, logits: Var<'t>, targets: &[usize]) -> Var<'t> {
        let n = targets.len();
        logits.narrow(0, 0, n).cross_entropy(targets) * n as f64
    }

    /// The MEAN of the per-position losses (the number the series prints).
    #[track_caller]
    pub fn mean_loss(&self, logits: Var<'t>, targets: &[usize]) -> Var<'t> {
        logits.narrow(0, 0, targets.len()).cross_entropy(targets)
    }

    /// The sum loss as the hand derivation with `mistake` differentiates it: the true sum loss
    /// for most mistakes; for the loss-level ones, a function whose gradient with respect to
    /// the logits is the mistaken `dL/dlogits` (its value is then not the loss).
    #[track_caller]
    pub fn sum_loss_with(&self, logits: Var<'t>, targets: &[usize], mistake: Mistake) -> Var<'t> {
        let n = targets.len();
        let tape = logits.tape();
        match mistake {
            Mistake::MeanLoss => self.mean_loss(logits, targets),
            Mistake::RoundedProbabilities => {
                let probs = logits.narrow(0, 0, n).softmax(1).value();
                let seed = Tensor::from_fn(probs.shape(), |ix| {
                    (probs.get(ix) * 1e4).round() / 1e4 - if ix[1] == targets[ix[0]] { 1.0 } else { 0.0 }
                });
                (logits.narrow(0, 0, n) * tape.constant(seed)).sum()
            }
            Mistake::Position4InLoss => {
                let rows = logits.shape()[0];
                let mut all = targets.to_vec();
                all.resize(rows, 0);
                logits.cross_entropy(&all) * rows as f64
            }
            _ => self.sum_loss(logits, targets),
        }
    }
}

/// The loss and gradients of one step, from a fresh tape.
#[derive(Clone, Debug)]
pub struct Step {
    /// The mean of the per-position losses.
    pub mean_loss: f64,
    /// `dL/dlogits` of the sum loss (`P - onehot` on the target rows), `[T, 6]`.
    pub dlogits: Tensor,
    /// The gradient of the sum loss for every parameter tensor, in the order of
    /// [`PARAM_NAMES`].
    pub grads: [Tensor; N_PARAMS],
}

impl SeedParams {
    /// The mean loss on [`TOKENS`] / [`TARGETS`] (forward only).
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
    /// loss, as a hand derivation with `mistake` would compute them ([`Mistake::None`] for the
    /// true ones).
    pub fn step(&self, mistake: Mistake) -> Step {
        let tape = Tape::new();
        let vars = self.vars(&tape);
        let f = vars.forward_with(&TOKENS, mistake);
        let mean_loss = vars.mean_loss(f.logits, &TARGETS).item();
        let grads = vars.sum_loss_with(f.logits, &TARGETS, mistake).backward();
        let of = |v: Var<'_>| grads.wrt(v).cloned().unwrap_or_else(|| Tensor::zeros(&v.shape()));
        Step { mean_loss, dlogits: of(f.logits), grads: vars.all.map(of) }
    }

    /// The central difference `(L(p + eps) - L(p - eps)) / (2 eps)` of the sum loss for element
    /// `at` (row-major) of parameter tensor `param` (index into [`PARAM_NAMES`]).
    pub fn finite_difference(&self, param: usize, at: usize, eps: f64) -> f64 {
        let mut p = self.clone();
        let x = p.tensors()[param].data()[at];
        p.tensors_mut()[param].data_mut()[at] = x + eps;
        let plus = p.sum_loss();
        p.tensors_mut()[param].data_mut()[at] = x - eps;
        let minus = p.sum_loss();
        (plus - minus) / (2.0 * eps)
    }

    /// The [`PUBLISHED`] entries by central differences of the sum loss.
    pub fn published_by_finite_differences(&self, eps: f64) -> [f64; 8] {
        PUBLISHED_ENTRIES.map(|(param, at)| self.finite_difference(param, at, eps))
    }

    /// Greedy decoding from `prompt`: appends the most probable next token until `<EOS>` or
    /// [`MAX_LEN`] tokens.
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
