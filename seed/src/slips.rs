//! Twenty plausible slips of a hand-derived backward pass, each rebuilt from the model's own
//! [`Blocks`] so that the tape computes what the slip would compute. Used to find which slip
//! the series' published gradients contain ([`crate::published`]).
//!
//! Each slip keeps the forward VALUES bit for bit and changes only the gradients: one block
//! is replaced by [`value_of_grad_of`]`(the exact block, a path with the slip's gradient)`
//! (a statistic brought in as a constant, a path cut, a gradient routed through a transposed
//! matrix).
//!
//! ```
//! use tapegrad_seed::model::SeedParams;
//! use tapegrad_seed::slips::Mistake;
//! let params = SeedParams::init();
//! let (truth, slipped) = (params.step(Mistake::None), params.step(Mistake::WoNotTransposed));
//! assert_eq!(truth.mean_loss, slipped.mean_loss);   // same forward
//! assert_ne!(truth.grads[0], slipped.grads[0]);     // other dE_tok
//! assert_eq!(truth.grads[12], slipped.grads[12]);   // dW_lm: downstream of the slip
//! ```

use tapegrad::{Tensor, Var};

use crate::model::{Blocks, D_K, Exact, LN_EPS};

/// One deliberate error in a hand-derived backward pass. The forward values stay exactly the
/// same; only the gradients the tape computes change, to what a derivation with that slip
/// would give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mistake {
    /// No mistake: the true gradients (the same as [`Exact`]).
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

/// A variable with the VALUE of `value` and the GRADIENT of `grad_path`:
/// `const(value) + (grad_path - const(grad_path))`. The bracket is exactly zero, so the value
/// is bit for bit `value`'s, while backward sees only `grad_path`. This is how a mistaken
/// backward rule is expressed with ordinary ops.
///
/// ```
/// use tapegrad::{Tape, Tensor};
/// use tapegrad_seed::slips::value_of_grad_of;
/// let tape = Tape::new();
/// let x = tape.var(Tensor::new(vec![3.0], &[1])?);
/// let y = value_of_grad_of(x * x, x * 10.0); // the value of x^2, the gradient of 10 x
/// assert_eq!(y.value().data(), &[9.0]);
/// assert_eq!(y.sum().backward().wrt(x).unwrap().data(), &[10.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn value_of_grad_of<'t>(value: Var<'t>, grad_path: Var<'t>) -> Var<'t> {
    let tape = value.tape();
    tape.constant(value.value()) + (grad_path - tape.constant(grad_path.value()))
}

/// `v` as a constant: same value, no gradient flows back through it.
fn detach(v: Var<'_>) -> Var<'_> {
    v.tape().constant(v.value())
}

/// Each method is the exact block unless this slip is about that block.
impl Blocks for Mistake {
    fn qkv<'t>(&self, x: Var<'t>, w_q: Var<'t>, w_k: Var<'t>, w_v: Var<'t>) -> [Var<'t>; 3] {
        let (query_cut, key_cut) = match self {
            Mistake::OnlyValuePathToX => (true, true),
            Mistake::QueryPathMissed => (true, false),
            Mistake::KeyPathMissed => (false, true),
            _ => return Exact.qkv(x, w_q, w_k, w_v),
        };
        let from = |cut: bool| if cut { detach(x) } else { x };
        [from(query_cut).matmul(w_q), from(key_cut).matmul(w_k), x.matmul(w_v)]
    }

    fn scores<'t>(&self, q: Var<'t>, k: Var<'t>) -> Var<'t> {
        let exact = Exact.scores(q, k);
        let scale = (D_K as f64).sqrt();
        match self {
            Mistake::ScoreScaleMissed => value_of_grad_of(exact, q.matmul(k.transpose(1, 2))),
            // S' = Q K_c^T + K Q_c^T: dQ = dS K (right), dK = dS Q (the slip), scaled.
            Mistake::KeyGradNotTransposed => {
                let path = q.matmul(detach(k).transpose(1, 2)) + k.matmul(detach(q).transpose(1, 2));
                value_of_grad_of(exact, path / scale)
            }
            _ => exact,
        }
    }

    fn attention_weights<'t>(&self, scores: Var<'t>, mask: &Tensor) -> Var<'t> {
        let exact = Exact.attention_weights(scores, mask);
        match self {
            Mistake::AttentionSoftmaxDropped => detach(exact),
            Mistake::AttentionSoftmaxAsIdentity => value_of_grad_of(exact, scores.masked_fill(mask, 0.0)),
            _ => exact,
        }
    }

    fn attend<'t>(&self, weights: Var<'t>, v: Var<'t>) -> Var<'t> {
        let exact = Exact.attend(weights, v);
        match self {
            // head' = W_c^T V + W V_c: dV = W dhead (the slip), dW = dhead V^T (right).
            Mistake::ValueGradNotTransposed => {
                value_of_grad_of(exact, detach(weights).transpose(1, 2).matmul(v) + weights.matmul(detach(v)))
            }
            _ => exact,
        }
    }

    fn output_projection<'t>(&self, concat: Var<'t>, w_o: Var<'t>) -> Var<'t> {
        let exact = Exact.output_projection(concat, w_o);
        match self {
            // mh' = concat W_O + concat_c W_O^T: d concat = d mh W_O^T (the slip), dW_O right.
            Mistake::WoNotTransposed => {
                value_of_grad_of(exact, concat.matmul(detach(w_o)) + detach(concat).matmul(w_o.transpose(0, 1)))
            }
            _ => exact,
        }
    }

    fn gelu<'t>(&self, hid: Var<'t>) -> Var<'t> {
        let exact = Exact.gelu(hid);
        match self {
            // gelu(h) = h s(h) with s(h) = (1 + tanh(u)) / 2; the slip differentiates it as if
            // s were a constant. s is read off the engine's own gelu: s(h) = gelu(h) / h (its
            // limit 1/2 at h = 0).
            Mistake::GeluDerivativeFirstTermOnly => {
                let (h, g) = (hid.value(), exact.value());
                let s: Vec<f64> =
                    h.data().iter().zip(g.data()).map(|(&h, &g)| if h == 0.0 { 0.5 } else { g / h }).collect();
                let s = Tensor::new(s, h.shape()).expect("one factor per element");
                value_of_grad_of(exact, hid * hid.tape().constant(s))
            }
            _ => exact,
        }
    }

    fn residual<'t>(&self, mh: Var<'t>, ffn: Var<'t>) -> Var<'t> {
        match self {
            Mistake::ResidualMissed => Exact.residual(detach(mh), ffn),
            Mistake::FfnPathMissed => Exact.residual(mh, detach(ffn)),
            _ => Exact.residual(mh, ffn),
        }
    }

    fn layer_norm<'t>(&self, res: Var<'t>, gamma: Var<'t>, beta: Var<'t>) -> Var<'t> {
        let exact = Exact.layer_norm(res, gamma, beta);
        use Mistake::{LayerNormAsScaling, LayerNormNoEps, LayerNormNoMeanTerm, LayerNormNoVarianceTerm};
        if !matches!(self, LayerNormAsScaling | LayerNormNoVarianceTerm | LayerNormNoMeanTerm | LayerNormNoEps) {
            return exact;
        }
        // Layer norm from primitives, with one statistic or term held constant.
        let mean = res.mean_axis(1, true);
        let centred = res - mean;
        let var = centred.powf(2.0).mean_axis(1, true);
        let eps = if *self == LayerNormNoEps { 0.0 } else { LN_EPS };
        let std = (var + eps).sqrt();
        let normed = match self {
            LayerNormAsScaling => (res - detach(mean)) / detach(std),
            LayerNormNoVarianceTerm => centred / detach(std),
            LayerNormNoMeanTerm => {
                (res - detach(mean)) / ((res - detach(mean)).powf(2.0).mean_axis(1, true) + eps).sqrt()
            }
            _ => centred / std, // LayerNormNoEps: the whole rule, eps 0
        };
        value_of_grad_of(exact, normed * gamma + beta)
    }

    fn lm_head<'t>(&self, ln: Var<'t>, w_lm: Var<'t>, e_tok: Var<'t>) -> Var<'t> {
        let exact = Exact.lm_head(ln, w_lm, e_tok);
        match self {
            Mistake::TiedLmHead => value_of_grad_of(exact, ln.matmul(e_tok.transpose(0, 1))),
            _ => exact,
        }
    }

    fn sum_loss<'t>(&self, logits: Var<'t>, targets: &[usize]) -> Var<'t> {
        let n = targets.len();
        match self {
            Mistake::MeanLoss => logits.narrow(0, 0, n).cross_entropy(targets),
            Mistake::RoundedProbabilities => {
                let probs = logits.narrow(0, 0, n).softmax(1).value();
                let seed = Tensor::from_fn(probs.shape(), |ix| {
                    (probs.get(ix) * 1e4).round() / 1e4 - if ix[1] == targets[ix[0]] { 1.0 } else { 0.0 }
                });
                (logits.narrow(0, 0, n) * logits.tape().constant(seed)).sum()
            }
            Mistake::Position4InLoss => {
                let rows = logits.shape()[0];
                let mut all = targets.to_vec();
                all.resize(rows, 0);
                logits.cross_entropy(&all) * rows as f64
            }
            _ => Exact.sum_loss(logits, targets),
        }
    }
}
