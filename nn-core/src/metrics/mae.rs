//! [`MeanAbsoluteError`]: the mean of |output - target| (`mae`).

use super::{check_values, value_pairs, Metric};
use crate::data::{TargetKind, Targets};
use crate::tensor::Tensor;

/// The mean absolute difference between outputs and value targets over every element seen
/// (Keras' `mean_absolute_error`), in the targets' units.
///
/// ```
/// use nn_core::metrics::{MeanAbsoluteError, Metric};
/// use nn_core::{Targets, Tensor};
/// let mut mae = MeanAbsoluteError::new();
/// let y = Tensor::from_shape_vec(vec![2, 1], vec![1.0, 5.0]).unwrap();
/// let t = Tensor::from_shape_vec(vec![2, 1], vec![2.0, 2.0]).unwrap();
/// mae.update(&y, Targets::Values(&t));
/// assert_eq!(mae.value(), 2.0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MeanAbsoluteError {
    sum: f64,
    count: usize,
}

impl MeanAbsoluteError {
    /// A mean absolute error with nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Metric for MeanAbsoluteError {
    fn name(&self) -> &str {
        "mae"
    }

    fn reset(&mut self) {
        *self = Self::default();
    }

    fn update(&mut self, output: &Tensor, targets: Targets<'_>) {
        for (y, t) in value_pairs("mae", output, targets) {
            self.sum += f64::from(y - t).abs();
            self.count += 1;
        }
    }

    fn value(&self) -> f32 {
        (self.sum / self.count as f64) as f32
    }

    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        check_values(output, targets)
    }
}
