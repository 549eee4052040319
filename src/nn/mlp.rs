//! `Mlp`: a stack of `Linear` layers with an activation between them.

use rand::Rng;

use super::{Linear, ParamVars, Params, join};
use crate::autograd::Var;

/// The activation between the layers of an [`Mlp`].
///
/// ```
/// use tapegrad::nn::{Activation, Mlp};
/// use tapegrad::Params;
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// let mut params = Params::new();
/// let mlp = Mlp::new(&mut params, "mlp", &[4, 4], Activation::Gelu, &mut StdRng::seed_from_u64(0));
/// assert_eq!(mlp.activation, Activation::Gelu);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `relu`.
    Relu,
    /// `tanh`.
    Tanh,
    /// `gelu` (tanh approximation).
    Gelu,
    /// `sigmoid`.
    Sigmoid,
}

impl Activation {
    /// Applies the activation (one node).
    ///
    /// ```
    /// use tapegrad::nn::Activation;
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::new(vec![-1.0, 2.0], &[2])?);
    /// assert_eq!(Activation::Relu.apply(x).value().data(), &[0.0, 2.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn apply<'t>(self, x: Var<'t>) -> Var<'t> {
        match self {
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
            Activation::Gelu => x.gelu(),
            Activation::Sigmoid => x.sigmoid(),
        }
    }
}

/// A multi-layer perceptron: `Linear`, activation, `Linear`, ..., `Linear` (no activation
/// after the last layer, so that it gives logits or a score). Sizes `[2, 16, 16, 1]` make
/// three layers. Keys are those of PyTorch's `nn.Sequential` of the same layers, whose
/// activations take indices too: `"<name>.0.weight"`, `"<name>.2.weight"`, `"<name>.4.weight"`.
///
/// ```
/// use tapegrad::nn::{Activation, Mlp};
/// use tapegrad::Params;
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// use tapegrad::{Tape, Tensor};
/// let mut params = Params::new();
/// let mlp = Mlp::new(&mut params, "net", &[2, 16, 16, 1], Activation::Relu, &mut StdRng::seed_from_u64(0));
/// assert_eq!(params.num_params(), 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1);
/// assert!(params.contains("net.4.bias"));
/// let tape = Tape::new();
/// let p = params.on(&tape);
/// assert_eq!(mlp.forward(&p, tape.constant(Tensor::ones(&[8, 2]))).shape(), [8, 1]);
/// ```
#[derive(Clone, Debug)]
pub struct Mlp {
    /// The layers, first to last.
    pub layers: Vec<Linear>,
    /// The activation after every layer but the last.
    pub activation: Activation,
}

impl Mlp {
    /// Layers of the given sizes (at least two: input and output), each a [`Linear`] with bias
    /// and PyTorch's initialisation, added to `params` under `name`.
    ///
    /// ```
    /// # use tapegrad::nn::{Activation, Mlp};
    /// # use tapegrad::Params;
    /// # use tapegrad::rand::{rngs::StdRng, SeedableRng};
    /// let mut params = Params::new();
    /// let mlp = Mlp::new(&mut params, "", &[2, 16, 16, 1], Activation::Relu, &mut StdRng::seed_from_u64(0));
    /// assert_eq!(mlp.layers.len(), 3);
    /// assert_eq!(params.names().next(), Some("0.weight")); // as nn.Sequential's state_dict
    /// ```
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(
        params: &mut Params,
        name: &str,
        sizes: &[usize],
        activation: Activation,
        rng: &mut R,
    ) -> Mlp {
        assert!(sizes.len() >= 2, "Mlp::new: sizes {sizes:?} need an input and an output size");
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, io)| Linear::new(params, &join(name, &(2 * i).to_string()), io[0], io[1], rng))
            .collect();
        Mlp { layers, activation }
    }

    /// Every layer in turn, the activation between them.
    ///
    /// ```
    /// # use tapegrad::nn::{Activation, Mlp};
    /// # use tapegrad::Params;
    /// # use tapegrad::rand::{rngs::StdRng, SeedableRng};
    /// # use tapegrad::{Tape, Tensor};
    /// let mut params = Params::new();
    /// let mlp = Mlp::new(&mut params, "net", &[3, 5, 2], Activation::Tanh, &mut StdRng::seed_from_u64(0));
    /// let tape = Tape::new();
    /// let y = mlp.forward(&params.on(&tape), tape.constant(Tensor::ones(&[7, 3])));
    /// assert_eq!(y.shape(), [7, 2]);
    /// ```
    #[track_caller]
    pub fn forward<'t>(&self, p: &ParamVars<'t>, x: Var<'t>) -> Var<'t> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (i, layer)| {
            let h = layer.forward(p, h);
            if i < last { self.activation.apply(h) } else { h }
        })
    }
}
