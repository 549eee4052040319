//! General matrix multiply through the `matrixmultiply` crate (its `threading` feature uses
//! both cores for large products). Transposes cost nothing: a matrix is a slice plus strides.

/// A read-only strided matrix: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f64],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [f64], rows: usize, cols: usize) -> MatRef<'a> {
        MatRef { data, rows, cols, row_stride: cols, col_stride: 1 }
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

    /// Whether every element the strides reach lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride < self.data.len()
    }
}

/// `c = beta * c + a b`, where `c` is a row-major `a.rows x b.cols` slice.
///
/// Panics (an internal error, not a user's) if the sizes disagree.
pub(crate) fn gemm(a: MatRef, b: MatRef, beta: f64, c: &mut [f64]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(b.rows == k && c.len() == m * n && a.in_bounds() && b.in_bounds(), "gemm: inconsistent operands");
    if m == 0 || n == 0 {
        return;
    }
    let s = |x: usize| x as isize;
    // SAFETY: the asserts above guarantee that every element the strides reach, for
    // `a` (m x k), `b` (k x n) and `c` (m x n, row-major), lies inside its slice; `c` is
    // borrowed mutably, so it aliases neither input.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            s(a.row_stride),
            s(a.col_stride),
            b.data.as_ptr(),
            s(b.row_stride),
            s(b.col_stride),
            beta,
            c.as_mut_ptr(),
            s(n),
            1,
        );
    }
}
