//! The affine map of a layer as one node: `linear` (PyTorch's `F.linear`, `x W^T + b`) and
//! `addmm` (`torch.addmm`, `input + mat1 mat2`).
//!
//! Written as `x.matmul(w) + b`, a layer records two nodes and keeps both values on the tape:
//! the product, which nothing in backward reads, and the sum. One node adds the bias to the
//! product in place, in the buffer the GEMM wrote: one buffer instead of two. On the W6
//! transformer the products were ~20% of the values a step keeps (`docs/perf.md`).

use crate::autograd::{BackwardCx, GraphCx, OpSlip, Rule, Saved, SlipCx, SlipKind, Var, Wants};
use crate::kernels::broadcast::{add_expanded, sum_rows};
use crate::kernels::gemm::{MatRef, gemm, gemm_pair};
use crate::ops::broadcast::{first_of_broadcast, sum_to, sum_to_shape};
use crate::tensor::Tensor;
use crate::tensor::buffer;
use crate::tensor::shape::{BinaryLayout, Shape, binary_layout, broadcast_shapes, check_shape, numel};

/// The sizes of one affine map: `x` read as a `rows x k` matrix, times the weight as a
/// `k x m` matrix (stored `[m, k]` and read transposed for `linear`, `[k, m]` for `addmm`).
struct Plan {
    rows: usize,
    k: usize,
    m: usize,
    out: Shape,
}

/// `linear` (`weight` is `[out, in]`, used transposed) or `addmm` (`mat2` is `[k, m]`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum WeightLayout {
    OutByIn,
    InByOut,
}

impl WeightLayout {
    fn op(self) -> &'static str {
        match self {
            WeightLayout::OutByIn => "linear",
            WeightLayout::InByOut => "addmm",
        }
    }

    /// The weight as the `k x m` matrix that multiplies `x`.
    fn matrix(self, w: &[f64], k: usize, m: usize) -> MatRef<'_> {
        match self {
            WeightLayout::OutByIn => MatRef::row_major(w, m, k).t(),
            WeightLayout::InByOut => MatRef::row_major(w, k, m),
        }
    }
}

impl Plan {
    /// Checks the shapes (panicking at the user's line, naming every shape) and works out the
    /// sizes.
    #[track_caller]
    fn new(layout: WeightLayout, x: &[usize], w: &[usize], bias: Option<&[usize]>) -> Plan {
        let op = layout.op();
        let shapes = || match bias {
            Some(b) => format!("shapes {x:?}, {w:?} and bias {b:?}"),
            None => format!("shapes {x:?} and {w:?}"),
        };
        let (rows, k, m, out): (usize, usize, usize, Shape) = match layout {
            WeightLayout::OutByIn => {
                assert!(
                    !x.is_empty() && w.len() == 2,
                    "linear: {}: the input needs at least 1 axis and the weight exactly 2 ([out_features, in_features])",
                    shapes()
                );
                let (m, k) = (w[0], w[1]);
                assert!(
                    x[x.len() - 1] == k,
                    "linear: {}: the input's last axis ({}) must equal the weight's in_features ({k})",
                    shapes(),
                    x[x.len() - 1]
                );
                let mut out = Shape::from_slice(&x[..x.len() - 1]);
                out.push(m);
                check_shape(op, &[x, w], &out);
                (numel(&x[..x.len() - 1]), k, m, out)
            }
            WeightLayout::InByOut => {
                assert!(x.len() == 2 && w.len() == 2, "addmm: {}: mat1 and mat2 must both have 2 axes", shapes());
                assert!(
                    x[1] == w[0],
                    "addmm: {}: mat1 and mat2 cannot be multiplied ({} and {} differ)",
                    shapes(),
                    x[1],
                    w[0]
                );
                let out = Shape::from_slice(&[x[0], w[1]]);
                check_shape(op, &[x, w], &out);
                (x[0], x[1], w[1], out)
            }
        };
        if let Some(b) = bias {
            assert!(
                broadcast_shapes(b, &out).is_some_and(|s| s[..] == out[..]),
                "{op}: {}: the bias does not broadcast to the output's shape {out:?}",
                shapes()
            );
        }
        Plan { rows, k, m, out }
    }
}

impl<'t> Var<'t> {
    /// `self W^T + bias` (PyTorch's `torch.nn.functional.linear`): `self` is `[*, in]`, the
    /// weight `[out, in]` as PyTorch stores it, the bias (usually `[out]`) any shape that
    /// broadcasts to the output `[*, out]`. One node, whose bias is added to the product in place.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::new(vec![1.0, 2.0], &[1, 2])?);
    /// let w = tape.var(Tensor::new(vec![1.0, 0.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])?);
    /// let b = tape.var(Tensor::new(vec![0.5, 0.5, 0.5], &[3])?);
    /// let y = x.linear(w, Some(b));
    /// assert_eq!(y.value().data(), &[1.5, 11.5, 17.5]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn linear(self, weight: Var<'t>, bias: Option<Var<'t>>) -> Var<'t> {
        affine(WeightLayout::OutByIn, self, weight, bias)
    }

    /// `self + mat1 mat2` (`torch.addmm` with `beta = alpha = 1`): `mat1` is `[n, k]`, `mat2`
    /// `[k, m]`, and `self` (a bias, usually `[m]`) any shape that broadcasts to `[n, m]`. One
    /// node, whose bias is added to the product in place.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::new(vec![1.0, 2.0], &[1, 2])?);
    /// let w = tape.var(Tensor::new(vec![1.0, 3.0, 5.0, 0.0, 4.0, 6.0], &[2, 3])?);
    /// let b = tape.var(Tensor::new(vec![0.5, 0.5, 0.5], &[3])?);
    /// assert_eq!(b.addmm(x, w).value().data(), &[1.5, 11.5, 17.5]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn addmm(self, mat1: Var<'t>, mat2: Var<'t>) -> Var<'t> {
        affine(WeightLayout::InByOut, mat1, mat2, Some(self))
    }
}

/// Records `x W + bias` (the weight read as [`WeightLayout`] says), inputs `[x, w, bias]`.
#[track_caller]
fn affine<'t>(layout: WeightLayout, x: Var<'t>, w: Var<'t>, bias: Option<Var<'t>>) -> Var<'t> {
    let y = {
        let (xv, wv) = (x.value_ref(), w.value_ref());
        let bv = bias.map(|b| b.value_ref());
        let plan = Plan::new(layout, xv.shape(), wv.shape(), bv.as_ref().map(|b| b.shape()));
        let (rows, k, m) = (plan.rows, plan.k, plan.m);
        let (x, w) = (MatRef::row_major(xv.data(), rows, k), layout.matrix(wv.data(), k, m));
        // The product first (`beta = 0`: written, not read), then the bias added in place.
        // Writing the bias into the output for the GEMM to add the product onto (`beta = 1`)
        // took 1.05-1.3x as long on W6's layers: the GEMM's microkernel then reads every
        // output element back from memory (`docs/perf.md`).
        let mut out = buffer::scratch(numel(&plan.out));
        gemm(x, w, 0.0, &mut out);
        if let Some(b) = &bv {
            add_expanded(&mut out, b.data(), b.shape(), &plan.out);
        }
        Tensor::from_parts(out, &plan.out)
    };
    let rule = Affine { layout };
    match bias {
        Some(b) => x.tape.record(rule, &[x, w, b], y),
        None => x.tape.record(rule, &[x, w], y),
    }
}

/// `linear` or `addmm`: `y = x W + b`, inputs `[x, w]` or `[x, w, b]`.
#[derive(Clone, Debug)]
pub(crate) struct Affine {
    layout: WeightLayout,
}

impl Rule for Affine {
    fn name(&self) -> String {
        self.layout.op().into()
    }

    /// `dx = G W^T` reads the weight, `dW = x^T G` reads `x`; the bias's gradient reads nothing.
    fn saved(&self, wants: Wants<'_>) -> Saved {
        Saved::nothing().input_if(wants.input(0), 1).input_if(wants.input(1), 0)
    }

    /// With `x` read as `rows x k` and the weight as the `k x m` matrix `W`, `y = x W + b`
    /// (b broadcast) gives, as for `matmul`, `dx = G W^T` and `dW = x^T G`; `linear` stores
    /// `W^T` (`[out, in]`), so its gradient is the transpose, `G^T x`. Each bias element was
    /// added to every output element it broadcast to: `db` is `G` summed over those (over the
    /// rows, for a bias per feature).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let plan = Plan::new(self.layout, cx.input_shape(0), cx.input_shape(1), None);
        let (rows, k, m) = (plan.rows, plan.k, plan.m);
        // Each gradient is written by its GEMM (`beta = 0`); with no terms to sum (`m == 0`
        // for `dx`, `rows == 0` for `dW`) there is no GEMM, and the gradient is zeros.
        let fresh = |len: usize, terms: usize| if terms == 0 { buffer::zeroed(len) } else { buffer::scratch(len) };
        let mut dx = cx.wants(0).then(|| fresh(rows * k, m));
        let mut dw = cx.wants(1).then(|| fresh(k * m, rows));
        {
            let g = MatRef::row_major(cx.upstream().data(), rows, m);
            let dx_product = dx.as_deref_mut().filter(|_| m > 0).map(|dx| {
                let w = self.layout.matrix(cx.input(1).data(), k, m);
                (g, w.t(), dx)
            });
            let dw_product = dw.as_deref_mut().filter(|_| rows > 0).map(|dw| {
                let x = MatRef::row_major(cx.input(0).data(), rows, k);
                match self.layout {
                    WeightLayout::OutByIn => (g.t(), x, dw),
                    WeightLayout::InByOut => (x.t(), g, dw),
                }
            });
            // The two products are independent: side by side where each is large.
            match (dx_product, dw_product) {
                (Some(dx), Some(dw)) => gemm_pair(dx, dw),
                (Some((a, b, c)), None) | (None, Some((a, b, c))) => gemm(a, b, 0.0, c),
                (None, None) => {}
            }
        }
        if let Some(dx) = dx {
            cx.add_with(0, |cx| Tensor::from_parts(dx, cx.input_shape(0)));
        }
        if let Some(dw) = dw {
            cx.add_with(1, |cx| Tensor::from_parts(dw, cx.input_shape(1)));
        }
        // The bias's gradient: `G` passed on, summed over the rows it was repeated along, or
        // summed over its broadcast axes.
        if cx.arity() < 3 {
            return;
        }
        cx.add_with(2, |cx| {
            let (g, shape) = (cx.upstream(), cx.input_shape(2));
            match binary_layout(g.shape(), shape, g.shape()) {
                BinaryLayout::RowsOfB(row) => Tensor::from_parts(sum_rows(g.data(), row, 1.0), shape),
                _ => sum_to(g, shape),
            }
        });
    }

    /// The same formulas as recorded ops (`matmul`, `linear`, `transpose`, `sum_to_size`), on
    /// `x` and `G` read as matrices (`rows x k`, `rows x m`) as the fast form does, so that a
    /// 1-D `x` (one row) works too. `addmm`'s `dx = G W^T` is `linear(G, W)`, which reads `W`
    /// transposed in place as the fast form does: the GEMM's sums for one output row or column
    /// depend on the operands' strides (a small `W^T` would be a row-major copy), and at
    /// huge values their last bits differ (`0.83e20 - 0.83e20` is 0 with rounded products,
    /// the rounding of `0.83 * 1e20` with a fused multiply-add).
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        let (x, w, g) = (cx.input(0), cx.input(1), cx.upstream());
        let layout = self.layout;
        cx.add_with(0, |cx| {
            let shape_x = cx.input_shape(0);
            let plan = Plan::new(layout, &shape_x, &cx.input_shape(1), None);
            let g2 = g.reshape(&[plan.rows, plan.m]);
            match layout {
                WeightLayout::OutByIn => g2.matmul(w),
                WeightLayout::InByOut => g2.linear(w, None),
            }
            .reshape(&shape_x)
        });
        cx.add_with(1, |cx| {
            let (shape_x, shape_w) = (cx.input_shape(0), cx.input_shape(1));
            let plan = Plan::new(layout, &shape_x, &shape_w, None);
            let (x2, g2) = (x.reshape(&[plan.rows, plan.k]), g.reshape(&[plan.rows, plan.m]));
            match layout {
                WeightLayout::OutByIn => g2.transpose(0, 1).matmul(x2),
                WeightLayout::InByOut => x2.transpose(0, 1).matmul(g2),
            }
            .reshape(&shape_w)
        });
        if cx.arity() == 3 {
            cx.add_with(2, |cx| sum_to_shape(g, &cx.input_shape(2)));
        }
    }

    /// The weight left untransposed (only a square weight gives a product of the right
    /// shape): for `linear`, `dx = G W^T` for `G W` and `dW = x^T G` for `G^T x`; for
    /// `addmm`, `dx = G W` for `G W^T` and `dW = G^T x` for `x^T G`. And the bias's gradient
    /// without the sum over the rows it was broadcast along (its first row).
    fn slips(&self, cx: &SlipCx<'_>) -> Vec<OpSlip> {
        let (x, w, g, y) = (cx.input(0), cx.input(1), cx.upstream(), cx.out_name());
        let mut slips = Vec::new();
        let (xn, wn, wt) = (cx.name(0), cx.name(1), cx.name_t(1));
        if w.shape()[0] == w.shape()[1] {
            let tape = crate::Tape::no_grad();
            let plan = Plan::new(self.layout, x.shape(), w.shape(), None);
            let (x2, g2) = (
                tape.constant(x.clone()).reshape(&[plan.rows, plan.k]),
                tape.constant(g.clone()).reshape(&[plan.rows, plan.m]),
            );
            let wv = tape.constant(w.clone());
            let (dx, dw) = match self.layout {
                WeightLayout::OutByIn => (
                    (
                        format!("dL/d{y} {wt} instead of dL/d{y} {wn}: {wt} used where {wn} belongs"),
                        g2.matmul(wv.transpose(0, 1)),
                    ),
                    (
                        format!("{xn}^T dL/d{y} instead of (dL/d{y})^T {xn}: the weight's gradient left untransposed"),
                        x2.transpose(0, 1).matmul(g2),
                    ),
                ),
                WeightLayout::InByOut => (
                    (format!("dL/d{y} {wn} instead of dL/d{y} {wt}: {wn} left untransposed"), g2.matmul(wv)),
                    (
                        format!("(dL/d{y})^T {xn} instead of {xn}^T dL/d{y}: the weight's gradient transposed"),
                        g2.transpose(0, 1).matmul(x2),
                    ),
                ),
            };
            slips.push(cx.slip(0, SlipKind::Transpose, dx.0, || dx.1.reshape(x.shape()).value()));
            slips.push(cx.slip(1, SlipKind::Transpose, dw.0, || dw.1.value()));
        }
        if cx.arity() == 3 && cx.input(2).shape() != g.shape() {
            let what = format!(
                "the first row of dL/d{y} instead of its sum over the rows: the sum over the axes {} was broadcast along dropped",
                cx.name(2)
            );
            slips.push(cx.slip(2, SlipKind::DroppedTerm, what, || first_of_broadcast(g, cx.input(2).shape())));
        }
        slips.into_iter().flatten().collect()
    }
}
