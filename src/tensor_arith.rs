//! Arithmetic, comparisons, arg-max and sampling on plain [`Tensor`]s, outside any tape: for
//! evaluation, metrics and data preparation (`&a + &b`, `logits.argmax_axis(1)`,
//! `preds.eq(&targets)`, `probs.multinomial(..)`).
//!
//! `+ - * /` use the same broadcasting kernels as the ops on `Var`, so a value computed either
//! way is the same to the bit; a pair of shapes that does not broadcast panics with the op's
//! name and both shapes, as on the tape.

use std::ops::{Add, Div, Mul, Neg, Sub};

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;

use crate::ops::binary::{Binary, eval};

use crate::tensor::Tensor;
use crate::tensor::shape::{AxisSplit, broadcast_shapes, for_each_binary, split_at_axis};

/// `Tensor op Tensor` for every mix of owned and borrowed operands, and `Tensor op f64`.
macro_rules! tensor_operator {
    ($trait:ident, $method:ident, $binary:expr, |$x:ident, $c:ident| $scalar:expr) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Tensor;
            /// Elementwise with NumPy broadcasting.
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
                eval($binary, self, rhs)
            }
        }
        impl $trait<Tensor> for Tensor {
            type Output = Tensor;
            /// Elementwise with NumPy broadcasting.
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Tensor {
                eval($binary, &self, &rhs)
            }
        }
        impl $trait<&Tensor> for Tensor {
            type Output = Tensor;
            /// Elementwise with NumPy broadcasting.
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
                eval($binary, &self, rhs)
            }
        }
        impl $trait<Tensor> for &Tensor {
            type Output = Tensor;
            /// Elementwise with NumPy broadcasting.
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Tensor {
                eval($binary, self, &rhs)
            }
        }
        impl $trait<f64> for &Tensor {
            type Output = Tensor;
            /// Every element with a constant.
            fn $method(self, $c: f64) -> Tensor {
                self.map(|$x| $scalar)
            }
        }
    };
}

tensor_operator!(Add, add, Binary::Add, |x, c| x + c);
tensor_operator!(Sub, sub, Binary::Sub, |x, c| x - c);
tensor_operator!(Mul, mul, Binary::Mul, |x, c| x * c);
tensor_operator!(Div, div, Binary::Div, |x, c| x / c);

impl Add<f64> for Tensor {
    type Output = Tensor;
    /// Adds a constant to every element.
    fn add(self, c: f64) -> Tensor {
        &self + c
    }
}

impl Sub<f64> for Tensor {
    type Output = Tensor;
    /// Subtracts a constant from every element.
    fn sub(self, c: f64) -> Tensor {
        &self - c
    }
}

impl Div<f64> for Tensor {
    type Output = Tensor;
    /// Divides every element by a constant.
    fn div(self, c: f64) -> Tensor {
        &self / c
    }
}

impl Neg for &Tensor {
    type Output = Tensor;
    /// Negates every element.
    fn neg(self) -> Tensor {
        self.map(|x| -x)
    }
}

impl Neg for Tensor {
    type Output = Tensor;
    /// Negates every element.
    fn neg(self) -> Tensor {
        self.map(|x| -x)
    }
}

/// The comparisons: `1.0` where the relation holds, else `0.0` (PyTorch's `gt`, `lt`, ...,
/// with bool results written as numbers so they can be summed, averaged or used as masks).
macro_rules! comparisons {
    ($($name:ident, $scalar:ident, $op:tt, $doc:literal;)*) => {
        impl Tensor {
            $(
                #[doc = concat!("`1.0` where `self ", $doc, " other` (NumPy broadcasting), else `0.0`; panics when")]
                /// the shapes do not broadcast. NaN compares false, except with `ne`, as IEEE.
                ///
                /// ```
                /// # use tapegrad::Tensor;
                /// let a = Tensor::new(vec![1.0, 2.0, 3.0], &[3])?;
                /// let b = Tensor::new(vec![2.0, 2.0, 2.0], &[3])?;
                #[doc = concat!("let mask = a.", stringify!($name), "(&b);")]
                /// assert_eq!(mask.shape(), &[3]);
                /// assert!(mask.data().iter().all(|&m| m == 0.0 || m == 1.0));
                /// # Ok::<(), tapegrad::Error>(())
                /// ```
                #[track_caller]
                pub fn $name(&self, other: &Tensor) -> Tensor {
                    compare(stringify!($name), self, other, |a, b| a $op b)
                }

                #[doc = concat!("`1.0` where `self ", $doc, " value`, else `0.0`.")]
                ///
                /// ```
                /// # use tapegrad::Tensor;
                /// let a = Tensor::new(vec![1.0, 2.0, 3.0], &[3])?;
                #[doc = concat!("assert_eq!(a.", stringify!($scalar), "(2.0).shape(), &[3]);")]
                /// # Ok::<(), tapegrad::Error>(())
                /// ```
                pub fn $scalar(&self, value: f64) -> Tensor {
                    self.map(|a| if a $op value { 1.0 } else { 0.0 })
                }
            )*
        }
    };
}

comparisons! {
    gt, gt_scalar, >, ">";
    ge, ge_scalar, >=, ">=";
    lt, lt_scalar, <, "<";
    le, le_scalar, <=, "<=";
    eq, eq_scalar, ==, "==";
    ne, ne_scalar, !=, "!=";
}

/// `1.0`/`0.0` of `f(a, b)` over the broadcast shape.
#[track_caller]
fn compare(op: &str, a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> bool) -> Tensor {
    let Some(shape) = broadcast_shapes(a.shape(), b.shape()) else {
        panic!("{op}: shapes {:?} and {:?} do not broadcast", a.shape(), b.shape());
    };
    let (av, bv) = (a.data(), b.data());
    let mut out = Tensor::zeros(&shape);
    let o = out.data_mut();
    for_each_binary(a.shape(), b.shape(), &shape, |i, ia, ib| o[i] = if f(av[ia], bv[ib]) { 1.0 } else { 0.0 });
    out
}

/// The index of the first extreme along one run of `len` elements with stride `inner`; NaN
/// counts as the extreme, as PyTorch's `argmax`/`argmin`.
pub(crate) fn arg_extreme(
    data: &[f64],
    start: usize,
    len: usize,
    inner: usize,
    better: impl Fn(f64, f64) -> bool,
) -> usize {
    let mut best = 0;
    for i in 0..len {
        let x = data[start + i * inner];
        if x.is_nan() {
            return i;
        }
        if i > 0 && better(x, data[start + best * inner]) {
            best = i;
        }
    }
    best
}

impl Tensor {
    /// The sum of all elements (0 for an empty tensor).
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// assert_eq!(Tensor::ones(&[2, 3]).sum(), 6.0);
    /// ```
    pub fn sum(&self) -> f64 {
        self.data().iter().sum()
    }

    /// The mean of all elements (NaN for an empty tensor, as PyTorch); with a 0/1 mask, the
    /// fraction set: `preds.eq(&targets).mean()` is an accuracy.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let hits = Tensor::new(vec![1.0, 0.0, 1.0, 1.0], &[4])?;
    /// assert_eq!(hits.mean(), 0.75);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn mean(&self) -> f64 {
        self.sum() / self.numel() as f64
    }

    /// The flat (row-major) index of the largest element, the first one on ties; a NaN counts
    /// as the largest (PyTorch's `argmax()`). Panics for an empty tensor.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let t = Tensor::new(vec![1.0, 5.0, 5.0, -2.0], &[2, 2])?;
    /// assert_eq!(t.argmax(), 1);
    /// assert_eq!(t.argmin(), 3);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn argmax(&self) -> usize {
        assert!(self.numel() > 0, "argmax: tensor of shape {:?} is empty", self.shape());
        arg_extreme(self.data(), 0, self.numel(), 1, |x, best| x > best)
    }

    /// The flat index of the smallest element (first on ties; NaN counts as the smallest).
    /// Panics for an empty tensor.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let t = Tensor::new(vec![2.0, -1.0, -1.0], &[3])?;
    /// assert_eq!(t.argmin(), 1);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn argmin(&self) -> usize {
        assert!(self.numel() > 0, "argmin: tensor of shape {:?} is empty", self.shape());
        arg_extreme(self.data(), 0, self.numel(), 1, |x, best| x < best)
    }

    /// The position of the largest element along `axis`, for every index of the other axes
    /// (PyTorch's `argmax(dim)`): the result has this shape without `axis`, in row-major
    /// order. Ties go to the first; NaN counts as the largest. Panics when `axis` is out of
    /// range or empty.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let logits = Tensor::new(vec![0.1, 2.0, -1.0, 3.0, 0.0, 0.5], &[2, 3])?;
    /// assert_eq!(logits.argmax_axis(1), [1, 0]); // the predicted class of each row
    /// assert_eq!(logits.argmin_axis(0), [0, 1, 0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn argmax_axis(&self, axis: usize) -> Vec<usize> {
        self.arg_axis("argmax_axis", axis, |x, best| x > best)
    }

    /// The position of the smallest element along `axis` (see [`Tensor::argmax_axis`]).
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let t = Tensor::new(vec![2.0, -1.0, 0.0, 5.0], &[2, 2])?;
    /// assert_eq!(t.argmin_axis(1), [1, 0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn argmin_axis(&self, axis: usize) -> Vec<usize> {
        self.arg_axis("argmin_axis", axis, |x, best| x < best)
    }

    #[track_caller]
    fn arg_axis(&self, op: &str, axis: usize, better: impl Fn(f64, f64) -> bool + Copy) -> Vec<usize> {
        crate::ops::check_axis(op, axis, self.shape());
        let AxisSplit { outer, len, inner } = split_at_axis(self.shape(), axis);
        assert!(len > 0, "{op}: axis {axis} of shape {:?} is empty", self.shape());
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for k in 0..inner {
                out.push(arg_extreme(self.data(), o * len * inner + k, len, inner, better));
            }
        }
        out
    }

    /// Draws `num_samples` category indices from a row of non-negative weights (they need not
    /// sum to 1), as PyTorch's `torch.multinomial(probs, num_samples, replacement)`; a 2-D
    /// tensor draws for every row, the results one row after another. Without replacement a
    /// drawn category is not drawn again. Panics when the tensor is not 1-D or 2-D, a weight
    /// is negative or not finite, a row sums to 0, or (without replacement) a row has fewer
    /// than `num_samples` non-zero weights.
    ///
    /// ```
    /// use tapegrad::rand::{rngs::StdRng, SeedableRng};
    /// use tapegrad::Tensor;
    /// let probs = Tensor::new(vec![0.0, 0.25, 0.75], &[3])?;
    /// let mut rng = StdRng::seed_from_u64(0);
    /// let draws = probs.multinomial(1000, true, &mut rng);
    /// assert!(draws.iter().all(|&c| c == 1 || c == 2));
    /// let twos = draws.iter().filter(|&&c| c == 2).count();
    /// assert!((650..850).contains(&twos));
    /// let mut both = probs.multinomial(2, false, &mut rng);
    /// both.sort();
    /// assert_eq!(both, [1, 2]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn multinomial<R: Rng + ?Sized>(&self, num_samples: usize, replacement: bool, rng: &mut R) -> Vec<usize> {
        let shape = self.shape();
        assert!(matches!(shape.len(), 1 | 2), "multinomial: probabilities of shape {shape:?} must be 1-D or 2-D");
        let width = shape[shape.len() - 1];
        assert!(width > 0, "multinomial: probabilities of shape {shape:?} have no categories");
        // Every row is checked, and the output's size, before anything is allocated or drawn.
        for row in self.data().chunks_exact(width) {
            if let Some(w) = row.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
                panic!("multinomial: weight {w} in probabilities of shape {shape:?} is negative or not finite");
            }
            let nonzero = row.iter().filter(|&&w| w > 0.0).count();
            assert!(nonzero > 0, "multinomial: a row of probabilities of shape {shape:?} sums to 0");
            assert!(
                replacement || num_samples <= nonzero,
                "multinomial: cannot draw {num_samples} samples without replacement from {nonzero} non-zero weights"
            );
        }
        let rows = self.numel() / width;
        let mut out = Vec::new();
        if num_samples.checked_mul(rows).is_none_or(|n| out.try_reserve_exact(n).is_err()) {
            panic!(
                "multinomial: cannot allocate {} bytes for {num_samples} samples from each of {rows} rows",
                num_samples as u128 * rows as u128 * std::mem::size_of::<usize>() as u128
            );
        }
        for row in self.data().chunks_exact(width) {
            let mut weights = row.to_vec();
            let mut dist = WeightedIndex::new(&weights).expect("weights checked above");
            for _ in 0..num_samples {
                let c = dist.sample(rng);
                out.push(c);
                if !replacement {
                    weights[c] = 0.0;
                    // After the last draw every weight may be 0; no draw follows then.
                    if let Ok(next) = WeightedIndex::new(&weights) {
                        dist = next;
                    }
                }
            }
        }
        out
    }

    /// The slices at `indices` along `axis`, in that order (PyTorch's `index_select`): pick a
    /// minibatch's rows with `x.index_select(0, &batch)`. Panics when `axis` or an index is out
    /// of range.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let x = Tensor::new(vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0], &[3, 2])?;
    /// assert_eq!(x.index_select(0, &[2, 0]).data(), &[20.0, 21.0, 0.0, 1.0]);
    /// assert_eq!(x.index_select(1, &[1]).data(), &[1.0, 11.0, 21.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Tensor {
        crate::ops::check_axis("index_select", axis, self.shape());
        let AxisSplit { outer, len, inner } = split_at_axis(self.shape(), axis);
        if let Some(&bad) = indices.iter().find(|&&i| i >= len) {
            panic!("index_select: index {bad} is out of range for axis {axis} of shape {:?}", self.shape());
        }
        let mut shape = self.shape().to_vec();
        shape[axis] = indices.len();
        let mut data = Vec::with_capacity(outer * indices.len() * inner);
        for o in 0..outer {
            for &i in indices {
                let start = (o * len + i) * inner;
                data.extend_from_slice(&self.data()[start..start + inner]);
            }
        }
        Tensor::new(data, &shape).expect("the length is the product of the shape")
    }
}
