//! Shapes: broadcasting rules and index arithmetic, nothing else.
//!
//! Broadcasting follows NumPy: shapes are aligned at their last axis; two sizes are compatible
//! when they are equal or one of them is 1 (a missing leading axis counts as 1).

use smallvec::SmallVec;

/// A tensor's shape. Up to four axes live inline, without a heap allocation.
pub(crate) type Shape = SmallVec<[usize; 4]>;

/// The number of elements of a tensor of this shape (1 for the scalar shape `[]`), or `None`
/// when the shape is too large to describe.
///
/// A shape is valid when the product of its non-zero sizes fits in `usize`. Every tensor's
/// shape is valid ([`Tensor`](crate::Tensor)'s constructors check it), and then every stride
/// (a product of trailing sizes, which is 0 or at most that product) and every offset of an
/// element fits as well: this is what lets the kernels' index arithmetic, and the bounds the
/// GEMM's `unsafe` block rests on, be plain arithmetic that cannot wrap. So `[0, 2^63]` is a
/// valid empty shape, but `[0, 2^63, 4]` is not, even though it has no elements.
pub(crate) fn checked_numel(shape: &[usize]) -> Option<usize> {
    let nonzero = shape.iter().filter(|&&d| d != 0).try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    Some(if shape.contains(&0) { 0 } else { nonzero })
}

/// The number of elements of a tensor of this shape (1 for the scalar shape `[]`).
///
/// Panics when the shape is too large to describe (see [`checked_numel`]); ops check their
/// output shapes with [`check_shape`] first, so that the panic names the op.
#[track_caller]
pub(crate) fn numel(shape: &[usize]) -> usize {
    checked_numel(shape).unwrap_or_else(|| panic!("shape {shape:?}: {OVERFLOWS}"))
}

/// How messages say that a shape is too large.
pub(crate) const OVERFLOWS: &str = "its element count overflows usize";

/// Panics, naming `op` and its input shapes, when the output shape `out` is too large to
/// describe (see [`checked_numel`]): the check every op makes on a shape it computes.
#[track_caller]
pub(crate) fn check_shape(op: &str, inputs: &[&[usize]], out: &[usize]) {
    if checked_numel(out).is_none() {
        let shapes: Vec<String> = inputs.iter().map(|s| format!("{s:?}")).collect();
        panic!("{op}: shapes {} give shape {out:?}: {OVERFLOWS}", shapes.join(" and "));
    }
}

/// Checks that `start..start + len` lies inside axis `axis` of `shape` (whose axis is in
/// range), with arithmetic that cannot wrap; panics naming `op`, the slice and the shape.
/// `narrow`'s bounds check.
#[track_caller]
pub(crate) fn check_slice(op: &str, shape: &[usize], axis: usize, start: usize, len: usize) {
    let end = start.checked_add(len);
    if end.is_none_or(|end| end > shape[axis]) {
        let end = end.map_or_else(|| format!("{}", start as u128 + len as u128), |e| e.to_string());
        panic!("{op}: slice {start}..{end} of axis {axis} is out of range for shape {shape:?}");
    }
}

/// The sum of `sizes`, panicking naming `op` and `shapes` when it overflows: the size of
/// `concat`'s joined axis.
#[track_caller]
pub(crate) fn checked_sum(op: &str, shapes: &[&[usize]], sizes: &[usize]) -> usize {
    sizes.iter().try_fold(0usize, |acc, &d| acc.checked_add(d)).unwrap_or_else(|| {
        let total: u128 = sizes.iter().map(|&d| d as u128).sum();
        panic!("{op}: shapes {shapes:?}: the joined axis would have {total} elements, past usize")
    })
}

/// Row-major strides, in elements. Panics when the shape is too large to describe (which no
/// tensor's shape is).
pub(crate) fn strides(shape: &[usize]) -> Shape {
    let mut strides: Shape = SmallVec::from_elem(1, shape.len());
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1].checked_mul(shape[i + 1]).unwrap_or_else(|| panic!("shape {shape:?}: {OVERFLOWS}"));
    }
    strides
}

/// The shape two shapes broadcast to, or `None` if they do not broadcast.
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Shape> {
    let rank = a.len().max(b.len());
    let mut out: Shape = SmallVec::with_capacity(rank);
    for i in 0..rank {
        // Sizes aligned at the last axis; a missing leading axis acts as 1.
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out.push(match (da, db) {
            _ if da == db => da,
            (1, _) => db,
            (_, 1) => da,
            _ => return None,
        });
    }
    Some(out)
}

/// Strides that read a tensor of `shape` as if it had the (broadcast) shape `out`:
/// broadcast axes get stride 0, so the same element is read again.
pub(crate) fn broadcast_strides(shape: &[usize], out: &[usize]) -> Shape {
    let own = strides(shape);
    let offset = out.len() - shape.len();
    (0..out.len()).map(|i| if i < offset || shape[i - offset] == 1 { 0 } else { own[i - offset] }).collect()
}

/// Visits every element of a tensor of shape `out` in row-major order and passes the offsets
/// of the two inputs that broadcast to it (read with strides `sa`, `sb`).
pub(crate) fn for_each_broadcast(out: &[usize], sa: &[usize], sb: &[usize], mut f: impl FnMut(usize, usize)) {
    let rank = out.len();
    if numel(out) == 0 {
        return;
    }
    if rank == 0 {
        f(0, 0);
        return;
    }
    // Odometer over all but the last axis; the last axis is a tight inner loop.
    let last = rank - 1;
    let (n, la, lb) = (out[last], sa[last], sb[last]);
    let mut index: Shape = SmallVec::from_elem(0, rank);
    let (mut oa, mut ob) = (0usize, 0usize);
    loop {
        for j in 0..n {
            f(oa + j * la, ob + j * lb);
        }
        // Advance the odometer (axes before the last).
        let mut axis = last;
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            index[axis] += 1;
            oa += sa[axis];
            ob += sb[axis];
            if index[axis] < out[axis] {
                break;
            }
            oa -= sa[axis] * out[axis];
            ob -= sb[axis] * out[axis];
            index[axis] = 0;
        }
    }
}

/// Visits every element `i` of the broadcast output `out` of two operands of shapes `a` and
/// `b`, with the offsets `(ia, ib)` of the operand elements it is computed from: the general
/// walk, for any broadcast. Ops that care about speed first check [`binary_layout`] and use
/// straight slice loops for its common layouts.
pub(crate) fn for_each_binary(a: &[usize], b: &[usize], out: &[usize], mut f: impl FnMut(usize, usize, usize)) {
    let (sa, sb) = (broadcast_strides(a, out), broadcast_strides(b, out));
    let mut i = 0;
    for_each_broadcast(out, &sa, &sb, |ia, ib| {
        f(i, ia, ib);
        i += 1;
    });
}

/// How two operands line up with their broadcast output, for ops that want straight slice loops
/// for the common cases ([`for_each_binary`] visits any broadcast).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum BinaryLayout {
    /// Both have the output's shape.
    Same,
    /// `a` has the output's shape; `b` is one row of this many elements, repeated.
    RowsOfB(usize),
    /// `b` has the output's shape; `a` is one row of this many elements, repeated.
    RowsOfA(usize),
    /// Anything else.
    General,
}

/// Classifies the broadcast of `a` and `b` to `out`.
pub(crate) fn binary_layout(a: &[usize], b: &[usize], out: &[usize]) -> BinaryLayout {
    if a == out && b == out {
        BinaryLayout::Same
    } else if let Some(row) = repeats_along_leading_axes(b, out).filter(|_| a == out) {
        BinaryLayout::RowsOfB(row)
    } else if let Some(row) = repeats_along_leading_axes(a, out).filter(|_| b == out) {
        BinaryLayout::RowsOfA(row)
    } else {
        BinaryLayout::General
    }
}

/// `Some(row)` when an operand of `shape`, broadcast to `out`, is one block of `row` elements
/// repeated: its axes are 1 (or missing) up to some axis and equal to `out`'s after it.
fn repeats_along_leading_axes(shape: &[usize], out: &[usize]) -> Option<usize> {
    let significant = shape.iter().position(|&d| d != 1).map_or(&[][..], |first| &shape[first..]);
    let row = numel(significant);
    (out.ends_with(significant) && row > 0).then_some(row)
}

/// A shape seen around one axis as `[outer, len, inner]`: the product of the axes before it,
/// its size and the product of the axes after it. Every axis-wise op walks the data this way:
/// element `(o, i, k)` is at `o * len * inner + i * inner + k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AxisSplit {
    pub(crate) outer: usize,
    pub(crate) len: usize,
    pub(crate) inner: usize,
}

/// Splits `shape` around `axis` (see [`AxisSplit`]).
pub(crate) fn split_at_axis(shape: &[usize], axis: usize) -> AxisSplit {
    AxisSplit { outer: numel(&shape[..axis]), len: shape[axis], inner: numel(&shape[axis + 1..]) }
}

/// The output shape of reducing `axis` of `shape`: the axis becomes 1 (`keep_dim`) or
/// disappears.
pub(crate) fn reduced_shape(shape: &[usize], axis: usize, keep_dim: bool) -> Shape {
    let mut out = Shape::from_slice(shape);
    if keep_dim {
        out[axis] = 1;
    } else {
        out.remove(axis);
    }
    out
}

/// The row-major multi-index of flat offset `at` in `shape`.
pub(crate) fn unravel(mut at: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for axis in (0..shape.len()).rev() {
        index[axis] = at % shape[axis];
        at /= shape[axis];
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes(&[2, 3], &[3]).unwrap().as_slice(), &[2, 3]);
        assert_eq!(broadcast_shapes(&[2, 1, 4], &[3, 1]).unwrap().as_slice(), &[2, 3, 4]);
        assert_eq!(broadcast_shapes(&[], &[5]).unwrap().as_slice(), &[5]);
        assert!(broadcast_shapes(&[2, 3], &[4]).is_none());
    }

    #[test]
    fn broadcast_strides_repeat_axes_of_size_one() {
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]).as_slice(), &[0, 1, 0]);
        assert_eq!(strides(&[2, 3, 4]).as_slice(), &[12, 4, 1]);
    }

    #[test]
    fn binary_layout_names_the_common_broadcasts() {
        let layout = |a: &[usize], b: &[usize]| binary_layout(a, b, &broadcast_shapes(a, b).unwrap());
        assert_eq!(layout(&[2, 3], &[2, 3]), BinaryLayout::Same);
        assert_eq!(layout(&[2, 3], &[3]), BinaryLayout::RowsOfB(3));
        assert_eq!(layout(&[2, 3], &[1, 3]), BinaryLayout::RowsOfB(3));
        assert_eq!(layout(&[2, 3], &[]), BinaryLayout::RowsOfB(1));
        assert_eq!(layout(&[3], &[2, 3]), BinaryLayout::RowsOfA(3));
        assert_eq!(layout(&[2, 3, 4], &[3, 4]), BinaryLayout::RowsOfB(12));
        assert_eq!(layout(&[2, 3], &[2, 1]), BinaryLayout::General);
        assert_eq!(layout(&[2, 1, 4], &[3, 1]), BinaryLayout::General);
    }

    #[test]
    fn for_each_binary_gives_output_and_operand_offsets() {
        let mut seen = vec![];
        for_each_binary(&[2, 1], &[3], &[2, 3], |i, ia, ib| seen.push((i, ia, ib)));
        assert_eq!(seen, [(0, 0, 0), (1, 0, 1), (2, 0, 2), (3, 1, 0), (4, 1, 1), (5, 1, 2)]);
    }

    #[test]
    fn for_each_broadcast_visits_row_major() {
        let out = [2, 3];
        let (sa, sb) = (broadcast_strides(&[2, 1], &out), broadcast_strides(&[3], &out));
        let mut seen = vec![];
        for_each_broadcast(&out, &sa, &sb, |a, b| seen.push((a, b)));
        assert_eq!(seen, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
    }

    #[test]
    fn a_shape_is_valid_when_its_non_zero_sizes_multiply_within_usize() {
        assert_eq!(checked_numel(&[2, 3]), Some(6));
        assert_eq!(checked_numel(&[]), Some(1));
        assert_eq!(checked_numel(&[0, 1 << 63]), Some(0));
        assert_eq!(checked_numel(&[1 << 40, 1 << 40]), None);
        assert_eq!(checked_numel(&[0, 1 << 63, 4]), None);
        assert_eq!(checked_numel(&[(1 << 63) + 1, 2]), None, "wraps to 2 in plain arithmetic");
    }

    #[test]
    fn the_checks_panic_naming_the_op_and_shapes() {
        let message = |f: fn()| {
            let err = std::panic::catch_unwind(f).unwrap_err();
            err.downcast_ref::<String>().cloned().unwrap()
        };
        check_shape("add", &[&[2, 1], &[1, 3]], &[2, 3]);
        let m = message(|| check_shape("add", &[&[1 << 40, 1], &[1, 1 << 40]], &[1 << 40, 1 << 40]));
        assert!(m.starts_with("add: shapes [1099511627776, 1] and [1, 1099511627776]"), "{m}");
        check_slice("narrow", &[4, 2], 0, 1, 3);
        let m = message(|| check_slice("narrow", &[4, 2], 0, 1 << 63, (1 << 63) + 1));
        assert_eq!(
            m,
            "narrow: slice 9223372036854775808..18446744073709551617 of axis 0 is out of range for shape [4, 2]"
        );
        assert_eq!(checked_sum("concat", &[&[2, 0], &[3, 0]], &[2, 3]), 5);
        let m = message(|| {
            checked_sum("concat", &[&[1 << 63, 0], &[1 << 63, 0]], &[1 << 63, 1 << 63]);
        });
        assert!(m.starts_with("concat: shapes [[9223372036854775808, 0], [9223372036854775808, 0]]"), "{m}");
        let m = message(|| drop(strides(&[2, 1 << 63, 4])));
        assert!(m.contains("overflows"), "{m}");
    }
}
