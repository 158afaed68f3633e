//! [`L1Loss`]: mean absolute error, PyTorch's `nn.L1Loss`.

use super::{elementwise, Loss, Reduction};
use crate::data::{TargetKind, Targets};
use crate::tensor::Tensor;

/// The mean of `|output - target|` over every element (PyTorch's `nn.L1Loss()`; with
/// [`Reduction::Sum`], the sum), for value targets shaped like the output. The gradient is
/// `sign(output - target) / count`, 0 where they are equal (as PyTorch's).
///
/// ```
/// use nn_core::loss::{L1Loss, Loss};
/// use nn_core::{Targets, Tensor};
/// let y = Tensor::from_shape_vec(vec![3, 1], vec![1.0, -3.0, 2.0]).unwrap();
/// let t = Tensor::from_shape_vec(vec![3, 1], vec![0.0, 1.0, 2.0]).unwrap();
/// let mut l1 = L1Loss::new();
/// assert_eq!(l1.forward(y, Targets::Values(&t)), (1.0 + 4.0 + 0.0) / 3.0);
/// assert_eq!(l1.backward().as_slice().unwrap(), &[1.0 / 3.0, -1.0 / 3.0, 0.0]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct L1Loss {
    reduction: Reduction,
    /// The last forward's gradient, in its output's buffer.
    grad: Option<Tensor>,
}

impl L1Loss {
    /// Mean absolute error, averaged over every element.
    pub fn new() -> Self {
        Self::default()
    }

    /// How the absolute errors are reduced (default [`Reduction::Mean`]).
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

impl Loss for L1Loss {
    fn forward(&mut self, output: Tensor, targets: Targets<'_>) -> f32 {
        elementwise::forward(
            "L1Loss",
            output,
            targets,
            self.reduction,
            &mut self.grad,
            |y, t| {
                let d = y - t;
                (d.abs(), sign(d))
            },
        )
    }

    fn backward(&mut self) -> Tensor {
        elementwise::backward("L1Loss", &mut self.grad)
    }

    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        elementwise::check(output, targets)
    }
}

/// `torch.sign`: 0 stays 0 (`f32::signum` would give 1).
pub(super) fn sign(d: f32) -> f32 {
    if d > 0.0 {
        1.0
    } else if d < 0.0 {
        -1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::elementwise::tests::{check_bad_targets, check_gradient, pair};

    #[test]
    fn value_gradient_and_reduction() {
        let (y, t) = pair(&[5, 2, 2], -2.0..2.0, 2);
        let expect: f64 = y.iter().zip(&t).map(|(&a, &b)| f64::from(a - b).abs()).sum();
        let mean = L1Loss::new().forward(y.clone(), Targets::Values(&t));
        assert!((f64::from(mean) - expect / 20.0).abs() < 1e-6);
        let sum = L1Loss::new()
            .reduction(Reduction::Sum)
            .forward(y.clone(), Targets::Values(&t));
        assert!((f64::from(sum) - expect).abs() < 1e-5);
        // Random points are almost surely away from the kink at 0, where |d| has no derivative.
        check_gradient(&mut L1Loss::new(), &y, &t);
    }

    #[test]
    fn bad_targets_are_named() {
        check_bad_targets(|| Box::new(L1Loss::new()), "L1Loss");
    }
}
