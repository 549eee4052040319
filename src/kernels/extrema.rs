//! The search behind `argmax`/`argmin` on tensors and `max_axis`/`min_axis` on the tape: the
//! first extreme along a strided run, NaN winning.

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
