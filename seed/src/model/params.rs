//! The model's parameters outside any tape, and the series' initialisation.

use tapegrad::{Tape, Tensor};

use super::{D_FF, D_K, D_MODEL, MAX_LEN, N_HEADS, N_PARAMS, SeedVars, VOCAB};
use crate::pyrandom::PyRandom;

/// The model's parameters, as plain tensors outside any tape. The heads' projections are
/// stacked: `w_q[h]` is head `h`'s `[16, 8]` matrix.
///
/// ```
/// use tapegrad_seed::model::SeedParams;
/// let p = SeedParams::init();
/// assert_eq!(p.numel(), 3456);
/// assert_eq!(p.w_lm, p.e_tok); // both drawn right after a fresh seed(42)
/// ```
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

/// `shape.product()` draws of `gauss(0, 0.1)` as a tensor, row-major as the series' list
/// comprehensions draw them.
fn gauss_tensor(rng: &mut PyRandom, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    Tensor::new(rng.gauss_vec(n, 0.0, 0.1), shape).expect("n draws fill the shape")
}

impl SeedParams {
    /// The series' initialisation: every weight `random.gauss(0, 0.1)`, each group from a fresh
    /// `random.seed(42)` (so `W_lm` starts equal to `E_tok`); `gamma = 1`, `beta = 0`.
    ///
    /// ```
    /// use tapegrad_seed::model::SeedParams;
    /// // Python: random.seed(42); random.gauss(0, 0.1)
    /// assert_eq!(SeedParams::init().e_tok.data()[0], -0.014409032957792837);
    /// ```
    pub fn init() -> SeedParams {
        let mut rng = PyRandom::new(42);
        let e_tok = gauss_tensor(&mut rng, &[VOCAB, D_MODEL]);
        let e_pos = gauss_tensor(&mut rng, &[MAX_LEN, D_MODEL]);
        // Heads interleaved: W_Q[0], W_K[0], W_V[0], W_Q[1], ...
        rng.seed(42);
        let mut qkv: [Vec<f64>; 3] = Default::default();
        for _ in 0..N_HEADS {
            for w in qkv.iter_mut() {
                w.extend(rng.gauss_vec(D_MODEL * D_K, 0.0, 0.1));
            }
        }
        let [w_q, w_k, w_v] =
            qkv.map(|data| Tensor::new(data, &[N_HEADS, D_MODEL, D_K]).expect("each head draws [16, 8]"));
        rng.seed(42);
        let w_o = gauss_tensor(&mut rng, &[D_MODEL, D_MODEL]);
        rng.seed(42);
        let w1 = gauss_tensor(&mut rng, &[D_FF, D_MODEL]);
        let b1 = gauss_tensor(&mut rng, &[D_FF]);
        let w2 = gauss_tensor(&mut rng, &[D_MODEL, D_FF]);
        let b2 = gauss_tensor(&mut rng, &[D_MODEL]);
        rng.seed(42);
        let w_lm = gauss_tensor(&mut rng, &[VOCAB, D_MODEL]);
        let (gamma, beta) = (Tensor::ones(&[D_MODEL]), Tensor::zeros(&[D_MODEL]));
        SeedParams { e_tok, e_pos, w_q, w_k, w_v, w_o, w1, b1, w2, b2, gamma, beta, w_lm }
    }

    /// The parameter tensors, in the order of [`PARAM_NAMES`](super::PARAM_NAMES).
    ///
    /// ```
    /// use tapegrad_seed::model::SeedParams;
    /// let p = SeedParams::init();
    /// assert_eq!(p.tensors()[4].shape(), &[2, 16, 8]); // W_V
    /// ```
    pub fn tensors(&self) -> [&Tensor; N_PARAMS] {
        let p = self;
        [&p.e_tok, &p.e_pos, &p.w_q, &p.w_k, &p.w_v, &p.w_o, &p.w1, &p.b1, &p.w2, &p.b2, &p.gamma, &p.beta, &p.w_lm]
    }

    /// The parameter tensors, writable, in the order of [`PARAM_NAMES`](super::PARAM_NAMES)
    /// (for optimizers).
    ///
    /// ```
    /// use tapegrad_seed::model::SeedParams;
    /// let mut p = SeedParams::init();
    /// p.tensors_mut()[10].data_mut()[0] = 2.0; // gamma
    /// assert_eq!(p.gamma.data()[0], 2.0);
    /// ```
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
    ///
    /// ```
    /// use tapegrad::Tape;
    /// use tapegrad_seed::model::SeedParams;
    /// let tape = Tape::new();
    /// let vars = SeedParams::init().vars(&tape);
    /// assert_eq!(vars.all[0].shape(), [6, 16]);
    /// ```
    pub fn vars<'t>(&self, tape: &'t Tape) -> SeedVars<'t> {
        SeedVars { all: self.tensors().map(|t| tape.var(t.clone())) }
    }

    /// Builds the parameters from tensors in the order of [`PARAM_NAMES`](super::PARAM_NAMES)
    /// (shapes unchecked here; the forward pass checks them).
    ///
    /// ```
    /// use tapegrad_seed::model::SeedParams;
    /// let p = SeedParams::init();
    /// assert_eq!(SeedParams::from_tensors(p.tensors().map(|t| t.clone())), p);
    /// ```
    pub fn from_tensors(t: [Tensor; N_PARAMS]) -> SeedParams {
        let [e_tok, e_pos, w_q, w_k, w_v, w_o, w1, b1, w2, b2, gamma, beta, w_lm] = t;
        SeedParams { e_tok, e_pos, w_q, w_k, w_v, w_o, w1, b1, w2, b2, gamma, beta, w_lm }
    }
}
