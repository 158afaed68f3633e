//! [`HuberLoss`]: squared near zero, absolute far from it; PyTorch's `nn.HuberLoss`.

use super::l1::sign;
use super::{elementwise, Loss, Reduction};
use crate::data::{TargetKind, Targets};
use crate::tensor::Tensor;

/// PyTorch's `nn.HuberLoss(delta=1.0)`: per element with `d = output - target`, `0.5 d^2` where
/// `|d| <= delta` and `delta (|d| - 0.5 delta)` beyond, averaged over every element (or summed
/// with [`Reduction::Sum`]). The gradient is `d` inside, `delta sign(d)` outside, over the count.
/// Robust to outliers: a far-off target pulls with a force of at most `delta`.
///
/// ```
/// use nn_core::loss::{HuberLoss, Loss};
/// use nn_core::{Targets, Tensor};
/// let y = Tensor::from_shape_vec(vec![2, 1], vec![0.5, 3.0]).unwrap();
/// let t = Tensor::zeros(vec![2, 1]);
/// let mut huber = HuberLoss::new(1.0);
/// assert_eq!(huber.forward(y, Targets::Values(&t)), (0.125 + 2.5) / 2.0);
/// assert_eq!(huber.backward().as_slice().unwrap(), &[0.25, 0.5]);
/// ```
#[derive(Clone, Debug)]
pub struct HuberLoss {
    delta: f32,
    reduction: Reduction,
    /// The last forward's gradient, in its output's buffer.
    grad: Option<Tensor>,
}

impl Default for HuberLoss {
    /// `delta` 1, PyTorch's default.
    fn default() -> Self {
        HuberLoss::new(1.0)
    }
}

impl HuberLoss {
    /// Huber loss switching from squared to absolute at `|d| = delta`.
    ///
    /// # Panics
    /// Unless `delta` is finite and above 0 (PyTorch requires it too).
    pub fn new(delta: f32) -> Self {
        assert!(
            delta.is_finite() && delta > 0.0,
            "HuberLoss: delta must be finite and above 0, got {delta}"
        );
        HuberLoss {
            delta,
            reduction: Reduction::Mean,
            grad: None,
        }
    }

    /// How the element losses are reduced (default [`Reduction::Mean`]).
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Where the loss turns from squared to absolute.
    pub fn delta(&self) -> f32 {
        self.delta
    }
}

impl Loss for HuberLoss {
    fn forward(&mut self, output: Tensor, targets: Targets<'_>) -> f32 {
        let delta = self.delta;
        elementwise::forward(
            "HuberLoss",
            output,
            targets,
            self.reduction,
            &mut self.grad,
            |y, t| {
                let d = y - t;
                if d.abs() <= delta {
                    (0.5 * d * d, d)
                } else {
                    (delta * (d.abs() - 0.5 * delta), delta * sign(d))
                }
            },
        )
    }

    fn backward(&mut self) -> Tensor {
        elementwise::backward("HuberLoss", &mut self.grad)
    }

    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        elementwise::check(output, targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::elementwise::tests::{check_bad_targets, check_gradient, pair};

    #[test]
    fn quadratic_inside_linear_outside() {
        let (y, t) = pair(&[6, 4], -3.0..3.0, 3);
        for delta in [0.5f32, 1.0, 2.0] {
            let expect: f64 = y
                .iter()
                .zip(&t)
                .map(|(&a, &b)| {
                    let (d, delta) = (f64::from(a - b).abs(), f64::from(delta));
                    if d <= delta {
                        0.5 * d * d
                    } else {
                        delta * (d - 0.5 * delta)
                    }
                })
                .sum();
            let mean = HuberLoss::new(delta).forward(y.clone(), Targets::Values(&t));
            assert!((f64::from(mean) - expect / 24.0).abs() < 1e-6, "delta {delta}");
            check_gradient(&mut HuberLoss::new(delta), &y, &t);
            check_gradient(&mut HuberLoss::new(delta).reduction(Reduction::Sum), &y, &t);
        }
    }

    #[test]
    #[should_panic(expected = "HuberLoss: delta must be finite and above 0, got 0")]
    fn delta_must_be_positive() {
        HuberLoss::new(0.0);
    }

    #[test]
    fn bad_targets_are_named() {
        check_bad_targets(|| Box::new(HuberLoss::default()), "HuberLoss");
    }
}
