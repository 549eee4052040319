//! Strided views: a tensor that reads another tensor's buffer through per-axis strides instead
//! of holding its elements in row-major order. `transpose` returns one: swapping two axes
//! swaps two strides, and no element moves.
//!
//! A view is still a value like any tensor. `Tensor::data` hands out row-major elements, so a
//! view gathers them into a buffer of its own on the first such read and keeps that buffer
//! (ops that know nothing of strides, and users, see an ordinary tensor). `matmul` does not ask
//! for them: it hands the strides to the GEMM, which packs strided operands anyway, so
//! attention's `q k^T` and `att v` read the projections where they are, as PyTorch's views do.
//!
//! The buffer is shared with copy-on-write (`storage`), so writing to the tensor a view was
//! taken from copies it first and the view keeps the values it was taken with.

use std::sync::OnceLock;

use crate::tensor::buffer::{self, Data};
use crate::tensor::parallel::{for_each_block, rows_per_block};
use crate::tensor::shape::{Shape, numel, strides as row_major_strides};
use crate::tensor::storage::Storage;

/// Where a view's elements sit in the buffer it shares.
pub(crate) struct View {
    /// The offset of element `[0, 0, ..]`.
    pub(crate) offset: usize,
    /// How far apart, in the shared buffer, consecutive indices of each axis are.
    pub(crate) strides: Shape,
    /// The elements in row-major order, gathered on the first read that needs them.
    dense: OnceLock<Storage>,
}

impl View {
    pub(crate) fn new(offset: usize, strides: Shape) -> View {
        View { offset, strides, dense: OnceLock::new() }
    }

    /// The row-major elements of the view of `shape` into `buffer`, gathered once.
    pub(crate) fn dense(&self, buffer: &[f64], shape: &[usize]) -> &Storage {
        self.dense.get_or_init(|| gather(buffer, self.offset, shape, &self.strides).into())
    }

    /// The gathered elements, taken out (for a write, which turns the view into an ordinary
    /// tensor); gathered now when no read has.
    pub(crate) fn into_dense(mut self, buffer: &[f64], shape: &[usize]) -> Storage {
        match self.dense.take() {
            Some(dense) => dense,
            None => gather(buffer, self.offset, shape, &self.strides).into(),
        }
    }

    /// Whether a read has gathered the elements already.
    pub(crate) fn is_gathered(&self) -> bool {
        self.dense.get().is_some()
    }

    /// The gathered elements, if a read has gathered them (the tensor's buffer pool wants
    /// them back).
    pub(crate) fn take_dense(&mut self) -> Option<Storage> {
        self.dense.take()
    }
}

impl Clone for View {
    /// The same view; gathered elements are shared, not copied (see `storage`).
    fn clone(&self) -> View {
        let dense = OnceLock::new();
        if let Some(gathered) = self.dense.get() {
            let _ = dense.set(gathered.clone_value());
        }
        View { offset: self.offset, strides: self.strides.clone(), dense }
    }
}

/// Whether a view of `shape` with `offset` and `strides` into a buffer of `len` elements reads
/// exactly that buffer in row-major order (and can be an ordinary tensor again).
pub(crate) fn is_row_major(offset: usize, shape: &[usize], strides: &[usize], len: usize) -> bool {
    offset == 0
        && len == numel(shape)
        && shape.iter().zip(strides).zip(&row_major_strides(shape)).all(|((&n, s), r)| n <= 1 || s == r)
}

/// The strides that read the elements of a view of `shape` (with `strides`) in the same
/// row-major order as `new_shape` (of the same size), when there are any: the `view` of
/// PyTorch. Each run of axes that lies in the buffer as one block (each axis's stride the
/// size times the stride of the next) may be split into new axes however the sizes divide;
/// a new axis that would straddle two such runs has no stride (`None`: the elements must be
/// gathered). Size-1 axes fit anywhere.
pub(crate) fn reshape_strides(shape: &[usize], strides: &[usize], new_shape: &[usize]) -> Option<Shape> {
    if shape.is_empty() || numel(shape) == 0 {
        return None;
    }
    let mut new_strides: Shape = Shape::from_elem(0, new_shape.len());
    // Walk both shapes from the last axis; `next_new` is one past the new axis to place next.
    let mut next_new = new_shape.len();
    let mut base = strides[shape.len() - 1]; // the stride of the last axis of the current run
    let (mut run_len, mut placed_len) = (1usize, 1usize);
    for axis in (0..shape.len()).rev() {
        run_len *= shape[axis];
        let run_ends = axis == 0 || (shape[axis - 1] != 1 && strides[axis - 1] != run_len * base);
        if !run_ends {
            continue;
        }
        // Place new axes (from the back) until they cover this run's elements.
        while next_new > 0 && (placed_len < run_len || new_shape[next_new - 1] == 1) {
            next_new -= 1;
            new_strides[next_new] = placed_len * base;
            placed_len *= new_shape[next_new];
        }
        if placed_len != run_len {
            return None;
        }
        if axis > 0 {
            base = strides[axis - 1];
            (run_len, placed_len) = (1, 1);
        }
    }
    (next_new == 0).then_some(new_strides)
}

/// The axes of a view with the ones that read as one merged: size-1 axes dropped, and an axis
/// folded into the next when stepping it is the same as running off the end of the next one
/// (`stride[i] == stride[i + 1] * size[i + 1]`). At least one axis is left.
fn merged_axes(shape: &[usize], strides: &[usize]) -> (Shape, Shape) {
    let (mut sizes, mut steps) = (Shape::new(), Shape::new());
    for (&n, &s) in shape.iter().zip(strides).filter(|(n, _)| **n != 1) {
        match (sizes.last_mut(), steps.last_mut()) {
            (Some(last_n), Some(last_s)) if *last_s == s * n => {
                *last_n *= n;
                *last_s = s;
            }
            _ => {
                sizes.push(n);
                steps.push(s);
            }
        }
    }
    if sizes.is_empty() {
        sizes.push(1);
        steps.push(1);
    }
    (sizes, steps)
}

/// The elements of the view of `shape` (with `offset` and `strides`) into `buffer`, in
/// row-major order. Written row by row of the last merged axis: a run with stride 1 (the
/// `dk` elements of a head, for attention's `transpose(1, 2)`) is one copy; another stride (a
/// matrix transpose) is read element by element. Large views are split over the cores.
///
/// Every read is bounds-checked: a view that reached past its buffer would panic, not read
/// other memory.
pub(crate) fn gather(buffer: &[f64], offset: usize, shape: &[usize], strides: &[usize]) -> Data {
    let len = numel(shape);
    // Every element is written below.
    let mut out = buffer::scratch(len);
    if len == 0 {
        return out;
    }
    let (sizes, steps) = merged_axes(shape, strides);
    let last = sizes.len() - 1;
    let (run, step) = (sizes[last], steps[last]);
    let (outer_sizes, outer_steps) = (&sizes[..last], &steps[..last]);
    let rows = len / run;
    let per = rows_per_block(rows, run);
    for_each_block(out.chunks_mut(per * run).enumerate(), |(block, out)| {
        // The outer index of this block's first row, and where that row starts.
        let mut index: Shape = Shape::from_elem(0, outer_sizes.len());
        let mut at = block * per;
        for axis in (0..outer_sizes.len()).rev() {
            index[axis] = at % outer_sizes[axis];
            at /= outer_sizes[axis];
        }
        let mut start = offset + index.iter().zip(outer_steps).map(|(i, s)| i * s).sum::<usize>();
        for row in out.chunks_exact_mut(run) {
            if step == 1 {
                row.copy_from_slice(&buffer[start..start + run]);
            } else {
                row.iter_mut().enumerate().for_each(|(j, x)| *x = buffer[start + j * step]);
            }
            // The next row: advance the outer index like an odometer.
            for axis in (0..outer_sizes.len()).rev() {
                index[axis] += 1;
                start += outer_steps[axis];
                if index[axis] < outer_sizes[axis] {
                    break;
                }
                start -= outer_steps[axis] * outer_sizes[axis];
                index[axis] = 0;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::shape::unravel;

    /// `gather` against the definition (element `i` is `buffer[offset + index(i) . strides]`)
    /// for permuted, offset and partly merged layouts, small and large (split over the cores).
    #[test]
    fn gather_reads_every_element_where_the_strides_put_it() {
        let buffer: Vec<f64> = (0..200_000).map(|i| i as f64 + 0.5).collect();
        let cases: [(&[usize], &[usize], usize); 7] = [
            (&[3, 4], &[1, 3], 0),
            (&[2, 4, 3], &[12, 1, 4], 5),
            (&[16, 4, 64, 32], &[8192, 32, 128, 1], 0),
            (&[16, 4, 32, 64], &[8192, 32, 1, 128], 7),
            (&[300, 300], &[1, 300], 0),
            (&[2, 1, 3], &[3, 99, 1], 0),
            (&[5], &[2], 1),
        ];
        for (shape, strides, offset) in cases {
            let got = gather(&buffer, offset, shape, strides);
            assert_eq!(got.len(), numel(shape));
            for (i, &x) in got.iter().enumerate() {
                let index = unravel(i, shape);
                let at = offset + index.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>();
                assert_eq!(x, buffer[at], "{shape:?} {strides:?} at {i}");
            }
        }
    }

    /// Reshaped strides read the same elements as gathering and then reshaping; a reshape
    /// that would merge axes lying apart in the buffer has none.
    #[test]
    fn reshape_strides_read_what_a_reshape_of_the_gathered_elements_reads() {
        let buffer: Vec<f64> = (0..5000).map(|i| i as f64).collect();
        // (shape, strides, offset, new shape, stridable)
        type Case<'a> = (&'a [usize], &'a [usize], usize, &'a [usize], bool);
        let cases: [Case; 8] = [
            // a narrow of [64, 24] to 8 columns, split into heads: [64, 8] -> [4, 16, 2, 4]
            (&[64, 8], &[24, 1], 8, &[4, 16, 2, 4], true),
            // ... and merged back
            (&[4, 16, 2, 4], &[384, 24, 4, 1], 8, &[64, 8], true),
            // heads moved forward (a transpose): the rows and the heads lie apart
            (&[4, 2, 16, 4], &[384, 4, 24, 1], 0, &[4, 2, 16, 2, 2], true),
            (&[4, 2, 16, 4], &[384, 4, 24, 1], 0, &[128, 4], false),
            (&[4, 16, 2, 4], &[128, 4, 64, 1], 0, &[64, 8], false),
            // size-1 axes anywhere
            (&[3, 1, 5], &[1, 7, 3], 0, &[1, 3, 5, 1], true),
            (&[10, 10], &[1, 10], 0, &[100], false),
            (&[10, 10], &[20, 1], 3, &[2, 5, 10], true),
        ];
        for (shape, strides, offset, new_shape, stridable) in cases {
            let got = reshape_strides(shape, strides, new_shape);
            assert_eq!(got.is_some(), stridable, "{shape:?} {strides:?} -> {new_shape:?}");
            if let Some(new_strides) = got {
                let reshaped = gather(&buffer, offset, new_shape, &new_strides);
                assert_eq!(reshaped, gather(&buffer, offset, shape, strides), "{shape:?} {strides:?} -> {new_shape:?}");
            }
        }
    }

    /// W6's path to attention stays a view from the fused projection to the products: narrow,
    /// split into heads, heads moved forward; merging the heads back after the move cannot be
    /// strided and is gathered.
    #[test]
    fn narrow_reshape_and_transpose_make_views() {
        use crate::tensor::Tensor;
        let qkv = Tensor::from_fn(&[64, 24], |i| (i[0] * 24 + i[1]) as f64);
        let k = qkv.narrowed(1, 8, 8);
        assert!(k.is_view());
        let heads = k.share_as(&[4, 16, 2, 4]);
        assert!(heads.is_view());
        let moved = heads.transposed(1, 2);
        assert!(moved.is_view());
        assert_eq!(moved.strided().0, 8);
        assert_eq!(&moved.strided().2[..], &[384, 4, 24, 1]);
        let merged = moved.share_as(&[128, 4]);
        assert!(!merged.is_view());
        let expected = Tensor::from_fn(&[4, 2, 16, 4], |i| ((i[0] * 16 + i[2]) * 24 + 8 + i[1] * 4 + i[3]) as f64);
        assert_eq!(moved, expected);
        assert_eq!(merged.data(), expected.data());
        // A small tensor's narrow is a copy.
        assert!(!Tensor::zeros(&[4, 6]).narrowed(1, 2, 2).is_view());
        // A narrow along the first axis is a view (an offset) with row-major strides.
        assert!(qkv.narrowed(0, 10, 40).is_view());
    }

    #[test]
    fn row_major_views_are_recognised() {
        assert!(is_row_major(0, &[2, 3], &[3, 1], 6));
        assert!(is_row_major(0, &[2, 1, 3], &[3, 7, 1], 6));
        assert!(!is_row_major(0, &[2, 3], &[1, 2], 6));
        assert!(!is_row_major(1, &[2, 3], &[3, 1], 7));
        assert!(!is_row_major(0, &[2, 3], &[3, 1], 12));
    }
}
