//! Gradient clipping by total norm, as `torch.nn.utils.clip_grad_norm_`.

use crate::ParamGrads;

/// Scales all gradients together so that their total L2 norm is at most `max_norm`, and
/// returns the total norm before clipping, as `torch.nn.utils.clip_grad_norm_`: the total is
/// the norm of the per-gradient norms, and every gradient is multiplied by
/// `min(max_norm / (total + 1e-6), 1)`. A NaN or infinite total propagates (the gradients
/// become NaN or zero), as PyTorch's default `error_if_nonfinite=False`.
///
/// ```
/// use tapegrad::optim::clip_grad_norm;
/// use tapegrad::{ParamGrads, Tensor};
/// let mut g = ParamGrads::new();
/// g.insert("a", Tensor::new(vec![3.0, 0.0], &[2])?);
/// g.insert("b", Tensor::scalar(4.0));
/// let total = clip_grad_norm(&mut g, 1.0);
/// assert_eq!(total, 5.0);
/// let coef = 1.0 / (5.0 + 1e-6);
/// assert_eq!(g["a"].data(), &[3.0 * coef, 0.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
pub fn clip_grad_norm(grads: &mut ParamGrads, max_norm: f64) -> f64 {
    let total = grads.iter().map(|(_, g)| g.norm().powi(2)).sum::<f64>().sqrt();
    let coef = max_norm / (total + 1e-6);
    // `clamp(max=1)` that keeps a NaN coefficient NaN, as torch.clamp does (f64::min would not).
    let coef = if coef > 1.0 { 1.0 } else { coef };
    if coef != 1.0 {
        for g in grads.values_mut() {
            g.data_mut().iter_mut().for_each(|x| *x *= coef);
        }
    }
    total
}
