//! Conveniences on `Var` beyond the ops: the operators on `&Var` (so that code written for
//! references, or generic over `Add`, works), compound assignment (`a += b`, `a *= 2.0`) and
//! `Sum` over an iterator of `Var`s. Each is exactly the by-value op: the same nodes are
//! recorded.

use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::autograd::Var;

/// `&a op &b`, `&a op b`, `a op &b`, `&a op f64` and `f64 op &a`, each the by-value op.
macro_rules! ref_operator {
    ($trait:ident, $method:ident) => {
        impl<'t> $trait<&Var<'t>> for &Var<'t> {
            type Output = Var<'t>;
            #[track_caller]
            fn $method(self, rhs: &Var<'t>) -> Var<'t> {
                (*self).$method(*rhs)
            }
        }
        impl<'t> $trait<Var<'t>> for &Var<'t> {
            type Output = Var<'t>;
            #[track_caller]
            fn $method(self, rhs: Var<'t>) -> Var<'t> {
                (*self).$method(rhs)
            }
        }
        impl<'t> $trait<&Var<'t>> for Var<'t> {
            type Output = Var<'t>;
            #[track_caller]
            fn $method(self, rhs: &Var<'t>) -> Var<'t> {
                self.$method(*rhs)
            }
        }
        impl<'t> $trait<f64> for &Var<'t> {
            type Output = Var<'t>;
            #[track_caller]
            fn $method(self, rhs: f64) -> Var<'t> {
                (*self).$method(rhs)
            }
        }
        impl<'t> $trait<&Var<'t>> for f64 {
            type Output = Var<'t>;
            #[track_caller]
            fn $method(self, rhs: &Var<'t>) -> Var<'t> {
                self.$method(*rhs)
            }
        }
    };
}

ref_operator!(Add, add);
ref_operator!(Sub, sub);
ref_operator!(Mul, mul);
ref_operator!(Div, div);

/// `a op= b` for a `Var`, a `&Var` or an `f64` on the right: `a = a op b`, recording the same
/// node. A `Var` is a handle, so `a += b` points `a` at a new node; the node `a` named before
/// is unchanged (and still gets its gradient), as micrograd's and PyTorch's out-of-place
/// `a = a + b`.
///
/// ```
/// use tapegrad::{Tape, Tensor};
/// let tape = Tape::new();
/// let x = tape.var(Tensor::scalar(3.0));
/// let mut y = x * 2.0;
/// y += x; // y = y + x
/// y *= 2.0; // y = y * 2.0
/// assert_eq!(y.item(), 18.0);
/// assert_eq!(y.backward().wrt(x).unwrap().item(), 6.0);
/// ```
macro_rules! compound_assign {
    ($trait:ident, $method:ident, $op:ident) => {
        impl<'t> $trait<Var<'t>> for Var<'t> {
            #[track_caller]
            fn $method(&mut self, rhs: Var<'t>) {
                *self = (*self).$op(rhs);
            }
        }
        impl<'t> $trait<&Var<'t>> for Var<'t> {
            #[track_caller]
            fn $method(&mut self, rhs: &Var<'t>) {
                *self = (*self).$op(*rhs);
            }
        }
        impl<'t> $trait<f64> for Var<'t> {
            #[track_caller]
            fn $method(&mut self, rhs: f64) {
                *self = (*self).$op(rhs);
            }
        }
    };
}

compound_assign!(AddAssign, add_assign, add);
compound_assign!(SubAssign, sub_assign, sub);
compound_assign!(MulAssign, mul_assign, mul);
compound_assign!(DivAssign, div_assign, div);

impl<'t> Neg for &Var<'t> {
    type Output = Var<'t>;
    #[track_caller]
    fn neg(self) -> Var<'t> {
        -*self
    }
}

/// `vars.into_iter().sum()`: the first plus the rest, one `add` node per further term (with
/// broadcasting, as `+`). Panics on an empty iterator: there is no tape to put a zero on.
///
/// ```
/// use tapegrad::{Tape, Tensor, Var};
/// let tape = Tape::new();
/// let xs: Vec<Var> = (1..=3).map(|i| tape.var(Tensor::scalar(i as f64))).collect();
/// let total: Var = xs.iter().sum();
/// assert_eq!(total.item(), 6.0);
/// let squares: Var = xs.iter().map(|x| x * x).sum();
/// assert_eq!(squares.item(), 14.0);
/// ```
impl<'t> Sum<Var<'t>> for Var<'t> {
    #[track_caller]
    fn sum<I: Iterator<Item = Var<'t>>>(mut iter: I) -> Var<'t> {
        let Some(first) = iter.next() else {
            panic!("sum: an empty iterator of Vars has no tape to record a zero on; start from a Var instead")
        };
        iter.fold(first, |acc, v| acc + v)
    }
}

/// `vars.iter().sum()`: see `Sum<Var>`.
impl<'a, 't: 'a> Sum<&'a Var<'t>> for Var<'t> {
    #[track_caller]
    fn sum<I: Iterator<Item = &'a Var<'t>>>(iter: I) -> Var<'t> {
        iter.copied().sum()
    }
}
