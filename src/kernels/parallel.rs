//! Splitting row-wise work over the cores. Small inputs stay on the calling thread: a thread
//! costs ~10 us, more than a small kernel takes.

use std::sync::OnceLock;

/// Below this many elements a kernel runs on one thread.
const MIN_PARALLEL_ELEMENTS: usize = 1 << 16;

fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// How many rows each block should hold so that `rows` rows of `row_len` elements make one
/// block per core when the input is large, and one block otherwise. Never 0 (for `chunks`).
pub(crate) fn rows_per_block(rows: usize, row_len: usize) -> usize {
    let parts = if rows * row_len >= MIN_PARALLEL_ELEMENTS { cores() } else { 1 };
    rows.div_ceil(parts).max(1)
}

/// Runs `work` on every block: the first on this thread, the others on scoped threads.
pub(crate) fn for_each_block<T: Send>(blocks: impl IntoIterator<Item = T>, work: impl Fn(T) + Sync) {
    let mut blocks = blocks.into_iter();
    let first = blocks.next();
    std::thread::scope(|scope| {
        for block in blocks {
            scope.spawn(|| work(block));
        }
        if let Some(block) = first {
            work(block);
        }
    });
}
