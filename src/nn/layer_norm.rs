//! `LayerNorm` over the last axis, as `torch.nn.LayerNorm(dim)`.

use super::{ParamVars, Params, join};
use crate::autograd::Var;
use crate::tensor::Tensor;

/// Layer normalisation over the last axis with a learned scale and shift (keys
/// `"<name>.weight"`, ones, and `"<name>.bias"`, zeros) and `eps` 1e-5, as PyTorch.
///
/// ```
/// use tapegrad::nn::LayerNorm;
/// use tapegrad::Params;
/// use tapegrad::{Tape, Tensor};
/// let mut params = Params::new();
/// let ln = LayerNorm::new(&mut params, "ln_f", 3);
/// let tape = Tape::new();
/// let p = params.on(&tape);
/// let y = ln.forward(&p, tape.constant(Tensor::new(vec![1.0, 2.0, 3.0], &[1, 3])?));
/// assert!(y.value().data()[1].abs() < 1e-12); // the middle of 1, 2, 3 normalises to 0
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// The key of the scale, `"<name>.weight"`.
    pub weight: String,
    /// The key of the shift, `"<name>.bias"`.
    pub bias: String,
    /// Added to the variance (1e-5).
    pub eps: f64,
}

impl LayerNorm {
    /// Normalisation of rows of size `dim`, its parameters added to `params` under `name`.
    ///
    /// ```
    /// # use tapegrad::nn::LayerNorm;
    /// # use tapegrad::Params;
    /// let mut params = Params::new();
    /// let ln = LayerNorm::new(&mut params, "ln_1", 8);
    /// assert_eq!((ln.weight.as_str(), ln.eps), ("ln_1.weight", 1e-5));
    /// ```
    #[track_caller]
    pub fn new(params: &mut Params, name: &str, dim: usize) -> LayerNorm {
        let (weight, bias) = (join(name, "weight"), join(name, "bias"));
        params.insert(weight.clone(), Tensor::ones(&[dim]));
        params.insert(bias.clone(), Tensor::zeros(&[dim]));
        LayerNorm { weight, bias, eps: 1e-5 }
    }

    /// The normalised `x` (one fused `layer_norm` node).
    ///
    /// ```
    /// # use tapegrad::nn::LayerNorm;
    /// # use tapegrad::Params;
    /// # use tapegrad::{Tape, Tensor};
    /// let mut params = Params::new();
    /// let ln = LayerNorm::new(&mut params, "ln", 2);
    /// let tape = Tape::new();
    /// let y = ln.forward(&params.on(&tape), tape.constant(Tensor::new(vec![1.0, 3.0], &[1, 2])?));
    /// assert!((y.value().data()[1] - 1.0).abs() < 1e-4); // (3 - 2) / sqrt(1 + 1e-5)
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn forward<'t>(&self, p: &ParamVars<'t>, x: Var<'t>) -> Var<'t> {
        x.layer_norm(p[&self.weight], p[&self.bias], self.eps)
    }
}
