//! The largest or smallest element along an axis, and where it is: the arithmetic of
//! `max_axis` / `min_axis` (which differentiate it) and of [`Tensor::argmax`] /
//! [`Tensor::argmin`] (which return the positions).

use crate::tensor::Tensor;
use crate::tensor::buffer::{self, Data};
use crate::tensor::shape::{AxisSplit, check_axis, reduced_shape, split_at_axis};

/// Which extremum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extremum {
    Max,
    Min,
}

impl Extremum {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Extremum::Max => "max",
            Extremum::Min => "min",
        }
    }
}

/// The extremum along `axis` of `x` (shape `[outer, len, inner]` around it) and its position
/// along the axis, one per `(outer, inner)` pair. The first one wins a tie; a NaN beats any
/// number and the first NaN stays (NaN propagates, and its position is reported, as PyTorch's
/// `max(dim)`, `min(dim)`, `argmax` and `argmin`). The caller checks `axis` and that it is not
/// empty.
pub(crate) fn arg_extremum(x: &Tensor, axis: usize, which: Extremum) -> (Data, Vec<usize>) {
    let AxisSplit { outer, len, inner } = split_at_axis(x.shape(), axis);
    let mut best = buffer::zeroed(outer * inner);
    let mut arg = vec![0; outer * inner];
    let beats = |x: f64, b: f64| match which {
        Extremum::Max => x > b,
        Extremum::Min => x < b,
    };
    for o in 0..outer {
        for i in 0..len {
            for k in 0..inner {
                let v = x.data()[(o * len + i) * inner + k];
                let at = o * inner + k;
                // `i == 0` takes the first element even when it is ±inf.
                if i == 0 || beats(v, best[at]) || (v.is_nan() && !best[at].is_nan()) {
                    best[at] = v;
                    arg[at] = i;
                }
            }
        }
    }
    (best, arg)
}

/// Panics, naming `op`, unless `axis` is a non-empty axis of `shape`.
#[track_caller]
pub(crate) fn check_extremum_axis(op: &str, axis: usize, shape: &[usize]) {
    check_axis(op, axis, shape);
    assert!(shape[axis] > 0, "{op}: axis {axis} of shape {shape:?} is empty");
}

impl Tensor {
    /// The position of the largest element along `axis`, as `torch.argmax(x, dim, keepdim)`:
    /// the first on ties, and the first NaN if there is one (NaN counts as the largest). The
    /// positions are whole numbers stored as `f64`; `keep_dim` keeps the axis with size 1
    /// (the shape [`Var::gather`](crate::Var::gather) wants). Not differentiable: a plain
    /// tensor.
    ///
    /// Panics when the axis is out of range or empty.
    ///
    /// ```
    /// use tapegrad::Tensor;
    /// let x = Tensor::new(vec![1.0, 5.0, 5.0, 7.0, 0.0, -1.0], &[2, 3])?;
    /// assert_eq!(x.argmax(1, false).data(), &[1.0, 0.0]);
    /// assert_eq!(x.argmax(0, true).shape(), &[1, 3]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn argmax(&self, axis: usize, keep_dim: bool) -> Tensor {
        self.arg_of(axis, keep_dim, Extremum::Max)
    }

    /// The position of the smallest element along `axis`, as `torch.argmin(x, dim, keepdim)`:
    /// the first on ties, and the first NaN if there is one (as PyTorch). See
    /// [`Tensor::argmax`].
    ///
    /// ```
    /// use tapegrad::Tensor;
    /// let x = Tensor::new(vec![1.0, f64::NAN, 0.0, 3.0, -1.0, -1.0], &[2, 3])?;
    /// assert_eq!(x.argmin(1, false).data(), &[1.0, 1.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn argmin(&self, axis: usize, keep_dim: bool) -> Tensor {
        self.arg_of(axis, keep_dim, Extremum::Min)
    }

    #[track_caller]
    fn arg_of(&self, axis: usize, keep_dim: bool, which: Extremum) -> Tensor {
        let op = if which == Extremum::Max { "argmax" } else { "argmin" };
        check_extremum_axis(op, axis, self.shape());
        let (_, arg) = arg_extremum(self, axis, which);
        let data = buffer::collect(arg.len(), arg.iter().map(|&i| i as f64));
        Tensor::from_parts(data, &reduced_shape(self.shape(), axis, keep_dim))
    }
}
