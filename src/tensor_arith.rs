//! Arithmetic, comparisons, arg-max and sampling on plain [`Tensor`]s, outside any tape: for
//! evaluation, metrics and data preparation (`&a + &b`, `logits.argmax_axis(1)`,
//! `preds.eq(&targets)`, `probs.multinomial(..)`).
//!
//! `+ - * /` use the same kernels as the ops on `Var` (broadcasting between tensors, and an
//! `f64` on either side: `2.0 * &t`, `&t / 2.0`, `1.0 - &t`), so a value computed either way
//! is the same to the bit; a pair of shapes that does not broadcast panics with the op's name
//! and both shapes, as on the tape.

use std::ops::{Add, Div, Mul, Neg, Sub};

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;

use crate::kernels::binary::{Binary, eval};
use crate::kernels::extrema::arg_extreme;
use crate::ops::loss::onehot;
use crate::ops::unary::Unary;

use crate::tensor::Tensor;
use crate::tensor::axis::Axis;
use crate::tensor::axis::resolve_axis;
use crate::tensor::indices::{AsIndices, Indices};
use crate::tensor::shape::{AxisSplit, broadcast_shapes, for_each_binary, split_at_axis};

/// `Tensor op Tensor` for every mix of owned and borrowed operands, `Tensor op f64` and
/// `f64 op Tensor`: the kernels `Var`'s operators record (`$tensor_scalar` and `$scalar_tensor`
/// are the [`Unary`] ops that `x op c` and `c op x` record).
macro_rules! tensor_operator {
    ($trait:ident, $method:ident, $binary:expr, |$c:ident| $tensor_scalar:expr, $scalar_tensor:expr) => {
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
                $tensor_scalar.apply(self)
            }
        }
        impl $trait<f64> for Tensor {
            type Output = Tensor;
            /// Every element with a constant.
            fn $method(self, $c: f64) -> Tensor {
                $tensor_scalar.apply(&self)
            }
        }
        impl $trait<&Tensor> for f64 {
            type Output = Tensor;
            /// A constant with every element.
            fn $method(self, rhs: &Tensor) -> Tensor {
                let $c = self;
                $scalar_tensor.apply(rhs)
            }
        }
        impl $trait<Tensor> for f64 {
            type Output = Tensor;
            /// A constant with every element.
            fn $method(self, rhs: Tensor) -> Tensor {
                let $c = self;
                $scalar_tensor.apply(&rhs)
            }
        }
    };
}

tensor_operator!(Add, add, Binary::Add, |c| Unary::AddScalar(c), Unary::AddScalar(c));
tensor_operator!(Sub, sub, Binary::Sub, |c| Unary::AddScalar(-c), Unary::ScalarSub(c));
tensor_operator!(Mul, mul, Binary::Mul, |c| Unary::MulScalar(c), Unary::MulScalar(c));
tensor_operator!(Div, div, Binary::Div, |c| Unary::DivScalar(c), Unary::ScalarDiv(c));

impl Neg for &Tensor {
    type Output = Tensor;
    /// Negates every element.
    fn neg(self) -> Tensor {
        Unary::Neg.apply(self)
    }
}

impl Neg for Tensor {
    type Output = Tensor;
    /// Negates every element.
    fn neg(self) -> Tensor {
        Unary::Neg.apply(&self)
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
    pub fn argmax_axis(&self, axis: impl Axis) -> Vec<usize> {
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
    pub fn argmin_axis(&self, axis: impl Axis) -> Vec<usize> {
        self.arg_axis("argmin_axis", axis, |x, best| x < best)
    }

    #[track_caller]
    fn arg_axis(&self, op: &str, axis: impl Axis, better: impl Fn(f64, f64) -> bool + Copy) -> Vec<usize> {
        let axis = resolve_axis(op, axis, self.shape());
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
                let w = crate::error::Number(*w);
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

    /// One row per id with a 1 in the id's column, zeros elsewhere: shape `[ids.len(),
    /// classes]`, as `torch.nn.functional.one_hot(ids, classes)` (in `f64`). With a softmax
    /// it gives cross-entropy's gradient by hand: `(p - Tensor::one_hot(&t, c)) / n`.
    ///
    /// Panics, naming the id and `classes`, when an id is not below `classes`.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let y = Tensor::one_hot(&[2, 0], 3);
    /// assert_eq!(y.shape(), &[2, 3]);
    /// assert_eq!(y.data(), &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn one_hot(ids: &[usize], classes: usize) -> Tensor {
        if let Some((at, &id)) = ids.iter().enumerate().find(|&(_, &id)| id >= classes) {
            panic!("one_hot: id {id} at position {at} is outside 0..{classes}");
        }
        let shape = [ids.len(), classes];
        crate::tensor::shape::check_shape("one_hot", &[&[ids.len()]], &shape);
        onehot(&shape, ids, 1.0)
    }

    /// The slices at `indices` along `axis`, in that order (PyTorch's `index_select`): pick a
    /// minibatch's rows with `x.index_select(0, &batch)`. `indices` is a flat list or 1-D
    /// [`Indices`](crate::Indices). Panics when `axis` or an index is out of range, or
    /// `indices` has more than one axis.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let x = Tensor::new(vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0], &[3, 2])?;
    /// assert_eq!(x.index_select(0, &[2, 0]).data(), &[20.0, 21.0, 0.0, 1.0]);
    /// assert_eq!(x.index_select(1, &[1]).data(), &[1.0, 11.0, 21.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn index_select(&self, axis: impl Axis, indices: impl AsIndices) -> Tensor {
        let (data, shape) = select_slices(self.data(), self.shape(), axis, &indices.as_indices());
        Tensor::new(data, &shape).expect("the length is the product of the shape")
    }
}

impl Indices {
    /// The slices at `ids` along `axis`, in that order, as [`Tensor::index_select`]: a
    /// minibatch's rows of a dataset's ids are `x.index_select(0, &batch)` (PyTorch's `X[ix]`).
    /// Panics when `axis` or an id is out of range, or `ids` has more than one axis.
    ///
    /// ```
    /// # use tapegrad::Indices;
    /// let contexts = Indices::from([[0, 0, 5], [0, 5, 13], [5, 13, 13]]);
    /// assert_eq!(contexts.index_select(0, &[2, 0]), Indices::from([[5, 13, 13], [0, 0, 5]]));
    /// ```
    #[track_caller]
    pub fn index_select(&self, axis: usize, ids: impl AsIndices) -> Indices {
        let (data, shape) = select_slices(self.data(), self.shape(), axis, &ids.as_indices());
        Indices::new(data, &shape).expect("the length is the product of the shape")
    }
}

/// The slices `ids` along `axis` of `data` (of `shape`), in that order, and their shape: the
/// one `index_select` of tensors and of indices. Panics when `axis` or an id is out of range.
#[track_caller]
fn select_slices<T: Copy>(data: &[T], shape: &[usize], axis: impl Axis, ids: &Indices) -> (Vec<T>, Vec<usize>) {
    let axis = resolve_axis("index_select", axis, shape);
    let AxisSplit { outer, len, inner } = split_at_axis(shape, axis);
    let ids = ids.list("index_select", shape);
    if let Some(&bad) = ids.iter().find(|&&i| i >= len) {
        panic!("index_select: index {bad} is out of range for axis {axis} of shape {shape:?}");
    }
    let mut out = Vec::with_capacity(outer * ids.len() * inner);
    for o in 0..outer {
        for &i in ids {
            let start = (o * len + i) * inner;
            out.extend_from_slice(&data[start..start + inner]);
        }
    }
    let mut out_shape = shape.to_vec();
    out_shape[axis] = ids.len();
    (out, out_shape)
}
