//! Allocation of tensor-sized `f64` buffers: a bounded pool of recycled large buffers, huge
//! pages for fresh ones, and allocation failures reported instead of aborting.
//!
//! A training step allocates the same large buffers every step (values, gradients) and frees
//! them when its tape and `Grads` drop. Served by the system allocator, each is a fresh `mmap`
//! whose pages fault in one by one and whose `munmap` interrupts the other cores; so a dropped
//! [`Tensor`](crate::Tensor) of at least 8 KiB hands its buffer to its thread's pool, and the
//! next allocation of the same size reuses it. Fresh buffers of 4 MiB and more get transparent
//! huge pages (`madvise(MADV_HUGEPAGE)`). The measurements behind each choice are in
//! `docs/perf.md`, section "buffer pool".
//!
//! What the pool keeps, and when it lets go:
//! - **A global bound.** All threads' pools together keep at most [`POOL_MAX_BYTES`] (an atomic
//!   byte count shared by the threads). A buffer that would pass it is freed, not pooled; a
//!   full pool refuses rather than evicts, so a step that frees more than the bound keeps the
//!   buffers freed first instead of thrashing.
//! - **Age.** Each pool has a clock: the bytes its thread has asked for. A pooled buffer that
//!   is not asked for again within a window of that clock is freed. The window is twice the
//!   longest recent reuse distance (the clock's advance between a buffer's return and its
//!   reuse: about one training step), and at least [`MIN_WINDOW`]. So a steady loop keeps what
//!   it reuses, and a batch size that varies every step cannot fill the pool with sizes never
//!   asked for again: they expire within about two steps.
//! - **Idle threads.** Each thread's pool sits behind a mutex in a global registry (its own
//!   thread locks it uncontended, once per large allocation or free). [`release_cached_buffers`]
//!   empties every thread's pool, idle threads' included; and when a thread's buffer finds the
//!   global bound full, pools whose threads have asked for nothing for [`IDLE`] are emptied
//!   first, so memory held by threads that are done flows to the one that works.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use smallvec::SmallVec;

/// A tensor's elements. Up to two live inline: a scalar's value and gradient never touch the
/// heap (on W1's chain of 10,000 scalar ops, malloc and free were almost half the
/// instructions).
pub(crate) type Data = SmallVec<[f64; 2]>;

/// Buffers at least this large (in bytes) get the huge-page advice.
const HUGE_PAGE_THRESHOLD: usize = 4 << 20;
/// Buffers of fewer elements (8 KiB) are left to the allocator, which serves them quickly.
const POOL_MIN_LEN: usize = 1 << 10;
/// The most all threads' pools keep together, in bytes. It must hold a whole training step's
/// worth of values and gradients (220 MiB for the W6 transformer, measured), or steps evict
/// each other's buffers.
pub(crate) const POOL_MAX_BYTES: usize = 512 << 20;
/// The shortest age window, in bytes asked for (see the module docs).
const MIN_WINDOW: u64 = 32 << 20;
/// A pool whose thread has asked for nothing this long is emptied when another thread's
/// buffer finds the global bound full.
const IDLE: Duration = Duration::from_secs(1);

/// A byte budget shared by pools (one global one; tests make their own).
pub(crate) struct Budget {
    max: usize,
    used: AtomicUsize,
}

impl Budget {
    const fn new(max: usize) -> Budget {
        Budget { max, used: AtomicUsize::new(0) }
    }

    /// Takes `bytes` from the budget if they fit.
    fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&u| u <= self.max)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// The bytes all pools on this budget hold.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

static BUDGET: Budget = Budget::new(POOL_MAX_BYTES);

/// One pooled buffer and the pool clock when it came back.
struct Entry {
    stamp: u64,
    buf: Vec<f64>,
}

/// Recycled buffers by capacity. A training step asks for the same sizes every step, so an
/// exact match is the common case and the lookup is one hash probe.
pub(crate) struct Pool {
    budget: &'static Budget,
    /// Per capacity, oldest first: a size class is reused in the order it came back, so that
    /// none of its buffers sits unused long enough to expire while the class is busy.
    free: BTreeMap<usize, VecDeque<Entry>>,
    /// `(stamp, capacity)` of every buffer given back, in order: the expiry queue. An entry
    /// whose buffer was reused since is skipped when it comes up.
    order: VecDeque<(u64, usize)>,
    bytes: usize,
    /// The bytes this pool's thread has asked for (pooled or not): the clock ages are read on.
    clock: u64,
    /// The longest recent reuse distance, decaying slowly.
    reach: u64,
    last_used: Instant,
}

impl Pool {
    pub(crate) fn new(budget: &'static Budget) -> Pool {
        Pool {
            budget,
            free: BTreeMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            clock: 0,
            reach: 0,
            last_used: Instant::now(),
        }
    }

    /// A pooled buffer for `len` elements, holding what it held when it came back (the caller
    /// clears or overwrites it); advances the clock either way. Capacity exactly `len` if the
    /// pool has one, else the smallest capacity up to `2 len`: a backward pass asks for sizes
    /// its forward did not (the parameters' gradients), and the forward of the next step for
    /// the forward's sizes again; serving the odd sizes from the buffers at hand keeps one set
    /// of buffers in circulation instead of two, for at most twice the bytes of the odd ones.
    fn take(&mut self, len: usize) -> Option<Vec<f64>> {
        self.last_used = Instant::now();
        // Ages are read before this request counts: a request larger than the window must not
        // expire the very buffer that can serve it.
        self.expire();
        let before = self.clock;
        // Saturating: `len` may be a request far past what can be allocated.
        self.clock = self.clock.saturating_add((len as u64).saturating_mul(size_of::<f64>() as u64));
        let capacity = match self.free.contains_key(&len) {
            true => len,
            false => *self.free.range(len..=len.saturating_mul(2)).next()?.0,
        };
        let queue = self.free.get_mut(&capacity)?;
        let Entry { stamp, buf } = queue.pop_front()?;
        if queue.is_empty() {
            self.free.remove(&capacity);
        }
        let distance = before - stamp;
        self.reach = (self.reach - self.reach / 64).max(distance);
        self.forget(capacity);
        Some(buf)
    }

    /// Keeps `buf` for reuse if the global budget has room (after emptying idle threads'
    /// pools, if `trim` is given and the budget is full); frees it otherwise.
    fn give(&mut self, buf: Vec<f64>, trim: Option<&dyn Fn()>) {
        let bytes = buf.capacity() * size_of::<f64>();
        self.expire();
        if bytes > self.budget.max {
            return;
        }
        let fits = self.budget.try_take(bytes)
            || trim.is_some_and(|trim| {
                trim();
                self.budget.try_take(bytes)
            });
        if !fits {
            return;
        }
        self.bytes += bytes;
        self.order.push_back((self.clock, buf.capacity()));
        self.free.entry(buf.capacity()).or_default().push_back(Entry { stamp: self.clock, buf });
    }

    /// Frees the buffers that were not asked for within the age window.
    fn expire(&mut self) {
        let window = MIN_WINDOW.max(2 * self.reach);
        while let Some(&(stamp, len)) = self.order.front() {
            if self.clock - stamp <= window {
                break;
            }
            self.order.pop_front();
            // Each size class is in stamp order, and reuse takes its oldest: if its oldest is
            // not older than this entry, this entry's buffer was reused already.
            let Some(queue) = self.free.get_mut(&len) else { continue };
            if queue.front().is_some_and(|e| e.stamp <= stamp) {
                queue.pop_front();
                if queue.is_empty() {
                    self.free.remove(&len);
                }
                self.forget(len);
            }
        }
    }

    /// Books out a buffer of capacity `len` that left the pool.
    fn forget(&mut self, len: usize) {
        let bytes = len * size_of::<f64>();
        self.bytes -= bytes;
        self.budget.give_back(bytes);
    }

    /// Frees every pooled buffer.
    fn clear(&mut self) {
        self.budget.give_back(self.bytes);
        self.bytes = 0;
        self.free.clear();
        self.order.clear();
    }
}

impl Drop for Pool {
    /// A pool that goes (its thread ended) returns its bytes to the budget.
    fn drop(&mut self) {
        self.clear();
    }
}

/// Every thread's pool, to empty them from any thread.
static REGISTRY: Mutex<Vec<Weak<Mutex<Pool>>>> = Mutex::new(Vec::new());

thread_local! {
    static POOL: Arc<Mutex<Pool>> = {
        let pool = Arc::new(Mutex::new(Pool::new(&BUDGET)));
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        registry.retain(|p| p.strong_count() > 0);
        registry.push(Arc::downgrade(&pool));
        pool
    };
}

/// Runs `f` on this thread's pool (`None` during thread exit, when the pool is gone).
fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> Option<R> {
    POOL.try_with(|pool| f(&mut pool.lock().unwrap_or_else(PoisonError::into_inner))).ok()
}

/// A pooled buffer for `len` elements, if the pool has one.
fn pooled(len: usize) -> Option<Vec<f64>> {
    if len < POOL_MIN_LEN {
        return None;
    }
    with_pool(|pool| pool.take(len)).flatten()
}

/// Takes back the buffer of a dropped tensor (small ones go straight back to the allocator).
pub(crate) fn recycle(data: Data) {
    if data.spilled() && data.capacity() >= POOL_MIN_LEN {
        // During thread exit the pool may be gone already; then the buffer is simply freed.
        let _ = with_pool(|pool| pool.give(data.into_vec(), Some(&empty_idle_pools)));
    }
}

/// Empties the pools of other threads that have asked for nothing for [`IDLE`]. Skips any pool
/// that is busy (its thread holds its lock) rather than wait for it.
fn empty_idle_pools() {
    let Ok(registry) = REGISTRY.try_lock() else { return };
    for pool in registry.iter().filter_map(Weak::upgrade) {
        if let Ok(mut pool) = pool.try_lock()
            && pool.last_used.elapsed() >= IDLE
        {
            pool.clear();
        }
    }
}

/// Frees the large buffers that every thread's pool keeps for reuse (see the module docs),
/// idle threads' included. Call it after a burst of large computations when the memory is
/// wanted elsewhere.
///
/// ```
/// use tapegrad::{Tensor, release_cached_buffers};
/// drop(Tensor::zeros(&[1 << 20])); // 8 MiB, now kept for reuse
/// release_cached_buffers();        // and now returned to the system
/// ```
pub fn release_cached_buffers() {
    let registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    for pool in registry.iter().filter_map(Weak::upgrade) {
        pool.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// The bytes all threads' pools hold.
#[cfg(test)]
pub(crate) fn pooled_bytes() -> usize {
    BUDGET.used()
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
        v.clear();
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

/// A buffer of `len` elements for a kernel that writes every one of them before anything reads
/// it: a recycled buffer keeps the values of the tensor it last held (finite or not), so the
/// zero fill that [`zeroed`] does, a whole extra pass over memory, is skipped. Fresh buffers
/// come zeroed from the allocator (fresh pages cost no write).
///
/// In debug builds (the tests) every element starts as NaN instead, so a kernel that leaves
/// one unwritten shows it in its output rather than passing stale values on silently.
#[track_caller]
pub(crate) fn scratch(len: usize) -> Data {
    if cfg!(debug_assertions) {
        let mut v = with_capacity(len);
        v.resize(len, f64::NAN);
        return v;
    }
    if len <= 2 {
        return SmallVec::from_elem(0.0, len);
    }
    if let Some(mut v) = pooled(len) {
        // The pool is keyed by capacity, and a tensor's buffer is usually full: then this keeps
        // every element as it is and writes nothing.
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, 0.0);
        }
        return Data::from_vec(v);
    }
    zeroed(len)
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
    if let Some(mut v) = pooled(len) {
        v.clear();
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

/// Copies at least this many elements (1 MiB) are split in two halves copied at once by two
/// cores: one core's copy runs at about half the memory bandwidth two reach (`docs/perf.md`).
const PARALLEL_COPY_LEN: usize = 1 << 17;

/// A copy of `data`.
#[track_caller]
pub(crate) fn copy(data: &[f64]) -> Data {
    if data.len() < PARALLEL_COPY_LEN {
        let mut v = with_capacity(data.len());
        v.extend_from_slice(data);
        return v;
    }
    // Every element is written by one of the two halves.
    let mut v = scratch(data.len());
    let (to_low, to_high) = v.split_at_mut(data.len() / 2);
    let (low, high) = data.split_at(data.len() / 2);
    rayon::join(|| to_low.copy_from_slice(low), || to_high.copy_from_slice(high));
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *const f64, len: usize) {
    const HUGE_PAGE: usize = 2 << 20;
    // Cannot wrap: `len` elements were just allocated, so their bytes are at most `isize::MAX`,
    // and the allocation ends inside the address space.
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

    /// A budget of its own for a test: each use of the macro is a separate `static` (pools
    /// borrow their budget for `'static`; a leaked box would be reported by LeakSanitizer).
    macro_rules! budget {
        ($max:expr) => {{
            static BUDGET: Budget = Budget::new($max);
            &BUDGET
        }};
    }

    fn buffer(len: usize) -> Vec<f64> {
        let mut v = Vec::with_capacity(len);
        v.resize(len, 7.0);
        v
    }

    #[test]
    fn a_recycled_buffer_is_reused_for_the_same_size_with_its_old_contents() {
        let mut pool = Pool::new(budget!(POOL_MAX_BYTES));
        let v = buffer(100_000);
        let address = v.as_ptr();
        pool.give(v, None);
        assert!(pool.take(49_999).is_none(), "more than twice the size asked for");
        assert!(pool.take(100_001).is_none(), "too small");
        let again = pool.take(100_000).unwrap();
        // The caller clears it (`zeroed`, `with_capacity`) or overwrites it (`scratch`).
        assert!(again.as_ptr() == address && again.len() == 100_000 && again.capacity() == 100_000);
        assert!(pool.take(100_000).is_none());
        assert_eq!(pool.budget.used(), 0);
    }

    /// A buffer larger than the age window is still there for the next request of its size:
    /// the request itself does not age it (it did: every 64 MiB gradient of W3 was freed by
    /// the request that could have reused it, and came back as fresh pages).
    #[test]
    fn a_buffer_larger_than_the_window_is_reused() {
        let mut pool = Pool::new(budget!(POOL_MAX_BYTES));
        let len = 2 * MIN_WINDOW as usize / size_of::<f64>();
        let v = buffer(len);
        let address = v.as_ptr();
        pool.give(v, None);
        let again = pool.take(len).expect("reused");
        assert_eq!(again.as_ptr(), address);
    }

    /// A size the pool has no buffer of is served by the smallest one up to twice as large; an
    /// exact size is served first.
    #[test]
    fn an_odd_size_takes_the_smallest_buffer_up_to_twice_as_large() {
        let mut pool = Pool::new(budget!(POOL_MAX_BYTES));
        let (small, large) = (buffer(60_000), buffer(100_000));
        let (small_at, large_at) = (small.as_ptr(), large.as_ptr());
        pool.give(large, None);
        pool.give(small, None);
        let exact = pool.take(100_000).unwrap();
        assert_eq!(exact.as_ptr(), large_at, "the exact size first");
        pool.give(buffer(100_000), None);
        let fitting = pool.take(50_000).unwrap();
        assert_eq!(fitting.as_ptr(), small_at, "then the smallest that fits");
        let odd = pool.take(70_000).unwrap();
        assert_eq!(odd.capacity(), 100_000);
        assert_eq!(pool.budget.used(), 0);
    }

    /// In the tests' (debug) builds a scratch buffer starts as NaN, fresh or recycled, so a
    /// kernel that leaves an element unwritten cannot pass a stale value on unnoticed.
    #[test]
    fn scratch_buffers_are_nan_in_debug_builds() {
        for len in [1, 2, 3, POOL_MIN_LEN, 3 * POOL_MIN_LEN] {
            let fresh = scratch(len);
            assert!(fresh.len() == len && fresh.iter().all(|x| x.is_nan()), "{len}");
            recycle(fresh);
            let again = scratch(len);
            assert!(again.len() == len && again.iter().all(|x| x.is_nan()), "{len}");
        }
    }

    #[test]
    fn recycled_buffers_come_back_zeroed_through_the_public_path() {
        let mut v = zeroed(100_000);
        v.iter_mut().for_each(|x| *x = 7.0);
        recycle(v);
        assert!(!zeroed(2).spilled(), "two elements live inline");
        let again = zeroed(100_000);
        assert!(again.len() == 100_000 && again.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn the_pools_of_all_threads_together_keep_at_most_the_budget() {
        let max = 64 << 20;
        let shared = budget!(64 << 20);
        let quarter = max / 4 / size_of::<f64>();
        // Four threads each give back three buffers of a little over a quarter of the budget:
        // three of the twelve fit, wherever they came from.
        let held: usize = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    s.spawn(move || {
                        let mut pool = Pool::new(shared);
                        for k in 0..3 {
                            pool.give(buffer(quarter + 4 * k + t), None);
                            assert!(shared.used() <= max, "{} bytes held", shared.used());
                        }
                        let held = pool.free.values().map(VecDeque::len).sum::<usize>();
                        let bytes: usize = pool.free.values().flatten().map(|e| e.buf.capacity() * 8).sum();
                        assert_eq!(pool.bytes, bytes);
                        // Keep the pool alive until every thread has given its buffers.
                        (held, pool)
                    })
                })
                .collect();
            let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            assert!(shared.used() <= max);
            results.iter().map(|(held, _)| held).sum()
        });
        assert_eq!(held, 3);
        assert_eq!(shared.used(), 0, "pools that end give their bytes back");
    }

    #[test]
    fn a_buffer_larger_than_the_budget_is_not_pooled() {
        let mut pool = Pool::new(budget!(1 << 20));
        pool.give(buffer((1 << 20) / 8 + 1), None);
        assert_eq!(pool.bytes, 0);
    }

    #[test]
    fn sizes_never_asked_for_again_expire() {
        // A batch size that changes every step: the step's sizes come back, and the next step
        // asks for others.
        let mut pool = Pool::new(budget!(POOL_MAX_BYTES));
        let weight = 4096; // asked for every step, like a weight's gradient
        for step in 0..1000 {
            let batch = 16 + (step * 37) % 497;
            let sizes = [batch * 1024, batch * 2048, batch * 512 + 7, weight];
            // Capacity only: the contents do not matter here, and writing them is slow.
            let live: Vec<_> = sizes.iter().map(|&n| pool.take(n).unwrap_or_else(|| Vec::with_capacity(n))).collect();
            for v in live {
                pool.give(v, None);
            }
        }
        // Each step asks for ~8 MiB on average; what is kept is within a few steps of that,
        // nowhere near the 512 MiB budget.
        assert!(pool.bytes <= 3 * MIN_WINDOW as usize, "{} MiB kept", pool.bytes >> 20);
        assert!(pool.take(weight).is_some(), "the size asked for every step stays");
    }

    #[test]
    fn a_steady_loop_keeps_every_buffer_it_reuses() {
        // A W6-like step: 200 buffers of 1 MiB, all returned at the end of the step.
        let mut pool = Pool::new(budget!(POOL_MAX_BYTES));
        let len = (1 << 20) / 8;
        for step in 0..20 {
            let mut misses = 0;
            let live: Vec<_> = (0..200)
                .map(|i| {
                    pool.take(len + i).unwrap_or_else(|| {
                        misses += 1;
                        buffer(len + i)
                    })
                })
                .collect();
            assert!(step == 0 || misses == 0, "step {step}: {misses} misses");
            for v in live {
                pool.give(v, None);
            }
        }
    }

    #[test]
    fn release_empties_the_pools_of_idle_threads() {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            recycle(zeroed(1 << 20));
            let held = with_pool(|p| p.bytes).unwrap();
            ready_tx.send(held).unwrap();
            // Idle, with its pool, until told to look again.
            done_rx.recv().unwrap();
            with_pool(|p| p.bytes).unwrap()
        });
        assert_eq!(ready_rx.recv().unwrap(), 8 << 20);
        release_cached_buffers();
        done_tx.send(()).unwrap();
        assert_eq!(worker.join().unwrap(), 0, "the idle thread's pool was emptied from here");
    }

    #[test]
    fn a_full_budget_empties_idle_pools_for_a_working_thread() {
        let shared = budget!(16 << 20);
        let idle = Arc::new(Mutex::new(Pool::new(shared)));
        idle.lock().unwrap().give(buffer(12 << 17), None); // 12 MiB
        idle.lock().unwrap().last_used -= IDLE;
        let mut busy = Pool::new(shared);
        let trim = || {
            let mut pool = idle.lock().unwrap();
            if pool.last_used.elapsed() >= IDLE {
                pool.clear();
            }
        };
        busy.give(buffer(8 << 17), Some(&trim)); // 8 MiB: fits only once the idle pool is emptied
        assert_eq!((busy.bytes, idle.lock().unwrap().bytes), (8 << 20, 0));
        assert!(pooled_bytes() <= POOL_MAX_BYTES);
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
