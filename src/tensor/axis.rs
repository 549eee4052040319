//! Axis arguments as PyTorch's `dim`: counted from the front (`0`, `1`, ...) or, when
//! negative, from the end (`-1` is the last axis). Every method that takes an axis takes any
//! [`Axis`] and resolves it here, in one place, against the shape it applies to.

use std::fmt::{Debug, Display};

/// An axis argument: a `usize` (`0`, `1`, ... from the front) or a signed integer, where a
/// negative one counts from the end as in PyTorch (`-1` is the last axis, `-2` the one before).
///
/// Implemented for `usize`, `u32`, `isize`, `i32` and `i64`, so that `x.softmax(1)`,
/// `x.softmax(-1)` and `x.softmax(axis)` with a `usize` variable all compile. An axis out of
/// range panics at the caller's line, naming the op, the axis and the shape.
///
/// ```
/// use tapegrad::{Tape, Tensor};
/// let tape = Tape::new();
/// let x = tape.var(Tensor::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?);
/// assert_eq!(x.sum_axis(-1, false).value(), x.sum_axis(1, false).value());
/// let last: usize = 1;
/// assert_eq!(x.softmax(last).value(), x.softmax(-1).value());
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub trait Axis: Copy + Debug + Display + sealed::Sealed {
    /// The axis as a signed position (negative: counted from the end).
    #[doc(hidden)]
    fn signed(self) -> i128;
}

mod sealed {
    /// Only the integer types listed in this module are axes.
    pub trait Sealed {}
}

macro_rules! integer_axes {
    ($($t:ty),*) => {
        $(
            impl sealed::Sealed for $t {}
            impl Axis for $t {
                #[inline]
                fn signed(self) -> i128 {
                    self as i128
                }
            }
        )*
    };
}

integer_axes!(usize, u32, isize, i32, i64);

/// The position of `axis` among the axes of `shape` (`-1` is the last), for an op that reads
/// an existing axis. Panics at the caller's line, naming `op`, the axis and the shape, when it
/// is out of range.
#[track_caller]
#[inline]
pub(crate) fn resolve_axis(op: impl Display, axis: impl Axis, shape: &[usize]) -> usize {
    resolve(op, axis, shape, false)
}

/// The position of a NEW axis inserted into `shape` (`unsqueeze`, `stack`): one of `rank + 1`
/// places, `-1` putting it last, as PyTorch. Panics like [`resolve_axis`].
#[track_caller]
#[inline]
pub(crate) fn resolve_new_axis(op: impl Display, axis: impl Axis, shape: &[usize]) -> usize {
    resolve(op, axis, shape, true)
}

/// The one resolution: `axis` among `rank` places (`rank + 1` for a new axis), a negative one
/// counted from the end.
#[track_caller]
#[inline]
fn resolve(op: impl Display, axis: impl Axis, shape: &[usize], new: bool) -> usize {
    let places = shape.len() + usize::from(new);
    let signed = axis.signed();
    let at = if signed < 0 { signed + places as i128 } else { signed };
    if (0..places as i128).contains(&at) {
        return at as usize;
    }
    out_of_range(op, signed, shape, new)
}

/// The panic: the same message for an axis counted from either end (`-1` is as out of range
/// for a scalar as `0`).
#[cold]
#[inline(never)]
#[track_caller]
fn out_of_range(op: impl Display, axis: i128, shape: &[usize], new: bool) -> ! {
    let rank = shape.len();
    if new {
        panic!("{op}: axis {axis} is out of range for shape {shape:?} (a new axis goes at 0..={rank})");
    }
    panic!("{op}: axis {axis} is out of range for shape {shape:?} ({rank} axes)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_axes_count_from_the_end() {
        let shape = [2, 3, 4];
        assert_eq!(resolve_axis("op", -1, &shape), 2);
        assert_eq!(resolve_axis("op", -3, &shape), 0);
        assert_eq!(resolve_axis("op", 1usize, &shape), 1);
        assert_eq!(resolve_axis("op", 2i64, &shape), 2);
        assert_eq!(resolve_new_axis("op", -1, &shape), 3);
        assert_eq!(resolve_new_axis("op", 3usize, &shape), 3);
        assert_eq!(resolve_new_axis("op", -4isize, &shape), 0);
    }

    #[test]
    #[should_panic(expected = "softmax: axis -3 is out of range for shape [2, 3] (2 axes)")]
    fn a_negative_axis_past_the_first_panics() {
        resolve_axis("softmax", -3, &[2, 3]);
    }

    #[test]
    #[should_panic(expected = "unsqueeze: axis -4 is out of range for shape [2, 3] (a new axis goes at 0..=2)")]
    fn a_new_axis_has_one_place_more() {
        resolve_new_axis("unsqueeze", -4, &[2, 3]);
    }
}
