//! Broadcasting and its adjoint: [`expand`] copies a tensor to a shape it broadcasts to, and
//! [`sum_to`] sums a tensor of the broadcast shape back over the axes that were broadcast.
//! `broadcast_to`'s forward is `expand` and its backward `sum_to`; a reduction over several
//! axes is `sum_to` forward and `expand` backward.

use crate::tensor::buffer::{self, Data};
use crate::tensor::parallel::{Partials, add_assign, for_each_block, rows_per_block, rows_per_sum_block};
use crate::tensor::shape::{BinaryLayout, binary_layout, for_each_binary, numel};

/// `x` (of shape `from`) repeated along the axes where `from` has size 1 or is missing, to
/// `to` (which `from` broadcasts to): a copy when the shapes are equal, row by row when `x` is
/// one row repeated along leading axes (a bias; see [`repeat_rows`]), the general walk
/// otherwise.
pub(crate) fn expand(x: &[f64], from: &[usize], to: &[usize]) -> Data {
    match binary_layout(to, from, to) {
        BinaryLayout::Same => buffer::copy(x),
        BinaryLayout::RowsOfB(_) => repeat_rows(x, numel(to)),
        _ => {
            let mut out = buffer::zeroed(numel(to));
            for_each_binary(to, from, to, |i, _, ix| out[i] = x[ix]);
            out
        }
    }
}

/// `g` (of shape `from`) summed over the axes where `to` has size 1 or is missing: the shape
/// `to` (which broadcasts to `from`). Each element of `to` receives the sum of the elements of
/// `from` that [`expand`] would have copied it to.
pub(crate) fn sum_to(g: &[f64], from: &[usize], to: &[usize]) -> Data {
    let mut out = buffer::zeroed(numel(to));
    for_each_binary(from, to, from, |i, _, io| out[io] += g[i]);
    out
}

/// One row `x` repeated to fill `len` elements (a multiple of its length), split over the cores
/// when large: [`expand`] for an operand that broadcasts along leading axes only (a bias).
pub(crate) fn repeat_rows(x: &[f64], len: usize) -> Data {
    let mut out = buffer::scratch(len);
    let row = x.len();
    if let Some(rows) = len.checked_div(row) {
        let per = rows_per_block(rows, row) * row;
        for_each_block(out.chunks_mut(per), |block| block.chunks_exact_mut(row).for_each(|r| r.copy_from_slice(x)));
    }
    out
}

/// `out += x`, with `x` (of shape `from`) broadcast to `to`, `out`'s shape: [`expand`] added in
/// place, without the expanded copy. A bias (one row repeated along leading axes) is added row
/// by row, split over the cores when large.
pub(crate) fn add_expanded(out: &mut [f64], x: &[f64], from: &[usize], to: &[usize]) {
    match binary_layout(to, from, to) {
        BinaryLayout::Same => add_assign(out, x),
        BinaryLayout::RowsOfB(row) => {
            let Some(rows) = out.len().checked_div(row) else { return };
            let per = rows_per_block(rows, row) * row;
            for_each_block(out.chunks_mut(per), |block| {
                for r in block.chunks_exact_mut(row) {
                    r.iter_mut().zip(x).for_each(|(o, &x)| *o += x);
                }
            });
        }
        _ => for_each_binary(to, from, to, |i, _, ix| out[i] += x[ix]),
    }
}

/// `scale` times the sum of `g`'s rows of `row` elements: the adjoint of [`repeat_rows`]
/// ([`sum_to`] for a bias), each bias element's gradient. A large `g` is summed in two blocks
/// of rows on two cores, each in row order, then the blocks in order
/// (`parallel::rows_per_sum_block`): the same bits on every machine.
pub(crate) fn sum_rows(g: &[f64], row: usize, scale: f64) -> Data {
    let mut out = buffer::zeroed(row);
    let Some(rows) = g.len().checked_div(row) else { return out };
    let per = rows_per_sum_block(rows, row);
    let add_rows = |g: &[f64], sum: &mut [f64]| {
        for r in g.chunks_exact(row) {
            sum.iter_mut().zip(r).for_each(|(s, &g)| *s += scale * g);
        }
    };
    if per >= rows {
        add_rows(g, &mut out);
        return out;
    }
    let mut partial = Partials::zeros(rows.div_ceil(per), row);
    for_each_block(g.chunks(per * row).zip(partial.rows_mut()), |(g, sum)| add_rows(g, sum));
    partial.add_into(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row forms give what the general walks give for a row repeated along leading axes.
    #[test]
    fn repeat_rows_and_sum_rows_agree_with_expand_and_sum_to() {
        let row = [1.0, 2.0, 3.0];
        assert_eq!(repeat_rows(&row, 6).as_slice(), expand(&row, &[3], &[2, 3]).as_slice());
        let g: Vec<f64> = (0..6).map(f64::from).collect();
        assert_eq!(sum_rows(&g, 3, 1.0).as_slice(), sum_to(&g, &[2, 3], &[3]).as_slice());
        assert_eq!(sum_rows(&g, 3, -1.0).as_slice(), &[-3.0, -5.0, -7.0]);
        assert!(repeat_rows(&[], 0).is_empty());
    }

    /// A large input takes the two-block path: the first half of the rows summed in order, the
    /// second half likewise, then the two sums added (the order every machine uses).
    #[test]
    fn sum_rows_of_a_large_input_adds_two_blocks_of_rows_in_order() {
        let (rows, row): (usize, usize) = (301, 257);
        let g: Vec<f64> = (0..rows * row).map(|i| ((i * 7919) % 1009) as f64 / 97.0 - 5.0).collect();
        let half = rows.div_ceil(2);
        let block_sum = |range: std::ops::Range<usize>, j: usize| range.fold(0.0, |s, r| s + 0.5 * g[r * row + j]);
        let expected: Vec<f64> = (0..row).map(|j| 0.0 + block_sum(0..half, j) + block_sum(half..rows, j)).collect();
        assert_eq!(sum_rows(&g, row, 0.5).as_slice(), expected.as_slice());
        let plain = sum_to(&g, &[rows, row], &[row]);
        for (s, p) in sum_rows(&g, row, 1.0).iter().zip(plain.iter()) {
            assert!((s - p).abs() <= 1e-12 * p.abs().max(1.0), "{s} vs {p}");
        }
    }

    /// Adding in place is adding the expanded copy, in every layout: the same shape, a row
    /// repeated (small and split over the cores), and the general walk (a column).
    #[test]
    fn add_expanded_adds_what_expand_copies() {
        let cases: [(&[usize], &[usize]); 6] = [
            (&[2, 3], &[2, 3]),
            (&[3], &[2, 3]),
            (&[1, 3], &[2, 3]),
            (&[], &[2, 3]),
            (&[2, 1], &[2, 3]),
            (&[300], &[400, 300]),
        ];
        for (from, to) in cases {
            let x: Vec<f64> = (0..numel(from)).map(|i| i as f64 * 0.5 - 1.0).collect();
            let out0: Vec<f64> = (0..numel(to)).map(|i| (i % 7) as f64 * 0.25).collect();
            let expected: Vec<f64> = out0.iter().zip(expand(&x, from, to).iter()).map(|(o, e)| o + e).collect();
            let mut out = out0.clone();
            add_expanded(&mut out, &x, from, to);
            assert_eq!(out, expected, "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn expand_and_sum_to_are_adjoint() {
        let x = [1.0, 2.0, 3.0];
        assert_eq!(
            expand(&x, &[3, 1], &[2, 3, 2]).as_slice(),
            &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
        );
        let g: Vec<f64> = (0..12).map(f64::from).collect();
        // <expand(x), g> = <x, sum_to(g)>
        let lhs: f64 = expand(&x, &[3, 1], &[2, 3, 2]).iter().zip(&g).map(|(a, b)| a * b).sum();
        let s = sum_to(&g, &[2, 3, 2], &[3, 1]);
        assert_eq!(s.as_slice(), &[0.0 + 1.0 + 6.0 + 7.0, 2.0 + 3.0 + 8.0 + 9.0, 4.0 + 5.0 + 10.0 + 11.0]);
        assert_eq!(lhs, x.iter().zip(&s).map(|(a, b)| a * b).sum::<f64>());
    }
}
