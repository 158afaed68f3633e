//! [`MseLoss`]: mean squared error, PyTorch's `nn.MSELoss`.

use super::{elementwise, Loss, Reduction};
use crate::data::{TargetKind, Targets};
use crate::tensor::Tensor;

/// The mean of `(output - target)^2` over every element (PyTorch's `nn.MSELoss()`; with
/// [`Reduction::Sum`], the sum), for value targets shaped like the output. The gradient is
/// `2 (output - target) / count`.
///
/// ```
/// use nn_core::loss::{Loss, MseLoss};
/// use nn_core::{Targets, Tensor};
/// let y = Tensor::from_shape_vec(vec![2, 1], vec![1.0, 3.0]).unwrap();
/// let t = Tensor::from_shape_vec(vec![2, 1], vec![0.0, 1.0]).unwrap();
/// let mut mse = MseLoss::new();
/// assert_eq!(mse.forward(y, Targets::Values(&t)), (1.0 + 4.0) / 2.0);
/// assert_eq!(mse.backward().as_slice().unwrap(), &[1.0, 2.0]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MseLoss {
    reduction: Reduction,
    /// The last forward's gradient, in its output's buffer.
    grad: Option<Tensor>,
}

impl MseLoss {
    /// Mean squared error, averaged over every element.
    pub fn new() -> Self {
        Self::default()
    }

    /// How the squared errors are reduced (default [`Reduction::Mean`]).
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

impl Loss for MseLoss {
    fn forward(&mut self, output: Tensor, targets: Targets<'_>) -> f32 {
        elementwise::forward(
            "MseLoss",
            output,
            targets,
            self.reduction,
            &mut self.grad,
            |y, t| {
                let d = y - t;
                (d * d, 2.0 * d)
            },
        )
    }

    fn backward(&mut self) -> Tensor {
        elementwise::backward("MseLoss", &mut self.grad)
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
    fn value_gradient_and_reduction() {
        let (y, t) = pair(&[4, 3], -2.0..2.0, 1);
        let expect: f64 = y.iter().zip(&t).map(|(&a, &b)| f64::from(a - b).powi(2)).sum();
        let mean = MseLoss::new().forward(y.clone(), Targets::Values(&t));
        assert!((f64::from(mean) - expect / 12.0).abs() < 1e-6);
        let sum = MseLoss::new()
            .reduction(Reduction::Sum)
            .forward(y.clone(), Targets::Values(&t));
        assert!((f64::from(sum) - expect).abs() < 1e-5);
        check_gradient(&mut MseLoss::new(), &y, &t);
        check_gradient(&mut MseLoss::new().reduction(Reduction::Sum), &y, &t);
    }

    #[test]
    fn bad_targets_are_named() {
        check_bad_targets(|| Box::new(MseLoss::new()), "MseLoss");
    }
}
