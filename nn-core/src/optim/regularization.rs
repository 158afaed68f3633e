//! L2 weight decay and the global gradient norm, shared by every optimizer.
//!
//! Sums of squares accumulate in f64: a network has hundreds of thousands of terms, and an f32
//! running sum would lose the small ones once it grows.

use crate::layer::{for_each_param, Layer};
use crate::tensor::TensorView;
use ndarray::Zip;

/// The L2 penalty `0.5 * lambda * sum W^2` over the weights of `model` (parameters of kind
/// [`ParamKind::Weight`](crate::layer::ParamKind::Weight); biases and normalisation parameters are not
/// decayed), as the seed's `Net` adds it to the loss.
///
/// Weight decay `lambda` in an optimizer adds this term's gradient, `lambda * W`; the trainer
/// adds this value to the reported loss so that the loss and the gradient agree.
pub fn l2_penalty(model: &mut dyn Layer, lambda: f32) -> f32 {
    if lambda == 0.0 {
        return 0.0;
    }
    let mut sum = 0.0f64;
    for_each_param(model, |_, p| {
        if p.kind.decays() {
            sum += p.value.iter().map(|&w| (w as f64) * (w as f64)).sum::<f64>();
        }
    });
    (0.5 * lambda as f64 * sum) as f32
}

/// The global norm `sqrt(sum over all parameters of |g + lambda * W|^2)` of the gradients the
/// last backward left, with L2 weight decay `lambda` added to weights' gradients as an optimizer
/// adds it. This is the norm that gradient clipping compares with its limit; it is NaN or
/// infinite when a gradient is.
pub fn global_grad_norm(model: &mut dyn Layer, lambda: f32) -> f32 {
    let mut sum = 0.0f64;
    for_each_param(model, |_, p| {
        let l2 = if p.kind.decays() { lambda } else { 0.0 };
        sum += sum_sq_eff_grad(p.value.view(), p.grad.view(), l2);
    });
    sum.sqrt() as f32
}

/// `sum (g + l2 * w)^2` over one parameter; shapes must agree.
pub(super) fn sum_sq_eff_grad(value: TensorView<'_>, grad: TensorView<'_>, l2: f32) -> f64 {
    let mut sum = 0.0f64;
    Zip::from(value).and(grad).for_each(|&w, &g| {
        let e = (g + l2 * w) as f64;
        sum += e * e;
    });
    sum
}
