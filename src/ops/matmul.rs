//! `matmul`: `[.., n, k] x [.., k, m] -> [.., n, m]`. The leading (batch) axes broadcast as
//! in NumPy; each batch element is one GEMM through [`kernels::gemm`](crate::kernels::gemm).
//!
//! Operands are read through their strides (`Tensor::strided`), so a transposed view
//! (attention's `k^T`, and its `q`, `k` and `v` with the heads moved forward) goes to the GEMM
//! as it is, without being gathered into row-major order first; so does a transposed upstream
//! gradient in the backward pass.

use crate::autograd::{BackwardCx, GraphCx, OpSlip, Rule, Saved, SlipCx, SlipKind, Var, Wants};
use crate::kernels::gemm::{MIN_PARALLEL_MULADDS, MatRef, gemm};
use crate::ops::broadcast::sum_to_shape;
use crate::tensor::Tensor;
use crate::tensor::buffer;
use crate::tensor::parallel::{cores, for_each_block, zip_options};
use crate::tensor::shape::{Shape, broadcast_shapes, for_each_broadcast, numel, strides};

/// One operand as the GEMMs read it: a buffer, where each batch element's matrix starts in it,
/// and the strides of the matrices' rows and columns.
struct Operand<'a> {
    data: &'a [f64],
    starts: Vec<usize>,
    row_stride: usize,
    col_stride: usize,
}

/// Where each batch element's matrix starts, in batch order, for a tensor of `shape` read from
/// `offset` with `steps` (one stride per axis) over the `batch` it broadcasts to: a broadcast
/// batch axis (missing or of size 1) reads the same matrix again.
fn batch_starts(shape: &[usize], offset: usize, steps: &[usize], batch: &[usize]) -> Vec<usize> {
    // The batch axes' strides, aligned to the right of `batch`, 0 where the axis broadcasts.
    let lead = batch.len() - (shape.len() - 2);
    let batch_steps: Shape =
        (0..batch.len()).map(|i| if i < lead || shape[i - lead] == 1 { 0 } else { steps[i - lead] }).collect();
    let mut starts = Vec::with_capacity(numel(batch));
    for_each_broadcast(batch, &batch_steps, &batch_steps, |at, _| starts.push(offset + at));
    starts
}

impl<'a> Operand<'a> {
    /// `x` read through its strides (a view as it is), over the `batch` it broadcasts to.
    fn read(x: &'a Tensor, batch: &[usize]) -> Operand<'a> {
        let (offset, data, steps) = x.strided();
        let rank = steps.len();
        let starts = batch_starts(x.shape(), offset, &steps, batch);
        Operand { data, starts, row_stride: steps[rank - 2], col_stride: steps[rank - 1] }
    }

    /// Batch element `i`'s `rows x cols` matrix. The GEMM checks that it lies inside the
    /// buffer (`MatRef::in_bounds`).
    fn matrix(&self, i: usize, rows: usize, cols: usize) -> MatRef<'a> {
        let data = self.data.get(self.starts[i]..).unwrap_or_default();
        MatRef { data, rows, cols, row_stride: self.row_stride, col_stride: self.col_stride }
    }
}

/// The sizes of one product: `a` is `n x k`, `b` is `k x m`, and the batch shape they
/// broadcast to.
struct Plan {
    n: usize,
    k: usize,
    m: usize,
    batch: Shape,
}

impl Plan {
    /// Checks the shapes (panicking at the user's line) and works out the sizes.
    #[track_caller]
    fn new(a: &[usize], b: &[usize]) -> Plan {
        assert!(
            a.len() >= 2 && b.len() >= 2,
            "matmul: shapes {a:?} and {b:?}: both operands need at least 2 axes (reshape a vector to [1, n] or [n, 1])"
        );
        let (n, k) = (a[a.len() - 2], a[a.len() - 1]);
        let (k2, m) = (b[b.len() - 2], b[b.len() - 1]);
        assert!(k == k2, "matmul: shapes {a:?} and {b:?} cannot be multiplied: inner sizes {k} and {k2} differ");
        let (batch_a, batch_b) = (&a[..a.len() - 2], &b[..b.len() - 2]);
        let Some(batch) = broadcast_shapes(batch_a, batch_b) else {
            panic!("matmul: shapes {a:?} and {b:?}: batch axes {batch_a:?} and {batch_b:?} do not broadcast");
        };
        let plan = Plan { n, k, m, batch };
        // With the output's shape valid (and the inputs', as every tensor's), every offset
        // below (`ia * n * k`, ...) is below an operand's length: no product can wrap.
        crate::tensor::shape::check_shape("matmul", &[a, b], &plan.out_shape());
        plan
    }

    /// How many batch elements each core takes: the whole batch on the calling thread unless
    /// its products are each too small for the GEMM to split (below
    /// [`MIN_PARALLEL_MULADDS`]) and together large enough to pay for a second core (the
    /// many small products of attention).
    fn batch_block(&self, count: usize) -> usize {
        let muladds = self.n * self.k * self.m;
        if count > 1 && muladds < MIN_PARALLEL_MULADDS && muladds.saturating_mul(count) >= MIN_PARALLEL_MULADDS {
            count.div_ceil(cores())
        } else {
            count.max(1)
        }
    }

    fn out_shape(&self) -> Shape {
        let mut shape = self.batch.clone();
        shape.extend([self.n, self.m]);
        shape
    }
}

impl<'t> Var<'t> {
    /// Matrix product: `[n, k] x [k, m] -> [n, m]`, batched over leading axes that broadcast
    /// (`[b, n, k] x [k, m]`, `[b, 1, n, k] x [h, k, m]`, ...).
    #[track_caller]
    pub fn matmul(self, other: Var<'t>) -> Var<'t> {
        let y = self.value_ref().matmul(&other.value_ref());
        self.tape.record(MatMul, &[self, other], y)
    }
}

impl Tensor {
    /// Matrix product outside any tape, 2-D and batched as [`Var::matmul`] (the same GEMMs,
    /// the same values to the bit). Panics, naming both shapes, when they cannot be multiplied.
    ///
    /// ```
    /// # use tapegrad::Tensor;
    /// let a = Tensor::new(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(a.matmul(&a.t()).data(), &[5.0, 11.0, 11.0, 25.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        let plan = Plan::new(self.shape(), other.shape());
        let shape = plan.out_shape();
        // Every batch element's GEMM (with `beta = 0`) writes its whole output block.
        let mut out = buffer::scratch(numel(&shape));
        let (n, k, m) = (plan.n, plan.k, plan.m);
        let (a, b) = (Operand::read(self, &plan.batch), Operand::read(other, &plan.batch));
        let per = plan.batch_block(a.starts.len());
        // Output blocks follow the batch order, so each core's share of the batch writes
        // one contiguous part of `out`.
        if n * m > 0 {
            for_each_block(out.chunks_mut(per * n * m).enumerate(), |(block, out)| {
                for (j, out) in out.chunks_exact_mut(n * m).enumerate() {
                    let i = block * per + j;
                    gemm(a.matrix(i, n, k), b.matrix(i, k, m), 0.0, out);
                }
            });
        }
        Tensor::from_parts(out, &shape)
    }
}

/// `matmul`: the product of its two inputs.
#[derive(Clone, Debug)]
pub(crate) struct MatMul;

impl Rule for MatMul {
    fn name(&self) -> String {
        "matmul".into()
    }

    /// `dA = G B^T` reads `B`; `dB = A^T G` reads `A`.
    fn saved(&self, wants: Wants<'_>) -> Saved {
        Saved::nothing().input_if(wants.input(0), 1).input_if(wants.input(1), 0)
    }

    /// For one batch element, `Y = A B` gives `dY_ij/dA_il = B_lj` and `dY_ij/dB_lj = A_il`, so
    /// `dA = G B^T` and `dB = A^T G`. A batch axis that was broadcast sums the contributions of
    /// all its batch elements: each GEMM accumulates into the shared gradient matrix
    /// (`beta = 1`).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let (shape_a, shape_b) = (cx.input_shape(0).to_vec(), cx.input_shape(1).to_vec());
        let plan = Plan::new(&shape_a, &shape_b);
        let (n, k, m) = (plan.n, plan.k, plan.m);
        let g = Operand::read(cx.upstream(), &plan.batch);
        let count = g.starts.len();
        let broadcast = numel(&shape_a) != count * n * k || numel(&shape_b) != count * k * m;
        // Each gradient block is written by its first GEMM (`beta = 0`) and accumulated into by
        // any later one (a broadcast batch axis), so no buffer is zero-filled first. With an
        // empty batch or an empty output (`n * m == 0`) no GEMM may run, and the gradients are
        // zeros.
        let fresh = |len: usize| {
            if count == 0 || n * m == 0 { buffer::zeroed(len) } else { buffer::scratch(len) }
        };
        // `dA = G B^T` reads `B`, `dB = A^T G` reads `A` (views through their strides).
        let b = cx.wants(0).then(|| Operand::read(cx.input(1), &plan.batch));
        let a = cx.wants(1).then(|| Operand::read(cx.input(0), &plan.batch));
        let mut da = b.as_ref().map(|_| fresh(numel(&shape_a)));
        let mut db = a.as_ref().map(|_| fresh(numel(&shape_b)));
        if broadcast {
            // Where each batch element's gradient block starts (a broadcast axis sends several
            // to one block), and which blocks a GEMM has written.
            let row_major_starts = |shape: &[usize]| batch_starts(shape, 0, &strides(shape), &plan.batch);
            let (blocks_a, blocks_b) = (row_major_starts(&shape_a), row_major_starts(&shape_b));
            let (mut written_a, mut written_b) =
                (vec![false; numel(&shape_a).max(1)], vec![false; numel(&shape_b).max(1)]);
            for i in 0..count {
                let gm = g.matrix(i, n, m);
                if let (Some(da), Some(b)) = (da.as_mut(), b.as_ref()) {
                    let at = blocks_a[i];
                    let beta = if std::mem::replace(&mut written_a[at], true) { 1.0 } else { 0.0 };
                    gemm(gm, b.matrix(i, k, m).t(), beta, &mut da[at..at + n * k]);
                }
                if let (Some(db), Some(a)) = (db.as_mut(), a.as_ref()) {
                    let at = blocks_b[i];
                    let beta = if std::mem::replace(&mut written_b[at], true) { 1.0 } else { 0.0 };
                    gemm(a.matrix(i, n, k).t(), gm, beta, &mut db[at..at + k * m]);
                }
            }
        } else if count > 0 && n * m > 0 {
            // No broadcast: batch element `i` writes block `i` of each gradient, so the batch
            // splits over the cores in contiguous parts.
            let per = plan.batch_block(count);
            let (a, b) = (a.as_ref(), b.as_ref());
            let da_blocks = da.as_mut().map(|d| d.chunks_mut((per * n * k).max(1)));
            let db_blocks = db.as_mut().map(|d| d.chunks_mut((per * k * m).max(1)));
            let blocks = (0..count.div_ceil(per)).zip(zip_options(da_blocks, db_blocks));
            for_each_block(blocks, |(block, (mut da, mut db))| {
                for i in block * per..((block + 1) * per).min(count) {
                    let (j, gm) = (i - block * per, g.matrix(i, n, m));
                    if let (Some(da), Some(b)) = (da.as_deref_mut(), b) {
                        gemm(gm, b.matrix(i, k, m).t(), 0.0, &mut da[j * n * k..(j + 1) * n * k]);
                    }
                    if let (Some(db), Some(a)) = (db.as_deref_mut(), a) {
                        gemm(a.matrix(i, n, k).t(), gm, 0.0, &mut db[j * k * m..(j + 1) * k * m]);
                    }
                }
            });
        }
        if let Some(da) = da {
            cx.add(0, Tensor::from_parts(da, &shape_a));
        }
        if let Some(db) = db {
            cx.add(1, Tensor::from_parts(db, &shape_b));
        }
    }

    /// `dA = G B^T`, `dB = A^T G` as recorded matmuls; a broadcast batch axis is summed back
    /// with `sum_to_size`.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        let (a, b, g) = (cx.input(0), cx.input(1), cx.upstream());
        let last_two = |v: Var<'t>| {
            let rank = v.shape().len();
            v.transpose(rank - 2, rank - 1)
        };
        cx.add_with(0, |cx| sum_to_shape(g.matmul(last_two(b)), &cx.input_shape(0)));
        cx.add_with(1, |cx| sum_to_shape(last_two(a).matmul(g), &cx.input_shape(1)));
    }

    /// A factor left untransposed: `dA = G B` for `G B^T` (only where `B`'s matrices are
    /// square, or the product would not have `A`'s shape), `dB = A G` for `A^T G` (`A`'s
    /// square). The seed chapter's published gradients hold the first, with `B = W_O^T`.
    fn slips(&self, cx: &SlipCx<'_>) -> Vec<OpSlip> {
        let (a, b, g, y) = (cx.input(0), cx.input(1), cx.upstream(), cx.out_name());
        let square = |t: &Tensor| t.shape()[t.rank() - 2] == t.shape()[t.rank() - 1];
        let product = |x: &Tensor, z: &Tensor, shape: &[usize]| {
            let tape = crate::Tape::no_grad();
            sum_to_shape(tape.constant(x.clone()).matmul(tape.constant(z.clone())), shape).value()
        };
        let (an, bn) = (cx.name(0), cx.name(1));
        let untransposed_b = square(b).then(|| {
            let what = format!("dL/d{y} {bn} instead of dL/d{y} {}: {bn} left untransposed", cx.name_t(1));
            cx.slip(0, SlipKind::Transpose, what, || product(g, b, a.shape()))
        });
        let untransposed_a = square(a).then(|| {
            let what = format!("{an} dL/d{y} instead of {} dL/d{y}: {an} left untransposed", cx.name_t(0));
            cx.slip(1, SlipKind::Transpose, what, || product(a, g, b.shape()))
        });
        [untransposed_b, untransposed_a].into_iter().flatten().flatten().collect()
    }
}
