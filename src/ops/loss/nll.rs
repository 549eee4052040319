//! `nll_loss`: the negative log-likelihood of log-probabilities, the last step of the unfused
//! cross-entropy (`log_softmax -> nll_loss`).

use crate::autograd::{BackwardCx, GraphCx, Rule, Saved, Var, Wants, bytes_of};
use crate::ops::loss::{onehot, rows_and_classes};
use crate::tensor::Tensor;
use crate::tensor::buffer;
use crate::tensor::indices::AsIndices;

impl<'t> Var<'t> {
    /// Negative log-likelihood of log-probabilities, averaged over rows: `-mean_r x[r, t_r]`.
    #[track_caller]
    pub fn nll_loss(self, targets: impl AsIndices) -> Var<'t> {
        let targets = targets.as_indices();
        let y = {
            let v = self.value_ref();
            let (rows, classes) = rows_and_classes("nll_loss", v.shape(), &targets, None);
            let targets = targets.data();
            let picked: f64 = targets.iter().enumerate().map(|(r, &t)| v.data()[r * classes + t]).sum();
            // `0 - picked`, as PyTorch sums `0 - x` from +0: picked zeros give +0.0, not -0.0.
            Tensor::scalar((0.0 - picked) / rows as f64)
        };
        self.tape.record(NllLoss { targets: targets.into_owned().into_data() }, &[self], y)
    }
}

/// Mean negative log-likelihood of the targets over the last axis.
#[derive(Clone, Debug)]
pub(crate) struct NllLoss {
    targets: Vec<usize>,
}

impl Rule for NllLoss {
    fn name(&self) -> String {
        "nll_loss".into()
    }

    fn saved(&self, _: Wants<'_>) -> Saved {
        Saved::nothing().extra("targets", bytes_of(&self.targets))
    }

    /// Only the picked entries get a gradient, `dx[r, t_r] = -g / rows`.
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        cx.add_with(0, |cx| {
            let shape = cx.input_shape(0);
            let classes = *shape.last().expect("checked in forward");
            let mut dx = buffer::zeroed(shape.iter().product());
            let scale = -cx.upstream().item() / self.targets.len() as f64;
            for (r, &t) in self.targets.iter().enumerate() {
                dx[r * classes + t] = scale;
            }
            Tensor::from_parts(dx, shape)
        });
    }

    /// `dx = onehot * (-g / rows)`, recorded, with the one-hot a constant, and filled with 0
    /// off the targets: there the gradient is 0 even for a NaN `g` (`0 * NaN` would be NaN),
    /// as the fast backward and PyTorch write it.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        cx.add_with(0, |cx| {
            let onehot = onehot(&cx.input_shape(0), &self.targets, 1.0);
            let off_target = onehot.map(|o| 1.0 - o);
            (cx.constant(onehot) * (-cx.upstream() / self.targets.len() as f64)).masked_fill(&off_target, 0.0)
        });
    }
}
