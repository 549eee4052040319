//! Data helpers on any random generator: a random permutation, shuffled minibatches and a
//! train/validation split, all as lists of example indices. Select the examples with
//! [`Tensor::index_select`](crate::Tensor::index_select) (`x.index_select(0, &batch)`) or by
//! indexing your own `Vec`s.
//!
//! ```
//! use tapegrad::data::{minibatches, train_val_split};
//! use tapegrad::rand::{rngs::StdRng, SeedableRng};
//! use tapegrad::Tensor;
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let x = Tensor::from_fn(&[10, 2], |ix| (ix[0] * 2 + ix[1]) as f64);
//! let (train, val) = train_val_split(10, 0.2, &mut rng);
//! assert_eq!((train.len(), val.len()), (8, 2));
//! for batch in minibatches(&train, 3, &mut rng) {
//!     let xb = x.index_select(0, &batch); // up to 3 rows of the training set
//!     assert!(xb.shape()[0] <= 3);
//! }
//! ```

use rand::Rng;
use rand::seq::SliceRandom;

use crate::tensor::indices::AsIndices;

/// `0..n` in a random order (PyTorch's `torch.randperm(n)`).
///
/// ```
/// use tapegrad::data::permutation;
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// let mut p = permutation(5, &mut StdRng::seed_from_u64(1));
/// p.sort();
/// assert_eq!(p, [0, 1, 2, 3, 4]);
/// ```
pub fn permutation<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    p.shuffle(rng);
    p
}

/// Shuffles `items` in place (Fisher-Yates, as `rand`'s `SliceRandom::shuffle`).
///
/// ```
/// use tapegrad::data::shuffle;
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// let mut words = vec!["emma", "olivia", "ava"];
/// shuffle(&mut words, &mut StdRng::seed_from_u64(0));
/// assert_eq!(words.len(), 3);
/// ```
pub fn shuffle<T, R: Rng + ?Sized>(items: &mut [T], rng: &mut R) {
    items.shuffle(rng);
}

/// `indices` (a flat list or 1-D [`Indices`](crate::Indices)) shuffled and cut into batches
/// of `batch_size` (the last one shorter when `batch_size` does not divide their number), as
/// one epoch of PyTorch's `DataLoader(shuffle=True)`. Each batch is a `Vec<usize>`, which every
/// op taking indices accepts. Panics when `batch_size` is 0 or `indices` has more than one axis.
///
/// ```
/// use tapegrad::data::minibatches;
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// let all: Vec<usize> = (0..10).collect();
/// let batches = minibatches(&all, 4, &mut StdRng::seed_from_u64(0));
/// assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
/// ```
#[track_caller]
pub fn minibatches<R: Rng + ?Sized>(indices: impl AsIndices, batch_size: usize, rng: &mut R) -> Vec<Vec<usize>> {
    assert!(batch_size > 0, "minibatches: batch_size must be positive");
    let indices = indices.as_indices();
    let shape = indices.shape();
    assert!(shape.len() <= 1, "minibatches: indices of shape {shape:?} must be a list (one axis)");
    let mut order = indices.into_owned().into_data();
    order.shuffle(rng);
    order.chunks(batch_size).map(<[usize]>::to_vec).collect()
}

/// `batch_size` indices drawn uniformly from `0..n` with replacement (makemore's
/// `torch.randint(0, n, (batch_size,))`). Panics when `n` is 0.
///
/// ```
/// use tapegrad::data::random_batch;
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// let b = random_batch(100, 32, &mut StdRng::seed_from_u64(0));
/// assert!(b.len() == 32 && b.iter().all(|&i| i < 100));
/// ```
#[track_caller]
pub fn random_batch<R: Rng + ?Sized>(n: usize, batch_size: usize, rng: &mut R) -> Vec<usize> {
    use rand::RngExt;
    assert!(n > 0, "random_batch: cannot draw from 0 examples");
    (0..batch_size).map(|_| rng.random_range(0..n)).collect()
}

/// Splits `0..n` at random into training and validation indices, `round(n * val_fraction)` of
/// them for validation (each list in random order). Panics unless `0 <= val_fraction <= 1`.
///
/// ```
/// use tapegrad::data::train_val_split;
/// use tapegrad::rand::{rngs::StdRng, SeedableRng};
/// let (train, val) = train_val_split(100, 0.1, &mut StdRng::seed_from_u64(0));
/// assert_eq!((train.len(), val.len()), (90, 10));
/// assert!(val.iter().all(|i| !train.contains(i)));
/// ```
#[track_caller]
pub fn train_val_split<R: Rng + ?Sized>(n: usize, val_fraction: f64, rng: &mut R) -> (Vec<usize>, Vec<usize>) {
    assert!((0.0..=1.0).contains(&val_fraction), "train_val_split: val_fraction {val_fraction} is not within 0..=1");
    let mut order = permutation(n, rng);
    let n_val = (n as f64 * val_fraction).round() as usize;
    let val = order.split_off(n - n_val);
    (order, val)
}
