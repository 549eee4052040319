//! `Linear`: `y = x W^T + b`, as `torch.nn.Linear`.

use rand::Rng;

use super::init::symmetric_uniform;
use super::{ParamVars, Params, join};
use crate::autograd::Var;

/// A fully connected layer, `y = x W^T + b`, with PyTorch's layout (`weight` of shape
/// `[out_features, in_features]`, `bias` of shape `[out_features]`), keys (`"<name>.weight"`,
/// `"<name>.bias"`) and default initialisation: weight and bias uniform on
/// `[-1/sqrt(in_features), 1/sqrt(in_features))`.
///
/// ```
/// use tapegrad::nn::Linear;
/// use tapegrad::Params;
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// use tapegrad::{Tape, Tensor};
/// let mut params = Params::new();
/// let layer = Linear::new(&mut params, "fc", 3, 2, &mut StdRng::seed_from_u64(0));
/// assert_eq!(params["fc.weight"].shape(), &[2, 3]);
/// let tape = Tape::new();
/// let p = params.on(&tape);
/// let y = layer.forward(&p, tape.constant(Tensor::ones(&[5, 3])));
/// assert_eq!(y.shape(), [5, 2]);
/// ```
#[derive(Clone, Debug)]
pub struct Linear {
    /// The key of the weight, `"<name>.weight"`.
    pub weight: String,
    /// The key of the bias, `"<name>.bias"`, if the layer has one.
    pub bias: Option<String>,
    /// The size of each input row.
    pub in_features: usize,
    /// The size of each output row.
    pub out_features: usize,
}

impl Linear {
    /// A layer with a bias, its parameters added to `params` under `name`.
    ///
    /// ```
    /// # use tapegrad::nn::Linear;
    /// # use tapegrad::Params;
    /// # use tapegrad::rand::{rngs::StdRng, SeedableRng};
    /// let mut params = Params::new();
    /// let fc = Linear::new(&mut params, "fc1", 784, 128, &mut StdRng::seed_from_u64(0));
    /// assert_eq!(fc.bias.as_deref(), Some("fc1.bias"));
    /// assert!(params["fc1.bias"].data().iter().all(|b| b.abs() < 1.0 / 28.0));
    /// ```
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(
        params: &mut Params,
        name: &str,
        in_features: usize,
        out_features: usize,
        rng: &mut R,
    ) -> Linear {
        Linear::build(params, name, in_features, out_features, true, rng)
    }

    /// A layer without a bias (`nn.Linear(.., bias=False)`): `y = x W^T`.
    ///
    /// ```
    /// # use tapegrad::nn::Linear;
    /// # use tapegrad::Params;
    /// # use tapegrad::rand::{rngs::StdRng, SeedableRng};
    /// let mut params = Params::new();
    /// let layer = Linear::without_bias(&mut params, "proj", 4, 4, &mut StdRng::seed_from_u64(1));
    /// assert!(layer.bias.is_none() && params.len() == 1);
    /// ```
    #[track_caller]
    pub fn without_bias<R: Rng + ?Sized>(
        params: &mut Params,
        name: &str,
        in_features: usize,
        out_features: usize,
        rng: &mut R,
    ) -> Linear {
        Linear::build(params, name, in_features, out_features, false, rng)
    }

    #[track_caller]
    fn build<R: Rng + ?Sized>(
        params: &mut Params,
        name: &str,
        in_features: usize,
        out_features: usize,
        bias: bool,
        rng: &mut R,
    ) -> Linear {
        // PyTorch: kaiming_uniform_(a=sqrt(5)) for the weight, which is U(-1/sqrt(in), 1/sqrt(in)),
        // and the same bound for the bias (0 when in_features is 0).
        let bound = if in_features == 0 { 0.0 } else { 1.0 / (in_features as f64).sqrt() };
        let weight = join(name, "weight");
        params.insert(weight.clone(), symmetric_uniform(&[out_features, in_features], bound, rng));
        let bias = bias.then(|| {
            let key = join(name, "bias");
            params.insert(key.clone(), symmetric_uniform(&[out_features], bound, rng));
            key
        });
        Linear { weight, bias, in_features, out_features }
    }

    /// `x W^T + b` for `x` of shape `[.., in_features]`: one [`Var::linear`] node on the tape.
    ///
    /// ```
    /// # use tapegrad::nn::Linear;
    /// # use tapegrad::Params;
    /// # use tapegrad::{Tape, Tensor};
    /// # use tapegrad::rand::{rngs::StdRng, SeedableRng};
    /// let mut params = Params::new();
    /// let fc = Linear::new(&mut params, "fc", 2, 1, &mut StdRng::seed_from_u64(0));
    /// params.set("fc.weight", Tensor::new(vec![2.0, -1.0], &[1, 2])?);
    /// params.set("fc.bias", Tensor::new(vec![0.5], &[1])?);
    /// let tape = Tape::new();
    /// let y = fc.forward(&params.on(&tape), tape.constant(Tensor::new(vec![1.0, 3.0], &[1, 2])?));
    /// assert_eq!(y.item(), 2.0 - 3.0 + 0.5);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn forward<'t>(&self, p: &ParamVars<'t>, x: Var<'t>) -> Var<'t> {
        x.linear(p[&self.weight], self.bias.as_ref().map(|b| p[b]))
    }
}
