//! `matmul`: `[.., n, k] x [.., k, m] -> [.., n, m]`. The leading (batch) axes broadcast as
//! in NumPy; each batch element is one GEMM through [`kernels::gemm`](crate::kernels::gemm).

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants};
use crate::kernels::gemm::{MIN_PARALLEL_MULADDS, MatRef, gemm};
use crate::kernels::parallel::{cores, for_each_block, zip_options};
use crate::ops::broadcast::sum_to_shape;
use crate::tensor::Tensor;
use crate::tensor::buffer;
use crate::tensor::shape::{Shape, broadcast_shapes, broadcast_strides, for_each_broadcast, numel};

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

    /// Calls `f(ia, ib, io)` with the offsets of the `a`, `b` and output matrices of every
    /// batch element (a broadcast batch axis reuses the same matrix).
    fn for_each_batch(&self, a: &[usize], b: &[usize], mut f: impl FnMut(usize, usize, usize)) {
        let sa = broadcast_strides(&a[..a.len() - 2], &self.batch);
        let sb = broadcast_strides(&b[..b.len() - 2], &self.batch);
        let mut io = 0;
        for_each_broadcast(&self.batch, &sa, &sb, |ia, ib| {
            f(ia * self.n * self.k, ib * self.k * self.m, io * self.n * self.m);
            io += 1;
        });
    }

    /// The offsets `(a, b, out)` of every batch element, in output order.
    fn batches(&self, a: &[usize], b: &[usize]) -> Vec<(usize, usize, usize)> {
        let mut all = Vec::with_capacity(numel(&self.batch));
        self.for_each_batch(a, b, |ia, ib, io| all.push((ia, ib, io)));
        all
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
        let y = {
            let (a, b) = (self.value_ref(), other.value_ref());
            let plan = Plan::new(a.shape(), b.shape());
            let shape = plan.out_shape();
            // Every batch element's GEMM (with `beta = 0`) writes its whole output block.
            let mut out = buffer::scratch(numel(&shape));
            let (n, k, m) = (plan.n, plan.k, plan.m);
            let batches = plan.batches(a.shape(), b.shape());
            let per = plan.batch_block(batches.len());
            let (a, b) = (a.data(), b.data());
            // Output blocks follow the batch order, so each core's share of the batch writes
            // one contiguous part of `out`.
            let blocks = batches.chunks(per).zip(out.chunks_mut((per * n * m).max(1)));
            for_each_block(blocks, |(batches, out)| {
                let start = batches[0].2;
                for &(ia, ib, io) in batches {
                    let am = MatRef::row_major(&a[ia..ia + n * k], n, k);
                    let bm = MatRef::row_major(&b[ib..ib + k * m], k, m);
                    gemm(am, bm, 0.0, &mut out[io - start..io - start + n * m]);
                }
            });
            Tensor::from_parts(out, &shape)
        };
        self.tape.record(MatMul, &[self, other], y)
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
        let g = cx.upstream().data();
        let batches = plan.batches(&shape_a, &shape_b);
        let broadcast = numel(&shape_a) != batches.len() * n * k || numel(&shape_b) != batches.len() * k * m;
        // Each gradient block is written by its first GEMM (`beta = 0`) and accumulated into by
        // any later one (a broadcast batch axis), so no buffer is zero-filled first. With an
        // empty batch or an empty output (`n * m == 0`) no GEMM may run, and the gradients are
        // zeros.
        let fresh = |len: usize| {
            if batches.is_empty() || n * m == 0 { buffer::zeroed(len) } else { buffer::scratch(len) }
        };
        let mut da = cx.wants(0).then(|| (fresh(numel(&shape_a)), cx.input(1).data()));
        let mut db = cx.wants(1).then(|| (fresh(numel(&shape_b)), cx.input(0).data()));
        if broadcast {
            // Which blocks (by offset) a GEMM has written; an empty operand's offsets are all 0.
            let (mut written_a, mut written_b) =
                (vec![false; numel(&shape_a).max(1)], vec![false; numel(&shape_b).max(1)]);
            for &(ia, ib, io) in &batches {
                let gm = MatRef::row_major(&g[io..io + n * m], n, m);
                if let Some((da, b)) = da.as_mut() {
                    let bm = MatRef::row_major(&b[ib..ib + k * m], k, m);
                    let beta = if std::mem::replace(&mut written_a[ia], true) { 1.0 } else { 0.0 };
                    gemm(gm, bm.t(), beta, &mut da[ia..ia + n * k]);
                }
                if let Some((db, a)) = db.as_mut() {
                    let am = MatRef::row_major(&a[ia..ia + n * k], n, k);
                    let beta = if std::mem::replace(&mut written_b[ib], true) { 1.0 } else { 0.0 };
                    gemm(am.t(), gm, beta, &mut db[ib..ib + k * m]);
                }
            }
        } else {
            // No broadcast: batch element `i` reads and writes block `i` of every buffer, so
            // the batch splits over the cores in contiguous parts.
            let per = plan.batch_block(batches.len());
            let (a, b) = (db.as_ref().map(|(_, a)| *a), da.as_ref().map(|(_, b)| *b));
            let da_blocks = da.as_mut().map(|(d, _)| d.chunks_mut((per * n * k).max(1)));
            let db_blocks = db.as_mut().map(|(d, _)| d.chunks_mut((per * k * m).max(1)));
            let blocks = g.chunks((per * n * m).max(1)).enumerate().zip(zip_options(da_blocks, db_blocks));
            for_each_block(blocks, |((block, g), (mut da, mut db))| {
                let first = block * per;
                for (i, g) in g.chunks_exact(n * m).enumerate() {
                    let gm = MatRef::row_major(g, n, m);
                    let (ia, ib) = ((first + i) * n * k, (first + i) * k * m);
                    if let (Some(da), Some(b)) = (da.as_deref_mut(), b) {
                        let bm = MatRef::row_major(&b[ib..ib + k * m], k, m);
                        gemm(gm, bm.t(), 0.0, &mut da[i * n * k..(i + 1) * n * k]);
                    }
                    if let (Some(db), Some(a)) = (db.as_deref_mut(), a) {
                        let am = MatRef::row_major(&a[ia..ia + n * k], n, k);
                        gemm(am.t(), gm, 0.0, &mut db[i * k * m..(i + 1) * k * m]);
                    }
                }
            });
        }
        let (da, db) = (da.map(|(d, _)| d), db.map(|(d, _)| d));
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
}
