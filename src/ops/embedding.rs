//! `embedding(ids)`: row gather. The table `[rows, ..]` is indexed along its first axis; the
//! output stacks the picked rows, `[ids.len(), ..]`. The same id may appear several times.
//!
//! Its backward is a scatter-add of rows; recorded as an op of its own
//! ([`ScatterRows`], for `backward_graph`), whose backward is again the gather.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::tensor::Tensor;
use crate::tensor::buffer;

impl<'t> Var<'t> {
    /// Gathers rows of this table (shape `[rows, ..]`, at least one axis): output row `i` is
    /// table row `ids[i]`, shape `[ids.len(), ..]`. This is an embedding lookup
    /// (`E_tok.embedding(&tokens)`), PyTorch's `index_select(0, ids)`.
    ///
    /// Panics when the table is a scalar or an id is outside `0..rows`.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let table = tape.var(Tensor::new(vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0], &[3, 2])?);
    /// let rows = table.embedding(&[2, 0, 2]);
    /// assert_eq!(rows.value().data(), &[20.0, 21.0, 0.0, 1.0, 20.0, 21.0]);
    /// // Row 2 was read twice, so its gradient is the sum of both reads.
    /// let grads = rows.sum().backward();
    /// assert_eq!(grads.wrt(table).unwrap().data(), &[1.0, 1.0, 0.0, 0.0, 2.0, 2.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn embedding(self, ids: &[usize]) -> Var<'t> {
        let y = {
            let table = self.value_ref();
            let shape = table.shape();
            assert!(
                !shape.is_empty(),
                "embedding: table of shape {shape:?} has no row axis; it needs at least one axis"
            );
            let rows = shape[0];
            if let Some((at, &id)) = ids.iter().enumerate().find(|&(_, &id)| id >= rows) {
                panic!("embedding: id {id} at position {at} is outside 0..{rows} for table of shape {shape:?}");
            }
            let width = table.numel() / rows.max(1);
            let mut out = buffer::with_capacity(ids.len() * width);
            for &id in ids {
                out.extend_from_slice(&table.data()[id * width..(id + 1) * width]);
            }
            let mut out_shape = shape.to_vec();
            out_shape[0] = ids.len();
            Tensor::from_parts(out, &out_shape)
        };
        self.tape.record(Embedding { ids: ids.to_vec() }, &[self], y)
    }
}

/// Row gather `table[ids]` along the first axis.
#[derive(Clone, Debug)]
pub(crate) struct Embedding {
    ids: Vec<usize>,
}

impl Rule for Embedding {
    fn name(&self) -> String {
        "embedding".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("ids", bytes_of(&self.ids))
    }

    /// Output row `i` is a copy of table row `ids[i]`, so
    /// `d table[r] = sum_{i : ids[i] = r} g[i]`, a scatter-add. Rows never read get zero; a row
    /// read twice gets both gradients (forgetting to accumulate, writing `=` instead of `+=`, is
    /// the classic bug here).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| scatter_rows(cx.upstream(), &self.ids, cx.input_shape(0)));
    }

    /// The same scatter-add, recorded as a [`ScatterRows`] node.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let (g, shape) = (cx.upstream(), cx.input_shape(0));
            let y = scatter_rows(&g.value_ref(), &self.ids, &shape);
            cx.tape.record(ScatterRows { ids: self.ids.clone() }, &[g], y)
        });
    }
}

/// Row `i` of `g` added into row `ids[i]` of a zero tensor of `shape`: `d table[r] =
/// sum_{i : ids[i] = r} g[i]`.
fn scatter_rows(g: &Tensor, ids: &[usize], shape: &[usize]) -> Tensor {
    let numel: usize = shape.iter().product();
    let width = numel / shape[0].max(1);
    let mut dt = buffer::zeroed(numel);
    for (i, &id) in ids.iter().enumerate() {
        let row = &mut dt[id * width..(id + 1) * width];
        for (d, gi) in row.iter_mut().zip(&g.data()[i * width..(i + 1) * width]) {
            *d += gi;
        }
    }
    Tensor::from_parts(dt, shape)
}

/// Embedding's backward as a node (recorded by `backward_graph` only): row `i` of the input
/// is added into row `ids[i]` of the output.
#[derive(Clone, Debug)]
pub(crate) struct ScatterRows {
    ids: Vec<usize>,
}

impl Rule for ScatterRows {
    fn name(&self) -> String {
        "scatter_rows".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("ids", bytes_of(&self.ids))
    }

    /// Input row `i` went into output row `ids[i]` with weight 1: `dx[i] = g[ids[i]]`, the
    /// gather (an embedding lookup of `g`).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let g = cx.upstream();
            let width = g.numel() / g.shape()[0].max(1);
            let mut dx = buffer::with_capacity(self.ids.len() * width);
            for &id in &self.ids {
                dx.extend_from_slice(&g.data()[id * width..(id + 1) * width]);
            }
            Tensor::from_parts(dx, cx.input_shape(0))
        });
    }

    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| cx.upstream().embedding(&self.ids));
    }
}
