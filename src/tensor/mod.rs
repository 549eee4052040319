//! `Tensor`: an owned, dense, row-major array of `f64` with a shape.
//!
//! A tensor is just numbers. It knows nothing about gradients: the [`Tape`](crate::Tape)
//! records what is computed from tensors and differentiates that.

use std::fmt;
use std::mem::ManuallyDrop;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal, Uniform};
use smallvec::SmallVec;

pub(crate) mod axis;
pub(crate) mod buffer;
pub(crate) mod indices;
pub(crate) mod parallel;
pub(crate) mod shape;
pub(crate) mod storage;
pub(crate) mod view;

use crate::error::Error;
use crate::tensor::buffer::Data;
use crate::tensor::shape::Shape;
use crate::tensor::storage::Storage;
use crate::tensor::view::View;

/// An owned, dense, row-major array of `f64`. Rank 0 (a scalar, shape `[]`) and up.
///
/// Inside the crate a tensor may be a strided view of another's buffer (a transpose or narrow
/// of a large tensor, see `view`); it still reads as row-major through [`Tensor::data`].
pub struct Tensor {
    shape: Shape,
    /// The elements in row-major order; for a view, the buffer it reads through its strides.
    data: Storage,
    /// Set when the tensor is a strided view of `data` (what `transpose` returns; see `view`).
    /// Dropped by `release` (which `Drop` calls), so that dropping an ordinary tensor, W1's
    /// hot path, has no drop glue for it.
    view: ManuallyDrop<Option<Box<View>>>,
}

impl Tensor {
    /// A tensor of `shape` holding `data` in row-major order.
    ///
    /// Fails when `data.len()` is not the product of `shape`, or the shape is too large to
    /// describe ([`Error::ShapeOverflow`]: the product of its non-zero sizes must fit in `usize`).
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let t = Tensor::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(t.shape(), &[2, 3]);
    /// assert!(Tensor::new(vec![1.0, 2.0], &[3]).is_err());
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn new(data: Vec<f64>, shape: &[usize]) -> Result<Tensor, Error> {
        let n = shape::checked_numel(shape)
            .ok_or_else(|| Error::ShapeOverflow { op: "Tensor::new", shape: shape.to_vec() })?;
        if data.len() != n {
            return Err(Error::LengthMismatch { op: "Tensor::new", len: data.len(), shape: shape.to_vec() });
        }
        Ok(Tensor { shape: SmallVec::from_slice(shape), data: Data::from_vec(data).into(), view: NO_VIEW })
    }

    /// Builds a tensor from parts already known to agree. Crate-internal: ops use it for
    /// outputs whose length they computed from the shape.
    #[inline]
    pub(crate) fn from_parts(data: impl Into<Data>, shape: &[usize]) -> Tensor {
        let data: Data = data.into();
        debug_assert_eq!(data.len(), shape::numel(shape), "from_parts: length and shape disagree");
        Tensor { shape: SmallVec::from_slice(shape), data: data.into(), view: NO_VIEW }
    }

    /// A rank-0 tensor (shape `[]`) holding one value.
    pub fn scalar(value: f64) -> Tensor {
        Tensor { shape: Shape::new(), data: Data::from_elem(value, 1).into(), view: NO_VIEW }
    }

    /// A tensor of `shape` with every element equal to `value`.
    ///
    /// Panics, naming the constructor, the shape and the bytes, when the shape is too large to
    /// describe or its memory cannot be allocated; [`Tensor::try_full`] returns those as errors.
    #[track_caller]
    pub fn full(shape: &[usize], value: f64) -> Tensor {
        Tensor::try_filled("Tensor::full", shape, value).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A tensor of `shape` with every element equal to `value`, or an error when the shape is
    /// too large to describe ([`Error::ShapeOverflow`]) or its memory cannot be allocated
    /// ([`Error::AllocationFailed`]).
    ///
    /// ```
    /// # use tapegrad::{Error, Tensor};
    /// assert_eq!(Tensor::try_full(&[2], 7.0)?.data(), &[7.0, 7.0]);
    /// assert!(matches!(Tensor::try_full(&[1 << 61], 0.0), Err(Error::AllocationFailed { .. })));
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn try_full(shape: &[usize], value: f64) -> Result<Tensor, Error> {
        Tensor::try_filled("Tensor::full", shape, value)
    }

    /// A tensor of zeros.
    ///
    /// Panics, naming the constructor, the shape and the bytes, when the shape is too large to
    /// describe or its memory cannot be allocated; [`Tensor::try_zeros`] returns those as errors.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// assert_eq!(Tensor::zeros(&[2, 3]).data(), &[0.0; 6]);
    /// ```
    #[track_caller]
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::try_filled("Tensor::zeros", shape, 0.0).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A tensor of zeros, or an error when the shape is too large to describe
    /// ([`Error::ShapeOverflow`]) or its memory cannot be allocated ([`Error::AllocationFailed`]).
    ///
    /// ```
    /// # use tapegrad::{Error, Tensor};
    /// assert_eq!(Tensor::try_zeros(&[2])?.data(), &[0.0, 0.0]);
    /// assert!(matches!(Tensor::try_zeros(&[1 << 40, 1 << 40]), Err(Error::ShapeOverflow { .. })));
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn try_zeros(shape: &[usize]) -> Result<Tensor, Error> {
        Tensor::try_filled("Tensor::zeros", shape, 0.0)
    }

    /// A tensor of ones. Panics like [`Tensor::zeros`].
    #[track_caller]
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::try_filled("Tensor::ones", shape, 1.0).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_filled(op: &'static str, shape: &[usize], value: f64) -> Result<Tensor, Error> {
        let n = checked_len(op, shape)?;
        let data = if value.to_bits() == 0 {
            buffer::try_zeroed(n)
        } else {
            buffer::try_with_capacity(n).map(|mut data| {
                data.extend(std::iter::repeat_n(value, n));
                data
            })
        };
        let data = data.map_err(|e| Error::AllocationFailed { op, shape: shape.to_vec(), bytes: e.bytes() })?;
        Ok(Tensor::from_parts(data, shape))
    }

    /// A tensor whose element at each multi-index is `f(index)`, visited in row-major order.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let eye = Tensor::from_fn(&[2, 2], |ix| if ix[0] == ix[1] { 1.0 } else { 0.0 });
    /// assert_eq!(eye.data(), &[1.0, 0.0, 0.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn from_fn(shape: &[usize], mut f: impl FnMut(&[usize]) -> f64) -> Tensor {
        let (n, mut data) = allocate("Tensor::from_fn", shape);
        let mut index: Shape = SmallVec::from_elem(0, shape.len());
        for _ in 0..n {
            data.push(f(&index));
            // Row-major increment of the multi-index.
            for axis in (0..shape.len()).rev() {
                index[axis] += 1;
                if index[axis] < shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
        Tensor::from_parts(data, shape)
    }

    /// Standard normal samples (mean 0, standard deviation 1) from any random generator.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let w = Tensor::randn(&[3, 4], &mut rng) * 0.1;
    /// assert_eq!(w.shape(), &[3, 4]);
    /// ```
    #[track_caller]
    pub fn randn<R: Rng + ?Sized>(shape: &[usize], rng: &mut R) -> Tensor {
        let (n, mut data) = allocate("Tensor::randn", shape);
        data.extend((0..n).map(|_| StandardNormal.sample(rng)));
        Tensor::from_parts(data, shape)
    }

    /// Samples uniform on `[low, high)` from any random generator.
    ///
    /// Panics when `low >= high` or either bound is not finite.
    #[track_caller]
    pub fn uniform<R: Rng + ?Sized>(shape: &[usize], low: f64, high: f64, rng: &mut R) -> Tensor {
        let dist = Uniform::new(low, high)
            .unwrap_or_else(|e| panic!("Tensor::uniform: bounds {low} and {high} are not a valid range ({e})"));
        let (n, mut data) = allocate("Tensor::uniform", shape);
        data.extend((0..n).map(|_| dist.sample(rng)));
        Tensor::from_parts(data, shape)
    }

    /// The shape: one size per axis.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The elements in row-major order.
    #[inline]
    pub fn data(&self) -> &[f64] {
        self.dense()
    }

    /// The elements in row-major order, writable (the shape stays as it is).
    pub fn data_mut(&mut self) -> &mut [f64] {
        self.make_dense();
        &mut self.data
    }

    /// The row-major buffer: this tensor's own, or a view's elements gathered on first use.
    #[inline]
    fn dense(&self) -> &Storage {
        match &*self.view {
            None => &self.data,
            Some(view) => self.gathered(view),
        }
    }

    /// A view's elements in row-major order, gathered on first use (out of line: the path of
    /// every ordinary tensor, W1's among them, stays a pointer and a branch).
    #[cold]
    #[inline(never)]
    fn gathered<'a>(&'a self, view: &'a View) -> &'a Storage {
        view.dense(&self.data, &self.shape)
    }

    /// Turns a view into an ordinary tensor holding its elements in row-major order (before a
    /// write: the buffer the view read stays as it was).
    fn make_dense(&mut self) {
        if let Some(view) = self.view.take() {
            let dense = view.into_dense(&self.data, &self.shape);
            recycle(std::mem::replace(&mut self.data, dense));
        }
    }

    /// The elements as a buffer, an offset and one stride per axis: element `i` (a
    /// multi-index) is `data[offset + i . strides]`. For ops that read strided operands
    /// (`matmul`): a view is read where it is, without gathering.
    pub(crate) fn strided(&self) -> (usize, &[f64], Shape) {
        match &*self.view {
            None => (0, &self.data, shape::strides(&self.shape)),
            Some(view) => (view.offset, &self.data, view.strides.clone()),
        }
    }

    /// Whether this tensor is a strided view (for tests of the ops that make them).
    #[cfg(test)]
    pub(crate) fn is_view(&self) -> bool {
        self.view.is_some()
    }

    /// This tensor with axes `a` and `b` swapped (both in range). A large tensor's is a view of
    /// the same buffer (see `view`: nothing is copied until an op reads it in row-major order;
    /// a view of a view that reads row-major again is an ordinary tensor); a small one's is a
    /// copy, cheaper than sharing.
    pub(crate) fn transposed(&self, a: usize, b: usize) -> Tensor {
        let (offset, _, mut strides) = self.strided();
        let mut out_shape = self.shape.clone();
        out_shape.swap(a, b);
        strides.swap(a, b);
        self.view_as(out_shape, offset, strides)
    }

    /// Elements `start..start + len` of `axis` (in range): for a large tensor, a view of the
    /// same buffer (an offset, the same strides); for a small one, a copy.
    pub(crate) fn narrowed(&self, axis: usize, start: usize, len: usize) -> Tensor {
        let (offset, _, strides) = self.strided();
        let mut out_shape = self.shape.clone();
        out_shape[axis] = len;
        // `start < shape[axis]` or `len == 0`; an empty view reads nothing.
        let offset = if len == 0 { offset } else { offset + start * strides[axis] };
        self.view_as(out_shape, offset, strides)
    }

    /// A tensor of `shape` reading this tensor's buffer from `offset` with `strides` (which
    /// stay inside it): a view when the buffer is shared (large), an ordinary tensor when that
    /// reads the whole buffer in row-major order, a gathered copy of a small buffer.
    fn view_as(&self, shape: Shape, offset: usize, strides: Shape) -> Tensor {
        if !matches!(self.data, Storage::Shared(_)) || shape::numel(&shape) == 0 {
            // Views only ever read shared buffers.
            return Tensor::from_parts(view::gather(&self.data, offset, &shape, &strides), &shape);
        }
        let data = self.data.clone_value();
        let view = match view::is_row_major(offset, &shape, &strides, data.len()) {
            true => None,
            false => Some(Box::new(View::new(offset, strides))),
        };
        Tensor { shape, data, view: ManuallyDrop::new(view) }
    }

    /// `self += alpha * other`, in place (PyTorch's `self.add_(other, alpha=alpha)`): the
    /// update of a hand-written optimizer step, `w.add_scaled(&grad, -lr)`. Split over the
    /// cores for large tensors; written in place when no other tensor shares the buffer.
    ///
    /// Panics, naming both shapes, when they differ.
    ///
    /// ```
    /// use tapegrad::Tensor;
    /// let mut w = Tensor::new(vec![1.0, 2.0], &[2])?;
    /// w.add_scaled(&Tensor::new(vec![10.0, 20.0], &[2])?, -0.1);
    /// assert_eq!(w.data(), &[0.0, 0.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn add_scaled(&mut self, other: &Tensor, alpha: f64) {
        assert!(
            self.shape == other.shape,
            "add_scaled: shapes {:?} and {:?} differ",
            &self.shape[..],
            &other.shape[..]
        );
        crate::tensor::parallel::update(self.data_mut(), other.data(), |x, y| *x += alpha * y);
    }

    /// Takes the elements out, dropping the shape.
    pub fn into_data(mut self) -> Vec<f64> {
        self.make_dense();
        let mut storage = std::mem::take(&mut self.data);
        std::mem::take(storage.make_mut()).into_vec()
    }

    /// The number of axes (0 for a scalar).
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        match *self.view {
            None => self.data.len(),
            Some(_) => shape::numel(&self.shape),
        }
    }

    /// The value of a one-element tensor (any shape with one element).
    ///
    /// Panics when the tensor has more or fewer than one element.
    #[track_caller]
    pub fn item(&self) -> f64 {
        assert!(self.numel() == 1, "item: tensor of shape {:?} has {} elements, not 1", self.shape(), self.numel());
        self.data()[0]
    }

    /// The element at a multi-index. Panics with both the index and the shape when it is out
    /// of range.
    #[track_caller]
    pub fn get(&self, index: &[usize]) -> f64 {
        self.data()[self.offset(index)]
    }

    /// Overwrites the element at a multi-index.
    #[track_caller]
    pub fn set(&mut self, index: &[usize], value: f64) {
        let at = self.offset(index);
        self.data_mut()[at] = value;
    }

    #[track_caller]
    fn offset(&self, index: &[usize]) -> usize {
        let valid = index.len() == self.rank() && index.iter().zip(self.shape()).all(|(i, n)| i < n);
        assert!(valid, "index {index:?} is out of range for shape {:?}", self.shape());
        index.iter().zip(shape::strides(&self.shape).iter()).map(|(i, s)| i * s).sum()
    }

    /// The same elements with another shape of the same number of elements.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let t = Tensor::ones(&[2, 3]).reshape(&[3, 2])?;
    /// assert_eq!(t.shape(), &[3, 2]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn reshape(mut self, shape: &[usize]) -> Result<Tensor, Error> {
        let n = checked_len("Tensor::reshape", shape)?;
        self.make_dense();
        if n != self.data.len() {
            return Err(Error::LengthMismatch { op: "Tensor::reshape", len: self.data.len(), shape: shape.to_vec() });
        }
        Ok(Tensor { shape: SmallVec::from_slice(shape), data: std::mem::take(&mut self.data), view: NO_VIEW })
    }

    /// Drops the elements and keeps the shape: a value the tape has released (its buffer goes
    /// back to the pool, or to another tensor that shares it).
    #[inline]
    pub(crate) fn release(&mut self) {
        if self.view.is_some() {
            self.release_view();
        }
        recycle(std::mem::take(&mut self.data));
    }

    /// Drops a view, handing its gathered elements (if any) back to the pool.
    #[cold]
    #[inline(never)]
    fn release_view(&mut self) {
        if let Some(dense) = self.view.take().and_then(|mut view| view.take_dense()) {
            recycle(dense);
        }
    }

    /// The same elements with `shape` (of the same size), sharing this tensor's buffer when it
    /// is large, copying it else (see `storage`). A view stays a view when strides can read it
    /// with the new shape (`view::reshape_strides`), and is gathered else.
    pub(crate) fn share_as(&self, shape: &[usize]) -> Tensor {
        debug_assert_eq!(shape::numel(shape), self.numel(), "share_as: sizes differ");
        if let Some(view) = self.view.as_deref().filter(|view| !view.is_gathered())
            && let Some(strides) = view::reshape_strides(&self.shape, &view.strides, shape)
        {
            return self.view_as(SmallVec::from_slice(shape), view.offset, strides);
        }
        Tensor { shape: SmallVec::from_slice(shape), data: self.dense().clone_value(), view: NO_VIEW }
    }

    /// A tensor of the same shape with `f` applied to every element.
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Tensor {
        Tensor {
            shape: self.shape.clone(),
            data: buffer::collect(self.numel(), self.data().iter().map(|&x| f(x))).into(),
            view: NO_VIEW,
        }
    }

    /// The Euclidean (L2) norm of all elements.
    pub fn norm(&self) -> f64 {
        self.data().iter().map(|x| x * x).sum::<f64>().sqrt()
    }

    /// The largest absolute elementwise difference to `other` (same shape); NaN when any
    /// element of either is NaN, so that a NaN is never taken for "close".
    #[track_caller]
    pub fn max_abs_diff(&self, other: &Tensor) -> f64 {
        assert_eq!(
            self.shape(),
            other.shape(),
            "max_abs_diff: shapes {:?} and {:?} differ",
            self.shape(),
            other.shape()
        );
        max_propagating_nan(self.data().iter().zip(other.data()).map(|(a, b)| (a - b).abs()))
    }
}

/// The element count of `shape`, or [`Error::ShapeOverflow`] naming `op`.
fn checked_len(op: &'static str, shape: &[usize]) -> Result<usize, Error> {
    shape::checked_numel(shape).ok_or_else(|| Error::ShapeOverflow { op, shape: shape.to_vec() })
}

/// The element count of `shape` and an empty buffer for it; panics naming `op`, the shape and
/// the bytes when the shape is too large or the memory cannot be had.
#[track_caller]
fn allocate(op: &'static str, shape: &[usize]) -> (usize, Data) {
    let n = checked_len(op, shape).unwrap_or_else(|e| panic!("{e}"));
    let data = buffer::try_with_capacity(n)
        .unwrap_or_else(|e| panic!("{}", Error::AllocationFailed { op, shape: shape.to_vec(), bytes: e.bytes() }));
    (n, data)
}

/// An ordinary tensor's `view` field.
const NO_VIEW: ManuallyDrop<Option<Box<View>>> = ManuallyDrop::new(None);

/// Hands a buffer no other tensor holds back to the pool (see `buffer`); a shared one stays
/// with its other holders.
#[inline]
fn recycle(storage: Storage) {
    if let Some(data) = storage.into_own() {
        buffer::recycle(data);
    }
}

impl PartialEq for Tensor {
    /// Same shape and the same elements (`==` on each, so NaN differs from itself).
    fn eq(&self, other: &Tensor) -> bool {
        self.shape == other.shape && self.data() == other.data()
    }
}

impl Drop for Tensor {
    /// Hands a large buffer back for reuse (see `buffer`); small ones are simply freed.
    fn drop(&mut self) {
        self.release();
    }
}

impl Clone for Tensor {
    /// An independent copy of the value. A large buffer is shared, not copied, until either
    /// tensor is written (copy-on-write, see `storage`): handing a parameter to a tape with
    /// `tape.var(w.clone())` costs no pass over memory.
    fn clone(&self) -> Tensor {
        Tensor { shape: self.shape.clone(), data: self.data.clone_value(), view: self.view.clone() }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor").field("shape", &self.shape()).field("data", &self.data()).finish()
    }
}

/// Prints like NumPy: nested brackets, one row per line, columns aligned. Fixed-point with 4
/// decimals (or the formatter's precision, `{:.6}`) unless the magnitudes call for scientific
/// notation. Axes longer than 6 are summarised with `...` when the tensor has over 1000
/// elements. An empty tensor prints as `[]`, followed by its shape when it has more than one
/// axis, as PyTorch prints `tensor([], size=(2, 0))`: `[], shape=[2, 0]` (never a bracket per
/// row, which for a shape like `[2^40, 0]` would be terabytes).
impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.numel() == 0 {
            return match self.rank() {
                1 => f.write_str("[]"),
                _ => write!(f, "[], shape={:?}", self.shape),
            };
        }
        let precision = f.precision().unwrap_or(4);
        let summarise = self.numel() > 1000;
        let finite_abs = self.data().iter().filter(|x| x.is_finite()).map(|x| x.abs());
        let (lo, hi) =
            finite_abs.filter(|&x| x > 0.0).fold((f64::INFINITY, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let scientific = hi >= 1e8 || (hi > 0.0 && lo < 10f64.powi(-(precision as i32)));
        let cell = |x: f64| if scientific { format!("{x:.precision$e}") } else { format!("{x:.precision$}") };
        let width = self.data().iter().map(|&x| cell(x).len()).max().unwrap_or(0);
        if self.rank() == 0 {
            return write!(f, "{}", cell(self.data()[0]));
        }
        let mut out = String::new();
        write_nested(&mut out, self.data(), &self.shape, 0, &|x| format!("{:>width$}", cell(x)), summarise);
        f.write_str(&out)
    }
}

/// Writes `data` (of `shape`) as nested bracketed rows; `depth` is the current axis, used for
/// the indentation of continuation lines.
pub(crate) fn write_nested<T: Copy>(
    out: &mut String,
    data: &[T],
    shape: &[usize],
    depth: usize,
    cell: &dyn Fn(T) -> String,
    summarise: bool,
) {
    const EDGE: usize = 3;
    let n = shape[0];
    let chunk = shape::numel(&shape[1..]);
    let shown: Vec<Option<usize>> = if summarise && n > 2 * EDGE {
        (0..EDGE).map(Some).chain([None]).chain((n - EDGE..n).map(Some)).collect()
    } else {
        (0..n).map(Some).collect()
    };
    out.push('[');
    for (k, item) in shown.iter().enumerate() {
        if k > 0 {
            if shape.len() == 1 {
                out.push(' ');
            } else {
                // Blank lines between blocks of higher rank, as NumPy does.
                out.push('\n');
                for _ in 1..shape.len() - 1 {
                    out.push('\n');
                }
                out.push_str(&" ".repeat(depth + 1));
            }
        }
        match item {
            None => out.push_str("..."),
            Some(i) if shape.len() == 1 => out.push_str(&cell(data[*i])),
            Some(i) => write_nested(out, &data[i * chunk..(i + 1) * chunk], &shape[1..], depth + 1, cell, summarise),
        }
    }
    out.push(']');
}

impl approx::AbsDiffEq for Tensor {
    type Epsilon = f64;
    fn default_epsilon() -> f64 {
        f64::default_epsilon()
    }
    /// Equal shapes and every element within `epsilon`.
    fn abs_diff_eq(&self, other: &Tensor, epsilon: f64) -> bool {
        self.shape == other.shape && self.data().iter().zip(other.data()).all(|(a, b)| a.abs_diff_eq(b, epsilon))
    }
}

impl approx::RelativeEq for Tensor {
    fn default_max_relative() -> f64 {
        f64::default_max_relative()
    }
    /// Equal shapes and every element relatively equal.
    fn relative_eq(&self, other: &Tensor, epsilon: f64, max_relative: f64) -> bool {
        self.shape == other.shape
            && self.data().iter().zip(other.data()).all(|(a, b)| a.relative_eq(b, epsilon, max_relative))
    }
}

impl approx::UlpsEq for Tensor {
    fn default_max_ulps() -> u32 {
        f64::default_max_ulps()
    }
    /// Equal shapes and every element within `max_ulps` units in the last place.
    fn ulps_eq(&self, other: &Tensor, epsilon: f64, max_ulps: u32) -> bool {
        self.shape == other.shape && self.data().iter().zip(other.data()).all(|(a, b)| a.ulps_eq(b, epsilon, max_ulps))
    }
}

/// The largest of `values` (0 for none), NaN as soon as one is NaN: `f64::max` would skip a
/// NaN, and a comparison that skips NaN reports a broken result as a small difference.
pub(crate) fn max_propagating_nan(values: impl IntoIterator<Item = f64>) -> f64 {
    values.into_iter().fold(0.0, |m, d| if d.is_nan() || d > m { d } else { m })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_aligns_columns_like_numpy() {
        let t = Tensor::new(vec![1.0, -2.5, 3.25, 40.0], &[2, 2]).unwrap();
        assert_eq!(t.to_string(), "[[ 1.0000 -2.5000]\n [ 3.2500 40.0000]]");
        assert_eq!(Tensor::scalar(0.5).to_string(), "0.5000");
        assert_eq!(format!("{:.1}", Tensor::ones(&[3])), "[1.0 1.0 1.0]");
    }

    #[test]
    fn display_separates_blocks_of_rank_three() {
        let t = Tensor::from_fn(&[2, 1, 2], |ix| (ix[0] * 2 + ix[2]) as f64);
        assert_eq!(format!("{t:.0}"), "[[[0 1]]\n\n [[2 3]]]");
    }

    #[test]
    fn max_abs_diff_propagates_nan() {
        let a = Tensor::new(vec![1.0, 2.0, 3.0], &[3]).unwrap();
        let b = Tensor::new(vec![1.5, 2.0, 1.0], &[3]).unwrap();
        assert_eq!(a.max_abs_diff(&b), 2.0);
        let nan = Tensor::new(vec![1.0, f64::NAN, 3.0], &[3]).unwrap();
        assert!(a.max_abs_diff(&nan).is_nan() && nan.max_abs_diff(&nan).is_nan());
    }

    #[test]
    fn display_summarises_large_tensors() {
        let s = Tensor::zeros(&[2000]).to_string();
        assert!(s.starts_with("[0.0000 0.0000 0.0000 ... 0.0000"), "{s}");
    }
}
