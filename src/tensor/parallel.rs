//! Splitting work over the cores. Small inputs stay on the calling thread: handing work to
//! another core costs microseconds, more than a small kernel takes.
//!
//! The blocks run on rayon's global pool, the same threads the GEMM uses, so no op starts a
//! thread of its own: a scoped thread per call cost ~32 us on the 2-core Xeon, a job handed to
//! the pool ~12 us (`docs/perf.md`).

use std::sync::OnceLock;

/// Below this many elements a kernel runs on one thread.
pub(crate) const MIN_PARALLEL_ELEMENTS: usize = 1 << 16;

pub(crate) fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// How many rows each block should hold so that `rows` rows of `row_len` elements make one
/// block per core when the input is large, and one block otherwise. Never 0 (for `chunks`).
pub(crate) fn rows_per_block(rows: usize, row_len: usize) -> usize {
    let parts = if rows.saturating_mul(row_len) >= MIN_PARALLEL_ELEMENTS { cores() } else { 1 };
    rows.div_ceil(parts).max(1)
}

/// Blocks a large input's sums over rows are split into. Fixed, not one per core: each block
/// sums its rows apart and the blocks' sums are added in block order, so a machine with more
/// or fewer cores still adds in the same order and gets the same bits.
const SUM_BLOCKS: usize = 2;

/// Rows per block for a sum over `rows` rows of `row_len` elements: [`SUM_BLOCKS`] blocks when
/// the input is large, one otherwise. Never 0.
pub(crate) fn rows_per_sum_block(rows: usize, row_len: usize) -> usize {
    let blocks = if rows.saturating_mul(row_len) >= MIN_PARALLEL_ELEMENTS { SUM_BLOCKS } else { 1 };
    rows.div_ceil(blocks).max(1)
}

/// One row of `len` partial sums per block of a split sum, each block's row written by one
/// core. The rows are spaced by 64 bytes of padding, so that no two of them share a cache line
/// (nor a row and whatever the allocator puts after the buffer): two cores writing to one line
/// in turn pass it back and forth on every write ("false sharing"; adjacent rows made layer
/// norm's backward with `dgamma` 2.8x slower than without, and no faster on two cores than on
/// one).
pub(crate) struct Partials {
    data: Vec<f64>,
    len: usize,
}

impl Partials {
    /// Eight `f64`: one 64-byte cache line.
    const PAD: usize = 8;

    /// `blocks` rows of `len` zeros.
    pub(crate) fn zeros(blocks: usize, len: usize) -> Partials {
        Partials { data: vec![0.0; blocks * (len + Self::PAD)], len }
    }

    /// The rows, one per block, to hand to the blocks.
    pub(crate) fn rows_mut(&mut self) -> impl Iterator<Item = &mut [f64]> {
        let len = self.len;
        self.data.chunks_exact_mut(len + Self::PAD).map(move |row| &mut row[..len])
    }

    /// Adds the rows into `total`, in block order.
    pub(crate) fn add_into(&self, total: &mut [f64]) {
        for row in self.data.chunks_exact(self.len + Self::PAD) {
            total.iter_mut().zip(row).for_each(|(t, &p)| *t += p);
        }
    }
}

/// Runs `work` on every block: a single block on the calling thread, several on the pool.
pub(crate) fn for_each_block<T: Send>(blocks: impl IntoIterator<Item = T>, work: impl Fn(T) + Sync) {
    let mut blocks = blocks.into_iter();
    let Some(first) = blocks.next() else { return };
    let Some(second) = blocks.next() else {
        // The common case for small tensors: no allocation, no other thread.
        work(first);
        return;
    };
    let rest: Vec<T> = blocks.collect();
    let work = &work;
    rayon::scope(|scope| {
        scope.spawn(move |_| work(second));
        for block in rest {
            scope.spawn(move |_| work(block));
        }
        work(first);
    });
}

/// Pairs the items of two optional iterators (a missing one gives `None` each time), for as
/// long as the present ones last.
pub(crate) fn zip_options<'a, A: 'a, B: 'a>(
    a: Option<impl Iterator<Item = A> + 'a>,
    b: Option<impl Iterator<Item = B> + 'a>,
) -> impl Iterator<Item = (Option<A>, Option<B>)> + 'a {
    let (mut a, mut b) = (a, b);
    std::iter::from_fn(move || {
        let x = a.as_mut().map(|a| a.next());
        let y = b.as_mut().map(|b| b.next());
        match (x, y) {
            (Some(None), _) | (_, Some(None)) => None,
            (x, y) => Some((x.flatten(), y.flatten())),
        }
    })
}

/// `f(&mut out[i], x[i])` for every `i` (equal lengths), split over the cores when large.
#[inline]
pub(crate) fn update(out: &mut [f64], x: &[f64], f: impl Fn(&mut f64, f64) + Sync) {
    let kernel = |out: &mut [f64], x: &[f64]| out.iter_mut().zip(x).for_each(|(o, &x)| f(o, x));
    if out.len() < MIN_PARALLEL_ELEMENTS {
        // Small tensors (a scalar op of W1 among them) take the loop directly.
        kernel(out, x);
        return;
    }
    let per = rows_per_block(out.len(), 1);
    for_each_block(out.chunks_mut(per).zip(x.chunks(per)), |(out, x)| kernel(out, x));
}

/// `sum += part`, element by element: how gradients that reach a node along several paths
/// are summed.
pub(crate) fn add_assign(sum: &mut [f64], part: &[f64]) {
    update(sum, part, |s, p| *s += p);
}

/// `out[i] = f(x[i])` (equal lengths), split over the cores when large.
#[inline]
pub(crate) fn map(out: &mut [f64], x: &[f64], f: impl Fn(f64) -> f64 + Sync) {
    update(out, x, |o, x| *o = f(x));
}

/// `out[i] = f(a[i], b[i])` (equal lengths), split over the cores when large.
#[inline]
pub(crate) fn map2(out: &mut [f64], a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64 + Sync) {
    let kernel =
        |out: &mut [f64], a: &[f64], b: &[f64]| out.iter_mut().zip(a).zip(b).for_each(|((o, &a), &b)| *o = f(a, b));
    if out.len() < MIN_PARALLEL_ELEMENTS {
        kernel(out, a, b);
        return;
    }
    let per = rows_per_block(out.len(), 1);
    for_each_block(out.chunks_mut(per).zip(a.chunks(per)).zip(b.chunks(per)), |((out, a), b)| kernel(out, a, b));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each block's row starts at least a cache line (64 bytes) past the end of the row before
    /// it, and the rows are added in block order.
    #[test]
    fn partial_rows_are_a_cache_line_apart_and_add_up_in_order() {
        let mut partials = Partials::zeros(3, 5);
        let mut ends = vec![];
        for (i, row) in partials.rows_mut().enumerate() {
            assert_eq!(row.len(), 5);
            row.iter_mut().for_each(|x| *x = (i + 1) as f64);
            ends.push((row.as_ptr() as usize, row.as_ptr() as usize + 5 * 8));
        }
        assert_eq!(ends.len(), 3);
        for pair in ends.windows(2) {
            assert!(pair[1].0 >= pair[0].1 + 64, "rows at {:x?} share a cache line", pair);
        }
        let mut total = [0.5; 5];
        partials.add_into(&mut total);
        assert_eq!(total, [6.5; 5]);
    }
}
