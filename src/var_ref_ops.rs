//! Conveniences on `Var` beyond the ops: the operators on `&Var` (so that code written for
//! references, or generic over `Add`, works) and `Sum` over an iterator of `Var`s. Each is
//! exactly the by-value op: the same nodes are recorded.

use std::iter::Sum;
use std::ops::{Add, Div, Mul, Neg, Sub};

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
