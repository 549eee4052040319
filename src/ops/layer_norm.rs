//! `layer_norm(gamma, beta, eps)` over the last axis, as ONE fused node with its own backward
//! (the arithmetic lives in [`kernels::layer_norm`](crate::kernels::layer_norm)).
//!
//! Composed from `mean_axis`, `-`, `powf`, `sqrt`, `/`, `*`, `+` the same function takes nine
//! nodes and keeps each of their values; the fused node keeps its output and two numbers per
//! row (mean and `1/std`). The test `layer_norm_equals_composition` shows both agree to 1e-12.

use crate::buffer;
use crate::kernels::layer_norm as kernel;
use crate::ops::Op;
use crate::tape::{GradSink, Var};
use crate::tensor::Tensor;

impl<'t> Var<'t> {
    /// Layer normalisation over the last axis: each row `x` (of `d` features) becomes
    /// `(x - mean(x)) / sqrt(var(x) + eps) * gamma + beta`, with the biased variance
    /// (divide by `d`) as PyTorch's `LayerNorm`. `gamma` and `beta` have shape `[d]`.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::new(vec![1.0, 2.0, 3.0, 4.0, 4.0, 4.0], &[2, 3])?);
    /// let gamma = tape.var(Tensor::ones(&[3]));
    /// let beta = tape.var(Tensor::zeros(&[3]));
    /// let y = x.layer_norm(gamma, beta, 1e-5).value();
    /// // Row 0 has mean 2 and variance 2/3; row 1 is constant, so it normalises to 0.
    /// assert!((y.get(&[0, 2]) - 1.0 / (2.0f64 / 3.0 + 1e-5).sqrt()).abs() < 1e-12);
    /// assert_eq!(y.get(&[1, 0]), 0.0);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    #[track_caller]
    pub fn layer_norm(self, gamma: Var<'t>, beta: Var<'t>, eps: f64) -> Var<'t> {
        self.same_tape(gamma, "layer_norm");
        self.same_tape(beta, "layer_norm");
        let (y, mean, rstd) = {
            let (x, g, b) = (self.value_ref(), gamma.value_ref(), beta.value_ref());
            let (xs, gs, bs) = (x.shape(), g.shape(), b.shape());
            let Some(&d) = xs.last() else {
                panic!("layer_norm: input of shape {xs:?} has no feature axis; it needs at least one axis");
            };
            assert!(
                gs == [d] && bs == [d],
                "layer_norm: gamma of shape {gs:?} and beta of shape {bs:?} must both be [{d}] for input of shape {xs:?}"
            );
            assert!(d > 0, "layer_norm: input of shape {xs:?} has an empty feature axis");
            let mut y = buffer::zeroed(x.numel());
            let (mean, rstd) = kernel::forward(x.data(), g.data(), b.data(), eps, &mut y);
            (Tensor::from_parts(y, xs), mean, rstd)
        };
        self.tape.record(Op::LayerNorm { x: self.id, gamma: gamma.id, beta: beta.id, mean, rstd }, y)
    }
}

/// Layer norm backward, per row, with `xhat = (x - mu) r`, `r = 1/sqrt(var + eps)`,
/// `y = gamma xhat + beta` and upstream `g`:
/// - `dbeta = sum_rows g`, `dgamma = sum_rows g xhat`.
/// - `dxhat = g gamma`. Through `xhat_j = (x_j - mu) r`: `dmu/dx_i = 1/d`, and
///   `dr/dx_i = -r^3 (x_i - mu) / d = -r^2 xhat_i / d` (the mean's own derivative cancels
///   because `sum_j (x_j - mu) = 0`). So `dxhat_j/dx_i = r ([i=j] - 1/d - xhat_i xhat_j / d)`
///   and `dx_i = r (dxhat_i - mean_j(dxhat_j) - xhat_i mean_j(dxhat_j xhat_j))`:
///   two reductions per row, then one pass (llm.c's `layernorm_backward`).
pub(crate) fn layer_norm_backward(
    (x_id, x): (usize, &Tensor),
    (gamma_id, gamma): (usize, &Tensor),
    beta_id: usize,
    (mean, rstd): (&[f64], &[f64]),
    g: &Tensor,
    sink: &mut GradSink,
) {
    let (want_x, want_gamma, want_beta) = (sink.wants(x_id), sink.wants(gamma_id), sink.wants(beta_id));
    let d = gamma.numel();
    let mut dx = want_x.then(|| buffer::zeroed(x.numel()));
    let mut dgamma = want_gamma.then(|| vec![0.0; d]);
    let mut dbeta = want_beta.then(|| vec![0.0; d]);
    kernel::backward(
        x.data(),
        gamma.data(),
        mean,
        rstd,
        g.data(),
        dx.as_deref_mut(),
        dgamma.as_deref_mut(),
        dbeta.as_deref_mut(),
    );
    if let Some(dx) = dx {
        sink.add(x_id, Tensor::from_parts(dx, x.shape()));
    }
    if let Some(dgamma) = dgamma {
        sink.add(gamma_id, Tensor::from_parts(dgamma, &[d]));
    }
    if let Some(dbeta) = dbeta {
        sink.add(beta_id, Tensor::from_parts(dbeta, &[d]));
    }
}
