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

    /// Whether every element the strides reach lies inside `data`, and every offset
    /// `matrixmultiply` forms (as `isize`) is representable. Checked arithmetic: a product that
    /// wrapped here once let safe code read and write outside the buffers.
    fn in_bounds(&self) -> bool {
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

/// `c = beta * c + a b`, where `c` is a row-major `a.rows x b.cols` slice.
///
/// Panics (an internal error, not a user's) if the sizes disagree.
pub(crate) fn gemm(a: MatRef, b: MatRef, beta: f64, c: &mut [f64]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let c_fits = m.checked_mul(n) == Some(c.len()) && isize::try_from(n).is_ok();
    assert!(b.rows == k && c_fits && a.in_bounds() && b.in_bounds(), "gemm: inconsistent operands");
    if m == 0 || n == 0 {
        return;
    }
    let s = |x: usize| x as isize;
    // SAFETY: the assert above guarantees, with checked arithmetic that cannot wrap, that the
    // last element the strides reach, `(rows - 1) * row_stride + (cols - 1) * col_stride`, lies
    // inside its slice for `a` (m x k) and `b` (k x n), and that `c` (m x n, row-major) has
    // exactly `m * n` elements; every other element's offset is smaller than the last one's,
    // and all strides fit in `isize`, so no offset `matrixmultiply` forms wraps either. `c` is
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_that_would_wrap_are_out_of_bounds() {
        let data = [0.0; 8];
        // (2 - 1) * 2^63 + (2 - 1) * 2^63 wraps to 0 < 8: the check must not be fooled.
        let m = MatRef { data: &data, rows: 2, cols: 2, row_stride: 1 << 63, col_stride: 1 << 63 };
        assert!(!m.in_bounds());
        let m = MatRef { data: &data, rows: usize::MAX, cols: 1, row_stride: 2, col_stride: 1 };
        assert!(!m.in_bounds());
        assert!(MatRef::row_major(&data, 2, 4).in_bounds() && MatRef::row_major(&data, 2, 4).t().in_bounds());
        assert!(!MatRef::row_major(&data, 3, 3).in_bounds());
    }

    #[test]
    #[should_panic(expected = "gemm: inconsistent operands")]
    fn an_output_whose_size_wraps_is_refused() {
        let a = [0.0; 1];
        let mut c = [0.0; 0];
        // m * n = 2^64 wraps to 0 = c.len().
        let am = MatRef { data: &a, rows: 1 << 32, cols: 0, row_stride: 0, col_stride: 1 };
        let bm = MatRef { data: &a, rows: 0, cols: 1 << 32, row_stride: 1 << 32, col_stride: 1 };
        gemm(am, bm, 0.0, &mut c);
    }
}
