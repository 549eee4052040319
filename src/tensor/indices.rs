//! `Indices`: integer index tensors with a shape (PyTorch's `LongTensor` of ids and class
//! targets), and [`AsIndices`], through which ops take them: `Indices`, or a plain `&[usize]`,
//! `&Vec<usize>` or `&[usize; N]` (1-D), so that callers with a flat list need no change.

use std::borrow::Cow;
use std::fmt;

use smallvec::SmallVec;

use crate::error::Error;
use crate::tensor::Tensor;
use crate::tensor::shape::{self, Shape, unravel};

/// A dense, row-major array of `usize` indices with a shape: token ids `[B, T]` for
/// [`Var::embedding`](crate::Var::embedding), class targets shaped like the logits' leading
/// axes for [`Var::cross_entropy`](crate::Var::cross_entropy), an index for
/// [`Var::gather`](crate::Var::gather). Rank 0 (one index, shape `[]`) and up.
///
/// ```
/// use tapegrad::{Indices, Tape, Tensor};
/// let ids = Indices::from([[1, 0, 2], [2, 2, 1]]); // a batch of 2 contexts of 3 tokens
/// assert_eq!((ids.shape(), ids.data()), (&[2, 3][..], &[1, 0, 2, 2, 2, 1][..]));
/// let tape = Tape::new();
/// let table = tape.var(Tensor::from_fn(&[3, 4], |ix| (ix[0] * 4 + ix[1]) as f64));
/// assert_eq!(table.embedding(&ids).shape(), [2, 3, 4]);
/// assert_eq!(Indices::new(vec![1, 2, 3], &[2, 2]).unwrap_err().to_string(), "Indices::new: 3 elements do not fill shape [2, 2] (4 elements)");
/// println!("{ids}"); // [[1 0 2]
///                    //  [2 2 1]]
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Indices {
    data: Vec<usize>,
    shape: Shape,
}

impl Indices {
    /// Indices of `shape` holding `data` in row-major order. `Err` when `data.len()` is not
    /// the product of `shape` (or the shape's size overflows).
    pub fn new(data: Vec<usize>, shape: &[usize]) -> Result<Indices, Error> {
        let n = shape::checked_numel(shape)
            .ok_or_else(|| Error::ShapeOverflow { op: "Indices::new", shape: shape.to_vec() })?;
        if data.len() != n {
            return Err(Error::LengthMismatch { op: "Indices::new", len: data.len(), shape: shape.to_vec() });
        }
        Ok(Indices { data, shape: SmallVec::from_slice(shape) })
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The indices in row-major order.
    pub fn data(&self) -> &[usize] {
        &self.data
    }

    /// The number of indices.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The indices, row-major, without their shape.
    pub fn into_data(self) -> Vec<usize> {
        self.data
    }

    /// The same indices with another shape of the same size (`Err` otherwise).
    ///
    /// ```
    /// # use tapegrad::Indices;
    /// let flat = Indices::from(vec![0, 1, 2, 3, 4, 5]);
    /// assert_eq!(flat.reshape(&[2, 3])?, Indices::from([[0, 1, 2], [3, 4, 5]]));
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn reshape(self, shape: &[usize]) -> Result<Indices, Error> {
        Indices::new(self.data, shape)
    }

    /// The ids of a 1-D (or rank-0) index, as `index_select` takes; panics, naming `op` and
    /// the input's shape, for more axes.
    #[track_caller]
    pub(crate) fn list(&self, op: &str, input_shape: &[usize]) -> &[usize] {
        assert!(
            self.rank() <= 1,
            "{op}: index of shape {:?} for input of shape {input_shape:?}: it needs one axis (a list of ids)",
            self.shape()
        );
        &self.data
    }

    /// The indices as an `f64` tensor of the same shape (exact below 2^53).
    pub fn to_tensor(&self) -> Tensor {
        Tensor::new(self.data.iter().map(|&i| i as f64).collect(), &self.shape).expect("the same shape")
    }
}

/// An `f64` tensor of whole numbers as indices, as `tensor.long()`. `Err`
/// ([`Error::NotAnIndex`], naming the value and its position) at the first element that is
/// negative, fractional, NaN or too large for `usize`.
///
/// ```
/// use tapegrad::{Indices, Tensor};
/// let t = Tensor::new(vec![2.0, 0.0, 1.0, 2.0], &[2, 2])?;
/// assert_eq!(Indices::try_from(&t)?, Indices::from([[2, 0], [1, 2]]));
/// let bad = Tensor::new(vec![1.0, 0.5], &[2])?;
/// assert_eq!(Indices::try_from(&bad).unwrap_err().to_string(), "Indices::try_from: 0.5 at [1] of shape [2] is not an index (a whole number in 0..2^64)");
/// # Ok::<(), tapegrad::Error>(())
/// ```
impl TryFrom<&Tensor> for Indices {
    type Error = Error;

    fn try_from(t: &Tensor) -> Result<Indices, Error> {
        let mut data = Vec::with_capacity(t.numel());
        for (i, &v) in t.data().iter().enumerate() {
            // 2^64 is exact as f64; every whole number below it converts exactly.
            if !(v >= 0.0 && v.fract() == 0.0 && v < 2f64.powi(64)) {
                let (position, shape) = (unravel(i, t.shape()), t.shape().to_vec());
                return Err(Error::NotAnIndex { op: "Indices::try_from", value: v, position, shape });
            }
            data.push(v as usize);
        }
        Ok(Indices { data, shape: SmallVec::from_slice(t.shape()) })
    }
}

/// A flat list: shape `[len]`.
impl From<Vec<usize>> for Indices {
    fn from(data: Vec<usize>) -> Indices {
        let shape = SmallVec::from_slice(&[data.len()]);
        Indices { data, shape }
    }
}

/// A flat list: shape `[len]`.
impl From<&[usize]> for Indices {
    fn from(data: &[usize]) -> Indices {
        Indices::from(data.to_vec())
    }
}

/// A flat list: shape `[N]`.
impl<const N: usize> From<[usize; N]> for Indices {
    fn from(data: [usize; N]) -> Indices {
        Indices::from(data.to_vec())
    }
}

/// Rows of equal length: shape `[N, M]`.
impl<const N: usize, const M: usize> From<[[usize; M]; N]> for Indices {
    fn from(rows: [[usize; M]; N]) -> Indices {
        Indices { data: rows.as_flattened().to_vec(), shape: SmallVec::from_slice(&[N, M]) }
    }
}

/// Blocks of rows: shape `[N, M, K]`.
impl<const N: usize, const M: usize, const K: usize> From<[[[usize; K]; M]; N]> for Indices {
    fn from(blocks: [[[usize; K]; M]; N]) -> Indices {
        Indices { data: blocks.as_flattened().as_flattened().to_vec(), shape: SmallVec::from_slice(&[N, M, K]) }
    }
}

/// A flat list: shape `[len]`.
impl FromIterator<usize> for Indices {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Indices {
        Indices::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl fmt::Debug for Indices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Indices").field("shape", &self.shape()).field("data", &self.data()).finish()
    }
}

/// Prints as [`Tensor`]'s `Display` does (NumPy's layout): nested brackets, one row per line,
/// columns aligned.
impl fmt::Display for Indices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.data.iter().map(|i| i.to_string().len()).max().unwrap_or(0);
        if self.shape.is_empty() {
            return write!(f, "{}", self.data[0]);
        }
        let mut out = String::new();
        let summarise = self.numel() > 1000;
        super::write_nested(&mut out, &self.data, &self.shape, 0, &|i| format!("{i:>width$}"), summarise);
        f.write_str(&out)
    }
}

/// What ops take as integer indices: `&Indices` of any shape, or a flat `&[usize]`,
/// `&Vec<usize>` or `&[usize; N]`, which are 1-D. Each op says which shapes it accepts.
/// Implemented for references only, as the ops always took `&[usize]`: `x.cross_entropy(&t)`.
///
/// ```
/// use tapegrad::{AsIndices, Indices};
/// fn count(ids: impl AsIndices) -> usize {
///     ids.as_indices().numel()
/// }
/// let ids = vec![3, 1, 4];
/// assert_eq!(count(&ids) + count(&[1, 5]) + count(&ids[..1]) + count(&Indices::from([[9, 2], [6, 5]])), 10);
/// ```
pub trait AsIndices {
    /// These indices with their shape: borrowed when they already are [`Indices`].
    fn as_indices(&self) -> Cow<'_, Indices>;
}

impl AsIndices for &Indices {
    fn as_indices(&self) -> Cow<'_, Indices> {
        Cow::Borrowed(self)
    }
}

impl AsIndices for &[usize] {
    fn as_indices(&self) -> Cow<'_, Indices> {
        Cow::Owned(Indices::from(*self))
    }
}

impl<const N: usize> AsIndices for &[usize; N] {
    fn as_indices(&self) -> Cow<'_, Indices> {
        Cow::Owned(Indices::from(&self[..]))
    }
}

impl AsIndices for &Vec<usize> {
    fn as_indices(&self) -> Cow<'_, Indices> {
        Cow::Owned(Indices::from(self.as_slice()))
    }
}

/// A reference to any of the above (`&ids` where `ids` is already a `&[usize]`), which a
/// `&[usize]` parameter accepted by deref coercion.
impl<T: AsIndices> AsIndices for &T {
    fn as_indices(&self) -> Cow<'_, Indices> {
        (**self).as_indices()
    }
}

/// What [`Var::gather`](crate::Var::gather) takes as its index: anything [`AsIndices`], or an
/// `&Tensor` of whole numbers as `f64` (converted as [`Indices::try_from`] does).
pub trait GatherIndex {
    /// The index as integers; `Err` ([`Error::NotAnIndex`]) for an `f64` entry that is not one.
    fn to_indices(&self) -> Result<Cow<'_, Indices>, Error>;
}

impl<T: AsIndices> GatherIndex for T {
    fn to_indices(&self) -> Result<Cow<'_, Indices>, Error> {
        Ok(self.as_indices())
    }
}

impl GatherIndex for &Tensor {
    fn to_indices(&self) -> Result<Cow<'_, Indices>, Error> {
        Indices::try_from(*self).map(Cow::Owned)
    }
}
