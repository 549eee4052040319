//! `layer_norm(gamma, beta, eps)` over the last axis, as ONE fused node with its own backward
//! (the arithmetic lives in [`kernels::layer_norm`](crate::kernels::layer_norm)).
//!
//! Composed from `mean_axis`, `-`, `powf`, `sqrt`, `/`, `*`, `+` the same function takes nine
//! nodes and keeps each of their values; the fused node keeps its output and three numbers
//! per row (the mean, in two parts, and `1/std`). The test `layer_norm_equals_composition`
//! shows both agree to 1e-12.

use crate::autograd::{BackwardCx, GraphCx, OpSlip, Rule, Saved, SlipCx, SlipKind, Var, Wants, bytes_of};
use crate::kernels::layer_norm as kernel;
use crate::ops::broadcast::sum_to_shape;
use crate::tensor::Tensor;
use crate::tensor::buffer;

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
        let (y, moments) = {
            let (x, g, b) = (self.value_ref(), gamma.value_ref(), beta.value_ref());
            let (xs, gs, bs) = (x.shape(), g.shape(), b.shape());
            let Some(&d) = xs.last() else {
                panic!("layer_norm: input of shape {xs:?} has no feature axis; it needs at least one axis");
            };
            assert!(
                gs == [d] && bs == [d],
                "layer_norm: gamma of shape {gs:?} and beta of shape {bs:?} must both be [{d}] for input of shape {xs:?}"
            );
            // Every element is written (none over an empty feature axis: an empty result, as
            // PyTorch).
            let mut y = buffer::scratch(x.numel());
            let moments = if d == 0 {
                // No features: nothing to normalise, and the kernel cannot count the rows.
                let rows = xs[..xs.len() - 1].iter().product();
                kernel::Moments::zeros(rows)
            } else {
                kernel::forward(x.data(), g.data(), b.data(), eps, &mut y)
            };
            (Tensor::from_parts(y, xs), moments)
        };
        let kernel::Moments { mean, rstd } = moments;
        self.tape.record(LayerNorm { eps, mean: mean.into(), rstd: rstd.into() }, &[self, gamma, beta], y)
    }
}

/// Fused layer norm over the last axis (inputs `x`, `gamma`, `beta`); saves the mean (in two
/// parts, `shift + offset`: see `kernels::layer_norm`) and `1/std` of every row.
#[derive(Clone, Debug)]
pub(crate) struct LayerNorm {
    eps: f64,
    // Boxed slices, not `Vec`s: with `eps` this keeps the op no larger than the largest other
    // (the `Op` enum, and so every node, is as large as its largest variant). `mean` holds
    // every row's shift, then every row's offset.
    mean: Box<[f64]>,
    rstd: Box<[f64]>,
}

impl LayerNorm {
    /// Every row's `(shift, offset, rstd)`.
    fn moments(&self) -> (&[f64], &[f64], &[f64]) {
        kernel::Moments::split(&self.mean, &self.rstd)
    }
}

impl Rule for LayerNorm {
    fn name(&self) -> String {
        "layer_norm".into()
    }

    /// `dgamma` needs `xhat` (`x`, mean, rstd); `dx` needs `xhat` and `gamma`; `dbeta` needs
    /// nothing.
    fn saved(&self, wants: Wants<'_>) -> Saved {
        let (x, gamma) = (wants.input(0), wants.input(1));
        Saved::nothing()
            .input_if(x || gamma, 0)
            .input_if(x, 1)
            .extra("mean", bytes_of(&self.mean))
            .extra("rstd", bytes_of(&self.rstd))
    }

    /// Per row, with `xhat = (x - mu) r`, `r = 1/sqrt(var + eps)`, `y = gamma xhat + beta` and
    /// upstream `g`:
    /// - `dbeta = sum_rows g`, `dgamma = sum_rows g xhat`.
    /// - `dxhat = g gamma`. Through `xhat_j = (x_j - mu) r`: `dmu/dx_i = 1/d`, and
    ///   `dr/dx_i = -r^3 (x_i - mu) / d = -r^2 xhat_i / d` (the mean's own derivative cancels
    ///   because `sum_j (x_j - mu) = 0`). So `dxhat_j/dx_i = r ([i=j] - 1/d - xhat_i xhat_j / d)`
    ///   and `dx_i = r (dxhat_i - mean_j(dxhat_j) - xhat_i mean_j(dxhat_j xhat_j))`:
    ///   two reductions per row, then one pass (llm.c's `layernorm_backward`).
    fn backward(&self, cx: &mut BackwardCx<'_>) {
        let (want_x, want_gamma, want_beta) = (cx.wants(0), cx.wants(1), cx.wants(2));
        let x_shape = cx.input_shape(0).to_vec();
        let d = cx.input_shape(1)[0];
        // Every element of `dx` is written (none when `d = 0`).
        let mut dx = want_x.then(|| buffer::scratch(x_shape.iter().product()));
        let mut dgamma = want_gamma.then(|| vec![0.0; d]);
        let mut dbeta = want_beta.then(|| vec![0.0; d]);
        if want_x || want_gamma {
            kernel::backward(
                cx.input(0).data(),
                if want_x { cx.input(1).data() } else { &[] },
                self.moments(),
                cx.upstream().data(),
                dx.as_deref_mut(),
                dgamma.as_deref_mut(),
                dbeta.as_deref_mut(),
            );
        } else if let Some(dbeta) = dbeta.as_deref_mut().filter(|_| d > 0) {
            // dbeta = sum_rows g, which needs no value of the forward pass.
            for row in cx.upstream().data().chunks_exact(d) {
                dbeta.iter_mut().zip(row).for_each(|(db, g)| *db += g);
            }
        }
        if let Some(dx) = dx {
            cx.add(0, Tensor::from_parts(dx, &x_shape));
        }
        if let Some(dgamma) = dgamma {
            cx.add(1, Tensor::from_parts(dgamma, &[d]));
        }
        if let Some(dbeta) = dbeta {
            cx.add(2, Tensor::from_parts(dbeta, &[d]));
        }
    }

    /// The same formulas, recorded, with the mean and `r` RECOMPUTED from `x` by ops rather
    /// than read from the saved ones: `r` depends on `x`, and a second derivative must see it.
    fn backward_graph<'t>(&self, cx: &mut GraphCx<'_, 't>) {
        let (x, gamma, g) = (cx.input(0), cx.input(1), cx.upstream());
        let d = cx.input_shape(1);
        cx.add_with(2, |_| sum_to_shape(g, &d));
        if !(cx.wants(0) || cx.wants(1)) {
            return;
        }
        let last = x.shape().len() - 1;
        // The mean in two parts, as the forward pass: `x - shift`, then its own mean off.
        let shift = x.mean_axis(last, true);
        let deviation = x - shift;
        let offset = deviation.mean_axis(last, true);
        let centred = deviation - offset;
        let r = 1.0 / ((centred * centred).mean_axis(last, true) + self.eps).sqrt();
        // NaN on the rows whose variance overflowed, as the forward pass (`rstd_of`).
        let overflowed: Vec<f64> = self.rstd.iter().map(|r| if r.is_nan() { 1.0 } else { 0.0 }).collect();
        let r = r.masked_fill(&Tensor::from_parts(overflowed, &r.shape()), f64::NAN);
        let xhat = centred * r;
        // Where `r` is infinite (a variance of 0 at eps = 0), dgamma's `xhat` is PyTorch's
        // `r x - r mean`, as the kernel forms it (`row_by_terms`).
        let infinite: Vec<f64> = self.rstd.iter().map(|r| if r.is_infinite() { 1.0 } else { 0.0 }).collect();
        let xhat_for_gamma = match infinite.contains(&1.0) {
            true => Var::where_(&Tensor::from_parts(infinite, &r.shape()), r * x + -r * (shift + offset), xhat),
            false => xhat,
        };
        cx.add_with(1, |_| sum_to_shape(g * xhat_for_gamma, &d));
        cx.add_with(0, |_| {
            let dxhat = g * gamma;
            r * (dxhat - dxhat.mean_axis(last, true) - xhat * (dxhat * xhat).mean_axis(last, true))
        });
    }

    /// `dx_i = r (dxhat_i - mean(dxhat) - xhat_i mean(dxhat xhat))` (see `backward`) with a
    /// term left out: the mean's (`- mean(dxhat)`), the variance's (`- xhat mean(dxhat
    /// xhat)`), both (plain scaling by `r`), or `eps` left out of `r`.
    fn slips(&self, cx: &SlipCx<'_>) -> Vec<OpSlip> {
        if !cx.wants(0) {
            return Vec::new();
        }
        let (x, gamma, g) = (cx.input(0), cx.input(1), cx.upstream());
        let d = gamma.numel();
        // One row's dx from its `r`, with or without each term.
        let rule = |mean_term: bool, variance_term: bool, without_eps: bool| {
            let mut dx = Tensor::zeros(x.shape());
            let rows = x.data().chunks_exact(d).zip(g.data().chunks_exact(d)).zip(dx.data_mut().chunks_exact_mut(d));
            let (shift, offset, rstd) = self.moments();
            for (((x, g), dx), ((&shift, &offset), &r)) in rows.zip(shift.iter().zip(offset).zip(rstd)) {
                // Without eps: 1/sqrt(var) from the saved 1/sqrt(var + eps).
                let r = if without_eps { 1.0 / (1.0 / (r * r) - self.eps).sqrt() } else { r };
                let xhat: Vec<f64> = x.iter().map(|x| ((x - shift) - offset) * r).collect();
                let dxhat: Vec<f64> = g.iter().zip(gamma.data()).map(|(g, w)| g * w).collect();
                let mean_a = if mean_term { dxhat.iter().sum::<f64>() / d as f64 } else { 0.0 };
                let mean_b = if variance_term {
                    dxhat.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / d as f64
                } else {
                    0.0
                };
                for ((dx, a), xh) in dx.iter_mut().zip(&dxhat).zip(&xhat) {
                    *dx = r * (a - mean_a - xh * mean_b);
                }
            }
            dx
        };
        let y = cx.out_name();
        let terms = "r (dxhat - mean(dxhat) - xhat mean(dxhat xhat))";
        let mut slips = vec![
            cx.slip(
                0,
                SlipKind::DroppedTerm,
                format!("r (dxhat - xhat mean(dxhat xhat)), dxhat = gamma dL/d{y}, instead of {terms}: layer norm's mean term dropped"),
                || rule(false, true, false),
            ),
            cx.slip(
                0,
                SlipKind::DroppedTerm,
                format!("r (dxhat - mean(dxhat)), dxhat = gamma dL/d{y}, instead of {terms}: layer norm's variance term dropped"),
                || rule(true, false, false),
            ),
            cx.slip(
                0,
                SlipKind::DroppedTerm,
                format!("r gamma dL/d{y} instead of {terms}: layer norm taken as plain scaling, its mean and variance terms dropped"),
                || rule(false, false, false),
            ),
        ];
        // Without eps, a constant row would divide by zero: no learner's number to match.
        if self.rstd.iter().all(|&r| 1.0 / (r * r) - self.eps > 0.0) {
            slips.push(cx.slip(
                0,
                SlipKind::DroppedTerm,
                format!("r = 1/sqrt(var) instead of r = 1/sqrt(var + eps) in {terms}: layer norm's eps dropped"),
                || rule(true, true, true),
            ));
        }
        slips.into_iter().flatten().collect()
    }
}
