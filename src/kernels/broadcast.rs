//! Broadcasting and its adjoint: [`expand`] copies a tensor to a shape it broadcasts to, and
//! [`sum_to`] sums a tensor of the broadcast shape back over the axes that were broadcast.
//! `broadcast_to`'s forward is `expand` and its backward `sum_to`; a reduction over several
//! axes is `sum_to` forward and `expand` backward.

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

#[cfg(test)]
mod tests {
    use super::*;

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
