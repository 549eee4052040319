//! Allocation of tensor-sized `f64` buffers: a small pool of recycled large buffers, and huge
//! pages for fresh ones.
//!
//! A training step allocates the same large buffers every step (values, gradients) and frees
//! them when its tape and `Grads` drop. Served by the system allocator, each large one is a
//! fresh `mmap` whose pages fault in one by one, and each free is a `munmap` that interrupts
//! the other cores to flush their TLBs: on the W6 transformer step that was a quarter of the
//! time; and buffers of tens of KiB made glibc trim and re-grow its heap every step (W5 at
//! batch 16 took 85k page faults instead of 12k). So a dropped [`Tensor`](crate::Tensor) of at
//! least 8 KiB hands its buffer to a per-thread pool (at most 512 MiB; past that, buffers are freed), and
//! the next allocation of the same size reuses it. [`release_cached_buffers`] empties the pool.
//!
//! A large buffer comes fresh from the kernel (glibc serves allocations above a few MiB with
//! `mmap`), and the first write to each 4 KiB page takes a page fault: for a 64 MiB gradient
//! that was ~29 ms of a ~60 ms cross-entropy step on this machine. For buffers of 4 MiB and
//! more we ask Linux for transparent huge pages (`madvise(MADV_HUGEPAGE)`, which the kernel
//! honours when THP is in `madvise` or `always` mode): 2 MiB pages, 512 times fewer faults,
//! measured ~10 ms for the same 64 MiB. The advice only changes how the pages are backed,
//! never their contents. Elsewhere these are plain `Vec` allocations.

use std::cell::RefCell;
use std::collections::HashMap;

use smallvec::SmallVec;

/// A tensor's elements. Up to two live inline: a scalar's value and gradient never touch the
/// heap (on W1's chain of 10,000 scalar ops, malloc and free were almost half the
/// instructions).
pub(crate) type Data = SmallVec<[f64; 2]>;

/// Buffers at least this large (in bytes) get the huge-page advice.
const HUGE_PAGE_THRESHOLD: usize = 4 << 20;
/// Buffers of fewer elements (8 KiB) are left to the allocator, which serves them quickly.
const POOL_MIN_LEN: usize = 1 << 10;
/// The most the pool of one thread keeps, in bytes. It must hold a whole training step's worth
/// of values and gradients (220 MiB for the W6 transformer, measured), or steps evict each
/// other's buffers.
const POOL_MAX_BYTES: usize = 512 << 20;

/// Recycled buffers by capacity. A training step asks for the same sizes every step, so an
/// exact match is the common case and the lookup is one hash probe.
#[derive(Default)]
struct Pool {
    free: HashMap<usize, Vec<Vec<f64>>>,
    bytes: usize,
}

impl Pool {
    /// A pooled buffer of capacity exactly `len`, emptied.
    fn take(&mut self, len: usize) -> Option<Vec<f64>> {
        let mut v = self.free.get_mut(&len)?.pop()?;
        self.bytes -= len * size_of::<f64>();
        v.clear();
        Some(v)
    }

    fn give(&mut self, v: Vec<f64>) {
        let bytes = v.capacity() * size_of::<f64>();
        if bytes > POOL_MAX_BYTES {
            return;
        }
        if self.bytes + bytes > POOL_MAX_BYTES {
            // Full: this one goes back to the allocator. (Emptying the pool instead would throw
            // away every buffer a steady training loop is about to ask for again.)
            return;
        }
        self.bytes += bytes;
        self.free.entry(v.capacity()).or_default().push(v);
    }
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::default();
}

/// A pooled buffer for `len` elements, if the pool has one.
fn pooled(len: usize) -> Option<Vec<f64>> {
    if len < POOL_MIN_LEN {
        return None;
    }
    POOL.try_with(|pool| pool.borrow_mut().take(len)).ok().flatten()
}

/// Takes back the buffer of a dropped tensor (small ones go straight back to the allocator).
pub(crate) fn recycle(data: Data) {
    if data.spilled() && data.capacity() >= POOL_MIN_LEN {
        // During thread exit the pool may be gone already; then the buffer is simply freed.
        let _ = POOL.try_with(|pool| pool.borrow_mut().give(data.into_vec()));
    }
}

/// Frees the large buffers this thread keeps for reuse (see the module docs). Call it after a
/// burst of large computations when the memory is wanted elsewhere.
pub fn release_cached_buffers() {
    let _ = POOL.try_with(|pool| *pool.borrow_mut() = Pool::default());
}

/// An allocation the system cannot satisfy: more than `isize::MAX` bytes, or more memory than
/// it will give. Carries the number of elements asked for.
#[derive(Debug)]
pub(crate) struct AllocError(pub usize);

impl AllocError {
    /// The bytes that were asked for (which may not fit in `usize`).
    pub(crate) fn bytes(&self) -> u128 {
        self.0 as u128 * size_of::<f64>() as u128
    }
}

/// Panics, at the caller's line, saying how much memory was asked for: an op's output that
/// the system cannot hold (constructors report the same as an [`Error`](crate::Error)).
#[track_caller]
fn out_of_memory(e: AllocError) -> ! {
    panic!("out of memory: cannot allocate {} bytes for {} f64 elements", e.bytes(), e.0)
}

/// A zero-filled buffer of `len` elements. Panics when it cannot be allocated.
#[track_caller]
pub(crate) fn zeroed(len: usize) -> Data {
    try_zeroed(len).unwrap_or_else(|e| out_of_memory(e))
}

/// A zero-filled buffer of `len` elements, or an error when it cannot be allocated.
pub(crate) fn try_zeroed(len: usize) -> Result<Data, AllocError> {
    if len <= 2 {
        return Ok(SmallVec::from_elem(0.0, len));
    }
    if let Some(mut v) = pooled(len) {
        v.resize(len, 0.0);
        return Ok(Data::from_vec(v));
    }
    let v = alloc_zeroed(len)?;
    advise_huge_pages(v.as_ptr(), v.capacity());
    Ok(Data::from_vec(v))
}

/// A fresh zeroed `Vec` of `len` elements, from the allocator's zeroing path (`calloc`: fresh
/// pages from the kernel are zero already and are not written), as `vec![0.0; len]` would
/// make it, but reporting a failure instead of aborting the process.
fn alloc_zeroed(len: usize) -> Result<Vec<f64>, AllocError> {
    let layout = std::alloc::Layout::array::<f64>(len).map_err(|_| AllocError(len))?;
    // SAFETY: `len > 2`, so the layout's size is non-zero, as `alloc_zeroed` requires.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<f64>();
    if ptr.is_null() {
        return Err(AllocError(len));
    }
    // SAFETY: `ptr` was just allocated by the global allocator with the layout of `[f64; len]`
    // (the size and alignment `Vec<f64>` with capacity `len` uses), and all its bytes are zero,
    // which is the `f64` 0.0: so `len` initialised elements of capacity `len`, owned by the Vec.
    Ok(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

/// An empty buffer with room for `len` elements. Panics when it cannot be allocated.
#[track_caller]
pub(crate) fn with_capacity(len: usize) -> Data {
    try_with_capacity(len).unwrap_or_else(|e| out_of_memory(e))
}

/// An empty buffer with room for `len` elements, or an error when it cannot be allocated.
pub(crate) fn try_with_capacity(len: usize) -> Result<Data, AllocError> {
    if len <= 2 {
        return Ok(Data::new());
    }
    if let Some(v) = pooled(len) {
        return Ok(Data::from_vec(v));
    }
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| AllocError(len))?;
    advise_huge_pages(v.as_ptr(), v.capacity());
    Ok(Data::from_vec(v))
}

/// Collects an iterator of known length into a buffer.
#[track_caller]
pub(crate) fn collect(len: usize, values: impl Iterator<Item = f64>) -> Data {
    let mut v = with_capacity(len);
    v.extend(values);
    v
}

/// A copy of `data`.
#[track_caller]
pub(crate) fn copy(data: &[f64]) -> Data {
    let mut v = with_capacity(data.len());
    v.extend_from_slice(data);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *const f64, len: usize) {
    const HUGE_PAGE: usize = 2 << 20;
    let bytes = len * size_of::<f64>();
    if bytes < HUGE_PAGE_THRESHOLD {
        return;
    }
    // The 2 MiB-aligned part of the allocation: madvise needs page-aligned ranges, and only
    // whole huge pages can be backed by one.
    let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
    let end = (ptr as usize + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end > start {
        // SAFETY: the range lies inside an allocation this function's caller owns; MADV_HUGEPAGE
        // is advice about how to back those pages and never changes their contents. A failure
        // (THP disabled, an old kernel) leaves ordinary pages, which is fine: the result is
        // ignored on purpose.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_ptr: *const f64, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_is_reused_for_the_same_size_and_comes_back_zeroed() {
        release_cached_buffers();
        let mut v = zeroed(100_000);
        v.iter_mut().for_each(|x| *x = 7.0);
        let address = v.as_ptr();
        recycle(v);
        assert!(!zeroed(2).spilled(), "two elements live inline");
        let other_size = with_capacity(90_000);
        assert_ne!(other_size.as_ptr(), address);
        let again = zeroed(100_000);
        assert_eq!(again.as_ptr(), address);
        assert!(again.len() == 100_000 && again.iter().all(|&x| x == 0.0));
        recycle(again);
        release_cached_buffers();
        assert!(pooled(100_000).is_none());
    }

    #[test]
    fn the_pool_keeps_at_most_its_budget() {
        release_cached_buffers();
        let quarter = POOL_MAX_BYTES / 4 / size_of::<f64>();
        for k in 0..5 {
            recycle(Data::from_vec(Vec::with_capacity(quarter + k)));
        }
        POOL.with(|pool| {
            let pool = pool.borrow();
            let held: usize = pool.free.values().map(Vec::len).sum();
            // Each is a little over a quarter: three fit, the fourth and fifth were refused.
            assert!(pool.bytes <= POOL_MAX_BYTES && held == 3, "{held} buffers, {} bytes", pool.bytes);
        });
        release_cached_buffers();
    }

    #[test]
    fn large_and_small_buffers_hold_what_was_put_in() {
        for len in [0, 3, 1 << 20] {
            assert!(zeroed(len).iter().all(|&x| x == 0.0));
            let values = collect(len, (0..len).map(|i| i as f64));
            assert_eq!(values.len(), len);
            assert_eq!(copy(&values), values);
            assert!(with_capacity(len).capacity() >= len);
        }
    }
}
