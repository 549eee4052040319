//! `Embedding`: a table of rows looked up by id, as `torch.nn.Embedding`.

use rand::Rng;

use super::{ParamVars, Params, join};
use crate::autograd::Var;
use crate::tensor::Tensor;
use crate::tensor::indices::AsIndices;

/// A lookup table of `num_embeddings` rows of size `embedding_dim` (key `"<name>.weight"`),
/// initialised N(0, 1) as PyTorch.
///
/// ```
/// use tapegrad::nn::Embedding;
/// use tapegrad::Params;
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// use tapegrad::Tape;
/// let mut params = Params::new();
/// let emb = Embedding::new(&mut params, "wte", 27, 10, &mut StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let p = params.on(&tape);
/// let rows = emb.forward(&p, &[5, 0, 5]);
/// assert_eq!(rows.shape(), [3, 10]);
/// ```
#[derive(Clone, Debug)]
pub struct Embedding {
    /// The key of the table, `"<name>.weight"`.
    pub weight: String,
    /// The number of rows.
    pub num_embeddings: usize,
    /// The size of each row.
    pub embedding_dim: usize,
}

impl Embedding {
    /// A table added to `params` under `name`, N(0, 1).
    ///
    /// ```
    /// # use tapegrad::nn::Embedding;
    /// # use tapegrad::Params;
    /// # use tapegrad::rand::{rngs::StdRng, SeedableRng};
    /// let mut params = Params::new();
    /// Embedding::new(&mut params, "wte", 27, 10, &mut StdRng::seed_from_u64(0));
    /// assert_eq!(params["wte.weight"].shape(), &[27, 10]);
    /// ```
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(
        params: &mut Params,
        name: &str,
        num_embeddings: usize,
        embedding_dim: usize,
        rng: &mut R,
    ) -> Embedding {
        let weight = join(name, "weight");
        params.insert(weight.clone(), Tensor::randn(&[num_embeddings, embedding_dim], rng));
        Embedding { weight, num_embeddings, embedding_dim }
    }

    /// The rows of `ids`: ids of shape `S` (a batch `[B, T]` as [`Indices`](crate::Indices),
    /// or a flat list) give `S ++ [embedding_dim]`, one `embedding` node. Panics when an id is
    /// out of range.
    ///
    /// ```
    /// # use tapegrad::nn::Embedding;
    /// # use tapegrad::Params;
    /// # use tapegrad::rand::{rngs::StdRng, SeedableRng};
    /// # use tapegrad::Tape;
    /// let mut params = Params::new();
    /// let emb = Embedding::new(&mut params, "wte", 4, 2, &mut StdRng::seed_from_u64(0));
    /// let tape = Tape::new();
    /// let rows = emb.forward(&params.on(&tape), &[3, 3]);
    /// assert_eq!(rows.value().data()[..2], params["wte.weight"].data()[6..8]);
    /// let batch = emb.forward(&params.on(&tape), &tapegrad::Indices::from([[0, 1, 2], [3, 3, 0]]));
    /// assert_eq!(batch.shape(), [2, 3, 2]);
    /// ```
    #[track_caller]
    pub fn forward<'t>(&self, p: &ParamVars<'t>, ids: impl AsIndices) -> Var<'t> {
        p[&self.weight].embedding(ids)
    }
}
