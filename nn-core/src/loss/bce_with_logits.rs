//! [`BceWithLogitsLoss`]: binary cross-entropy on logits, PyTorch's `nn.BCEWithLogitsLoss`.

use super::{elementwise, Loss, Reduction};
use crate::data::{TargetKind, Targets};
use crate::tensor::Tensor;

/// Sigmoid and binary cross-entropy fused, per element (PyTorch's `nn.BCEWithLogitsLoss()`):
/// `-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))`, averaged over every element (or summed
/// with [`Reduction::Sum`]). For multi-label classification (one logit per label, targets 0
/// or 1) and for outputs in `[0, 1]` such as an autoencoder's pixels (targets anywhere in
/// `[0, 1]`). The gradient is `(sigmoid(x) - t) / count`.
///
/// Computed as `max(x, 0) - x t + ln(1 + e^-|x|)`, which is finite for logits of any size
/// (±1e4 and beyond), where a sigmoid followed by a log would give `log(0)`.
///
/// ```
/// use nn_core::loss::{BceWithLogitsLoss, Loss};
/// use nn_core::{Targets, Tensor};
/// let x = Tensor::from_shape_vec(vec![1, 2], vec![0.0, 1e4]).unwrap();
/// let t = Tensor::from_shape_vec(vec![1, 2], vec![1.0, 0.0]).unwrap();
/// let mut bce = BceWithLogitsLoss::new();
/// let loss = bce.forward(x, Targets::Values(&t));
/// assert!((loss - (2f32.ln() + 1e4) / 2.0).abs() < 1e-3);
/// assert_eq!(bce.backward().as_slice().unwrap(), &[-0.25, 0.5]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct BceWithLogitsLoss {
    reduction: Reduction,
    /// The last forward's gradient, in its output's buffer.
    grad: Option<Tensor>,
}

impl BceWithLogitsLoss {
    /// Binary cross-entropy on logits, averaged over every element.
    pub fn new() -> Self {
        Self::default()
    }

    /// How the element losses are reduced (default [`Reduction::Mean`]).
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

impl Loss for BceWithLogitsLoss {
    fn forward(&mut self, output: Tensor, targets: Targets<'_>) -> f32 {
        elementwise::forward(
            "BceWithLogitsLoss",
            output,
            targets,
            self.reduction,
            &mut self.grad,
            |x, t| {
                // e^-|x| never overflows; ln_1p keeps its precision when it is tiny.
                let e = (-x.abs()).exp();
                let loss = x.max(0.0) - x * t + e.ln_1p();
                let sigmoid = if x >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
                (loss, sigmoid - t)
            },
        )
    }

    fn backward(&mut self) -> Tensor {
        elementwise::backward("BceWithLogitsLoss", &mut self.grad)
    }

    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        elementwise::check(output, targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::elementwise::tests::{check_bad_targets, check_gradient, pair};

    /// The textbook formula in f64.
    fn reference(x: f32, t: f32) -> f64 {
        let (x, t) = (f64::from(x), f64::from(t));
        let s = 1.0 / (1.0 + (-x).exp());
        -(t * s.ln() + (1.0 - t) * (1.0 - s).ln())
    }

    #[test]
    fn matches_the_definition_and_its_gradient() {
        let (x, mut t) = pair(&[4, 5], -4.0..4.0, 4);
        t.mapv_inplace(|v| (v + 4.0) / 8.0); // targets in [0, 1]
        let expect: f64 = x.iter().zip(&t).map(|(&a, &b)| reference(a, b)).sum();
        let mean = BceWithLogitsLoss::new().forward(x.clone(), Targets::Values(&t));
        assert!((f64::from(mean) - expect / 20.0).abs() < 1e-6);
        check_gradient(&mut BceWithLogitsLoss::new(), &x, &t);
        check_gradient(&mut BceWithLogitsLoss::new().reduction(Reduction::Sum), &x, &t);
    }

    #[test]
    fn stable_for_logits_of_magnitude_1e4() {
        let x = Tensor::from_shape_vec(vec![2, 2], vec![1e4, -1e4, 1e4, -1e4]).unwrap();
        let t = Tensor::from_shape_vec(vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        let mut bce = BceWithLogitsLoss::new().reduction(Reduction::Sum);
        let loss = bce.forward(x, Targets::Values(&t));
        // Right with certainty twice (loss 0), wrong twice (loss 1e4 each).
        assert_eq!(loss, 2e4);
        assert_eq!(bce.backward().as_slice().unwrap(), &[0.0, 0.0, 1.0, -1.0]);
    }

    #[test]
    fn bad_targets_are_named() {
        check_bad_targets(|| Box::new(BceWithLogitsLoss::new()), "BceWithLogitsLoss");
    }
}
