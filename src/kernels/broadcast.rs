//! Broadcasting and its adjoint: [`expand`] copies a tensor to a shape it broadcasts to, and
//! [`sum_to`] sums a tensor of the broadcast shape back over the axes that were broadcast.
//! `broadcast_to`'s forward is `expand` and its backward `sum_to`; a reduction over several
//! axes is `sum_to` forward and `expand` backward.

use crate::kernels::parallel::{for_each_block, rows_per_block};
use crate::tensor::buffer::{self, Data};
use crate::tensor::shape::{for_each_binary, numel};

/// `x` (of shape `from`) repeated along the axes where `from` has size 1 or is missing, to
/// `to` (which `from` broadcasts to).
pub(crate) fn expand(x: &[f64], from: &[usize], to: &[usize]) -> Data {
    let mut out = buffer::zeroed(numel(to));
    for_each_binary(to, from, to, |i, _, ix| out[i] = x[ix]);
    out
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

/// `scale` times the sum of `g`'s rows of `row` elements, added in row order: the adjoint of
/// [`repeat_rows`] ([`sum_to`] for a bias), each bias element's gradient.
pub(crate) fn sum_rows(g: &[f64], row: usize, scale: f64) -> Data {
    let mut out = buffer::zeroed(row);
    for r in g.chunks_exact(row) {
        out.iter_mut().zip(r).for_each(|(o, &g)| *o += scale * g);
    }
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
