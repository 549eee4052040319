//! `embedding(ids)`: row gather. The table `[rows, ..]` is indexed along its first axis; the
//! output puts the picked rows where the ids were, `ids.shape ++ [..]`. The same id may appear
//! several times.
//!
//! Its backward is a scatter-add of rows (`index_select`'s along axis 0); recorded as an op of
//! its own ([`IndexAdd`], for `backward_graph`), whose backward is again the gather.

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::ops::index::{IndexAdd, scatter_add_along, select_along};
use crate::tensor::Tensor;
use crate::tensor::indices::AsIndices;
use crate::tensor::shape::{split_at_axis, unravel};

impl<'t> Var<'t> {
    /// Looks up rows of this table (shape `[rows, ..]`, at least one axis) by id: ids of shape
    /// `S` give `S ++ [..]`, each id replaced by its row (PyTorch's `F.embedding(ids, table)`).
    /// A flat list `&[usize]` gives `[ids.len(), ..]`, PyTorch's `index_select(0, ids)`;
    /// [`Indices`](crate::Indices) of shape `[B, T]` give `[B, T, ..]` (`E_tok.embedding(&tokens)`).
    ///
    /// Panics when the table is a scalar or an id is outside `0..rows`.
    ///
    /// ```
    /// use tapegrad::{Indices, Tape, Tensor};
    /// let tape = Tape::new();
    /// let table = tape.var(Tensor::new(vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0], &[3, 2])?);
    /// let rows = table.embedding(&[2, 0, 2]);
    /// assert_eq!(rows.value().data(), &[20.0, 21.0, 0.0, 1.0, 20.0, 21.0]);
    /// // Row 2 was read twice, so its gradient is the sum of both reads.
    /// let grads = rows.sum().backward();
    /// assert_eq!(grads.wrt(table).unwrap().data(), &[1.0, 1.0, 0.0, 0.0, 2.0, 2.0]);
    /// // A batch of 2 sequences of 3 ids: [2, 3] -> [2, 3, 2].
    /// let batch = table.embedding(&Indices::from([[0, 1, 2], [2, 2, 0]]));
    /// assert_eq!(batch.shape(), [2, 3, 2]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn embedding(self, ids: impl AsIndices) -> Var<'t> {
        let ids = ids.as_indices();
        let y = {
            let table = self.value_ref();
            let shape = table.shape();
            assert!(
                !shape.is_empty(),
                "embedding: table of shape {shape:?} has no row axis; it needs at least one axis"
            );
            let rows = shape[0];
            if let Some((at, &id)) = ids.data().iter().enumerate().find(|&(_, &id)| id >= rows) {
                let at = match ids.rank() {
                    1 => format!("position {at}"),
                    _ => format!("{:?} of ids of shape {:?}", unravel(at, ids.shape()), ids.shape()),
                };
                panic!("embedding: id {id} at {at} is outside 0..{rows} for table of shape {shape:?}");
            }
            let out = select_along(table.data(), split_at_axis(shape, 0), ids.data());
            let mut out_shape = ids.shape().to_vec();
            out_shape.extend_from_slice(&shape[1..]);
            Tensor::from_parts(out, &out_shape)
        };
        self.tape.record(Embedding { ids: ids.into_owned().into_data() }, &[self], y)
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
        cx.add_with(0, |cx| {
            let shape = cx.input_shape(0);
            Tensor::from_parts(scatter_add_along(cx.upstream().data(), split_at_axis(shape, 0), &self.ids), shape)
        });
    }

    /// The same scatter-add, recorded as an [`IndexAdd`] node along axis 0.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| IndexAdd::record(cx.upstream(), 0, &self.ids, &cx.input_shape(0)));
    }
}
