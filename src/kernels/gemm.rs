//! General matrix multiply through the `gemm` crates (`gemm-f64`, the f64 kernels of the `gemm`
//! crate, without its front's f32 and complex ones), which pick their microkernel at run time
//! (AVX-512, AVX2 + FMA, or plain SSE2), so one build uses the widest vector unit of each
//! x86-64 machine. Transposes cost nothing: a matrix is a slice plus strides, and the crate packs
//! strided operands itself.
//!
//! Why `gemm` and not `matrixmultiply` (the previous kernel): on the workloads' shapes it was
//! ahead in 20 of 22 cases of `benches/gemm.rs` (the other two within noise), most of all on
//! the small and skinny products of an MLP step and of attention; numbers and caveats (one
//! machine kind, a loaded machine) in `docs/perf.md`.
//!
//! `benches/gemm.rs` and `benches/machine.rs` time it through `tapegrad::bench_internals`
//! (the `bench-internals` feature).

use gemm_common::Parallelism;

use crate::tensor::parallel::cores;

/// Products with fewer multiply-adds (`m * k * n`) than this run on the calling thread: waking a
/// second core costs microseconds, more than it saves on a small product, and the many small
/// products of attention gain nothing from it. A first choice (W6's attention products, 2^17,
/// stay on one thread; its Linear layers, 2^24 and more, may use two): on the loaded machine it
/// was measured on, one and two threads did not separate below ~10^7 (`benches/gemm.rs`'s sweep
/// rows, `docs/perf.md`). Above it the crate still keeps a product whose blocks are too small
/// on one thread.
pub const MIN_PARALLEL_MULADDS: usize = 1 << 21;

/// Products with at most this many rows (and enough work for two threads) are split by the
/// columns of `c` into two halves, one GEMM on one thread each, instead of handing both
/// threads to the crate. For W4's forward product (64x784x256), just after the SGD update has
/// written the weight, the halves took 0.64-0.89 of the crate's two-thread time in an
/// alternated harness on the Xeon (the crate's split of so few rows reads the freshly written
/// weight less well); products with more rows were even with the crate or behind it
/// (`docs/perf.md`).
const SPLIT_COLUMNS_MAX_ROWS: usize = 64;

/// A read-only strided matrix: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    /// The elements the strides reach.
    pub data: &'a [f64],
    /// The number of rows.
    pub rows: usize,
    /// The number of columns.
    pub cols: usize,
    /// The distance between two rows in `data`.
    pub row_stride: usize,
    /// The distance between two columns in `data`.
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [f64], rows: usize, cols: usize) -> MatRef<'a> {
        MatRef { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// Columns `start..start + cols` (in range): the same data from the first of them.
    fn columns(self, start: usize, cols: usize) -> MatRef<'a> {
        let data = if cols == 0 { &[] } else { &self.data[start * self.col_stride..] };
        MatRef { data, cols, ..self }
    }

    /// The same elements read as the transpose (no copy).
    pub fn t(self) -> MatRef<'a> {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Whether every element the strides reach lies inside `data`, and every offset
    /// the GEMM forms (as `isize`) is representable. Checked arithmetic: a product that
    /// wrapped here once let safe code read and write outside the buffers.
    pub(crate) fn in_bounds(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1)
            .checked_mul(self.row_stride)
            .and_then(|r| (self.cols - 1).checked_mul(self.col_stride).and_then(|c| r.checked_add(c)));
        last.is_some_and(|last| last < self.data.len())
            && isize::try_from(self.row_stride).is_ok()
            && isize::try_from(self.col_stride).is_ok()
    }
}

/// How many threads a product of `muladds` multiply-adds may use.
fn parallelism(muladds: usize) -> Parallelism {
    let cores = cores();
    if cores > 1 && muladds >= MIN_PARALLEL_MULADDS { Parallelism::Rayon(cores) } else { Parallelism::None }
}

/// `c = beta * c + a b`, where `c` is a row-major `a.rows x b.cols` slice. With `beta == 0`,
/// `c` is overwritten without being read (a NaN in it does not survive).
///
/// Panics (an internal error, not a user's) if the sizes disagree.
pub fn gemm(a: MatRef, b: MatRef, beta: f64, c: &mut [f64]) {
    let threads = parallelism(a.rows * a.cols * b.cols);
    if matches!(threads, Parallelism::Rayon(_)) && a.rows <= SPLIT_COLUMNS_MAX_ROWS && b.cols >= 2 {
        gemm_column_halves(a, b, beta, c);
    } else {
        gemm_with(a, b, beta, c, threads);
    }
}

/// One product for [`gemm_pair`]: `c = a b`, `c` a row-major `a.rows x b.cols` slice.
pub(crate) type Product<'a, 'c> = (MatRef<'a>, MatRef<'a>, &'c mut [f64]);

/// Two independent products, `c = a b` each (`beta = 0`): what [`gemm`] computes for each, one
/// after the other, and the same bits. When both are large enough that [`gemm`] would split
/// each over the cores, they run side by side instead, each on half of them (one core each on
/// two). A backward pass asks for such pairs, `dX = G W^T` and `dW = X^T G` of the same
/// layer: two products run whole on one core each were 0.73-1.00 of the time of the same two
/// products split over both cores one after the other, on W6's Linear layers in an alternated
/// harness on the Xeon (the crate's split of one product leaves the cores waiting on each other
/// at every block; `docs/perf.md`).
pub(crate) fn gemm_pair(first: Product, second: Product) {
    let muladds = |(a, b, _): &Product| a.rows * a.cols * b.cols;
    let cores = cores();
    let large = muladds(&first) >= MIN_PARALLEL_MULADDS && muladds(&second) >= MIN_PARALLEL_MULADDS;
    if cores < 2 || !large {
        for (a, b, c) in [first, second] {
            gemm(a, b, 0.0, c);
        }
        return;
    }
    let threads = if cores / 2 > 1 { Parallelism::Rayon(cores / 2) } else { Parallelism::None };
    let ((a1, b1, c1), (a2, b2, c2)) = (first, second);
    rayon::join(|| gemm_with(a1, b1, 0.0, c1, threads), || gemm_with(a2, b2, 0.0, c2, threads));
}

/// [`gemm`] on as many threads as `threads` allows (the benchmark compares the choices).
pub fn gemm_with(a: MatRef, b: MatRef, beta: f64, c: &mut [f64], threads: Parallelism) {
    check_operands(a, b, c);
    // SAFETY: `check_operands` holds, and `c` is borrowed mutably here for the whole call.
    unsafe { gemm_into(a, b, beta, c.as_mut_ptr(), b.cols, threads) }
}

/// [`gemm`] as two one-thread GEMMs on the two halves of `c`'s columns, side by side.
fn gemm_column_halves(a: MatRef, b: MatRef, beta: f64, c: &mut [f64]) {
    check_operands(a, b, c);
    let (n, half) = (b.cols, b.cols / 2);
    let (left, right) = (b.columns(0, half), b.columns(half, n - half));
    // A raw pointer is not `Sync`; the halves below write disjoint elements of `c`.
    struct Out(*mut f64);
    // SAFETY: shared between the two halves only to form their disjoint blocks (below).
    unsafe impl Sync for Out {}
    let out = Out(c.as_mut_ptr());
    let out = &out;
    // SAFETY: `check_operands` holds for the whole product, so each half of `b` (whose
    // elements are a subset of `b`'s) lies inside its slice too (`columns` only moves the start
    // of the slice to the first column read). The halves of `c` are the `m x half` block at
    // column 0 and the `m x (n - half)` block at column `half`, both with row stride `n`: their
    // last elements, `(m - 1) * n + half - 1` and `(m - 1) * n + n - 1`, are inside `c`'s `m * n`
    // elements, and no element belongs to both. `c` is borrowed mutably until both return.
    rayon::join(
        || unsafe { gemm_into(a, left, beta, out.0, n, Parallelism::None) },
        || unsafe { gemm_into(a, right, beta, out.0.add(half), n, Parallelism::None) },
    );
}

/// Panics (an internal error, not a user's) unless `a` (m x k) and `b` (k x n) agree, each
/// lies inside its slice, and `c` holds exactly `m * n` elements.
fn check_operands(a: MatRef, b: MatRef, c: &[f64]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let c_fits = m.checked_mul(n) == Some(c.len()) && isize::try_from(n).is_ok();
    assert!(b.rows == k && c_fits && a.in_bounds() && b.in_bounds(), "gemm: inconsistent operands");
}

/// `c = beta * c + a b` for the `a.rows x b.cols` block at `c` with row stride `c_row_stride`.
///
/// # Safety
/// `a` and `b` pass [`MatRef::in_bounds`] and agree (`b.rows == a.cols`); every element of the
/// block at `c` (the last at `(rows - 1) * c_row_stride + cols - 1`) is inside one allocation
/// that nothing else reads or writes during the call, and `c_row_stride` fits in `isize`.
unsafe fn gemm_into(a: MatRef, b: MatRef, beta: f64, c: *mut f64, c_row_stride: usize, threads: Parallelism) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: c = beta * c (the crate is not asked about a product with no terms).
        for r in 0..m {
            // SAFETY: row `r` of the block is inside it (the caller's contract).
            let row = unsafe { std::slice::from_raw_parts_mut(c.add(r * c_row_stride), n) };
            row.iter_mut().for_each(|x| *x = if beta == 0.0 { 0.0 } else { beta * *x });
        }
        return;
    }
    let s = |x: usize| x as isize;
    // The `gemm` crate's entry point for f64, without the crate's front (which compiles the
    // f32, c32 and c64 kernels too, none of which the engine calls): its one step for strides
    // like ours is kept as it was. The crate computes `dst = alpha * dst + beta * lhs rhs`,
    // reading `dst` only when `read_dst` is set; its strides are given column stride first.
    // Its microkernel prefers a column-major `dst`, so a row-major one (column stride 1 below
    // the row stride) is computed as its transpose: `c^T = b^T a^T`. The crate's other steps
    // turn negative strides positive; ours are never negative.
    let (dst_cs, dst_rs) = (1, s(c_row_stride));
    let (m, n, dst_cs, dst_rs, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs) = if dst_cs < dst_rs {
        (n, m, dst_rs, dst_cs, b, s(b.row_stride), s(b.col_stride), a, s(a.row_stride), s(a.col_stride))
    } else {
        (m, n, dst_cs, dst_rs, a, s(a.col_stride), s(a.row_stride), b, s(b.col_stride), s(b.row_stride))
    };
    // SAFETY: by the caller's contract (checked arithmetic in `in_bounds`, which cannot wrap),
    // the last element the strides reach, `(rows - 1) * row_stride + (cols - 1) * col_stride`,
    // lies inside its slice for `a` (m x k) and `b` (k x n), and the block of `c` (row stride
    // `c_row_stride`, column stride 1) lies inside its allocation; every other element's
    // offset is smaller than the last one's, and all strides fit in `isize`, so no offset the
    // crate forms wraps either. Nothing else touches the block of `c`, so it aliases neither
    // input. Swapping the operands and each one's strides describes the same elements.
    unsafe {
        gemm_f64::gemm::f64::get_gemm_fn()(
            m,
            n,
            k,
            c,
            dst_cs,
            dst_rs,
            beta != 0.0,
            lhs.data.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.data.as_ptr(),
            rhs_cs,
            rhs_rs,
            beta,
            1.0,
            false,
            false,
            false,
            threads,
        );
    }
}
